//! `GET /fhir/metadata`: the CapabilityStatement, built from [`KINDS`], so it states
//! exactly what the routes do.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

use super::history::VERSIONED;
use super::{fhir_json, FHIR_JSON, KINDS, UPDATED};

pub async fn metadata() -> Response {
    fhir_json(StatusCode::OK, &statement())
}

pub fn statement() -> Value {
    let resources: Vec<Value> = KINDS
        .iter()
        .map(|k| {
            let mut interactions = vec![json!({ "code": "read" }), json!({ "code": "search-type" })];
            if k.create {
                interactions.push(json!({ "code": "create" }));
            }
            let versioned = VERSIONED.contains(&k.name);
            if versioned {
                interactions.push(json!({ "code": "vread" }));
                interactions.push(json!({ "code": "history-instance" }));
            }
            let updated = UPDATED.contains(&k.name);
            if updated {
                let what = if k.name == "Patient" { "The name only" } else { "The status only" };
                interactions.push(json!({ "code": "update", "documentation": format!("{what}, with If-Match.") }));
            }
            let mut params =
                vec![json!({ "name": "_id", "type": "token" }), json!({ "name": "_count", "type": "number" })];
            if k.in_record {
                params.push(json!({ "name": "_lastUpdated", "type": "date" }));
            }
            if k.in_record && k.name != "Patient" {
                params.push(json!({ "name": "patient", "type": "reference" }));
                params.push(json!({ "name": "subject", "type": "reference" }));
            }
            params.extend(k.params.iter().map(|(n, t)| {
                let mut p = json!({ "name": n, "type": t });
                if k.name == "Patient" && *n == "identifier" {
                    p["documentation"] =
                        json!("A CPR number (urn:oid:1.2.208.176.1.2|<number>): only in a POST to Patient/_search, never in an address.");
                }
                p
            }));
            let mut r = json!({
                "type": k.name,
                "interaction": interactions,
                "versioning": if updated { "versioned-update" } else if versioned { "versioned" } else { "no-version" },
                "readHistory": versioned,
                "updateCreate": false,
                "searchParam": params,
            });
            if k.in_record && k.name != "Patient" {
                r["searchInclude"] = json!([format!("{}:patient", k.name)]);
            }
            if k.in_record {
                r["documentation"] = json!("_sort=date or _lastUpdated (- for newest first) when one patient is named.");
            }
            if k.name == "Patient" {
                r["operation"] = json!([{
                    "name": "everything",
                    "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything"
                }]);
            }
            r
        })
        .collect();
    json!({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-11-23",
        "publisher": "Sammen",
        "kind": "instance",
        "software": { "name": "Sammen", "version": env!("CARGO_PKG_VERSION") },
        "implementation": { "description": "Sammen: the shared course of treatment, over HL7 FHIR R4" },
        "fhirVersion": "4.0.1",
        "format": [FHIR_JSON, "application/json"],
        "rest": [{
            "mode": "server",
            "documentation": "Every interaction but this statement needs a bearer token. Reads and searches return only what the patient's consent and the care team allow the caller, and each is written to the patient's access log.",
            "security": {
                "cors": false,
                "description": "A bearer token issued by Sammen (sammen token issue) in the Authorization header."
            },
            "resource": resources,
            "interaction": [
                { "code": "transaction", "documentation": "All entries or none: the first entry refused rolls the rest back." },
                { "code": "batch" }
            ],
        }],
    })
}
