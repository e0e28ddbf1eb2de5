//! Which elements FHIR R4 (4.0.1) defines at the top of the resources Sammen takes in.
//!
//! A resource that Sammen is sent may carry any element FHIR defines: what Sammen does
//! not map is left out of what it stores (a client can read back what Sammen kept). An
//! element FHIR does not define is an error in the resource, and refused. So are
//! `modifierExtension` and `implicitRules`: they may change the meaning of the rest, and
//! Sammen cannot know how, so it must not store the resource as if they were absent.

use axum::http::StatusCode;
use serde_json::Value;

use super::FhirError;

const DOMAIN_RESOURCE: &[&str] =
    &["resourceType", "id", "meta", "implicitRules", "language", "text", "contained", "extension", "modifierExtension"];

const PATIENT: &[&str] = &[
    "identifier",
    "active",
    "name",
    "telecom",
    "gender",
    "birthDate",
    "deceasedBoolean",
    "deceasedDateTime",
    "address",
    "maritalStatus",
    "multipleBirthBoolean",
    "multipleBirthInteger",
    "photo",
    "contact",
    "communication",
    "generalPractitioner",
    "managingOrganization",
    "link",
];

const CARE_PLAN: &[&str] = &[
    "identifier",
    "instantiatesCanonical",
    "instantiatesUri",
    "basedOn",
    "replaces",
    "partOf",
    "status",
    "intent",
    "category",
    "title",
    "description",
    "subject",
    "encounter",
    "period",
    "created",
    "author",
    "contributor",
    "careTeam",
    "addresses",
    "supportingInfo",
    "goal",
    "activity",
    "note",
];

const GOAL: &[&str] = &[
    "identifier",
    "lifecycleStatus",
    "achievementStatus",
    "category",
    "priority",
    "description",
    "subject",
    "startDate",
    "startCodeableConcept",
    "target",
    "statusDate",
    "statusReason",
    "expressedBy",
    "addresses",
    "note",
    "outcomeCode",
    "outcomeReference",
];

const OBSERVATION: &[&str] = &[
    "identifier",
    "basedOn",
    "partOf",
    "status",
    "category",
    "code",
    "subject",
    "focus",
    "encounter",
    "effectiveDateTime",
    "effectivePeriod",
    "effectiveTiming",
    "effectiveInstant",
    "issued",
    "performer",
    "valueQuantity",
    "valueCodeableConcept",
    "valueString",
    "valueBoolean",
    "valueInteger",
    "valueRange",
    "valueRatio",
    "valueSampledData",
    "valueTime",
    "valueDateTime",
    "valuePeriod",
    "dataAbsentReason",
    "interpretation",
    "note",
    "bodySite",
    "method",
    "specimen",
    "device",
    "referenceRange",
    "hasMember",
    "derivedFrom",
    "component",
];

const TASK: &[&str] = &[
    "identifier",
    "instantiatesCanonical",
    "instantiatesUri",
    "basedOn",
    "groupIdentifier",
    "partOf",
    "status",
    "statusReason",
    "businessStatus",
    "intent",
    "priority",
    "code",
    "description",
    "focus",
    "for",
    "encounter",
    "executionPeriod",
    "authoredOn",
    "lastModified",
    "requester",
    "performerType",
    "owner",
    "location",
    "reasonCode",
    "reasonReference",
    "insurance",
    "note",
    "relevantHistory",
    "restriction",
    "input",
    "output",
];

const CONDITION: &[&str] = &[
    "identifier",
    "clinicalStatus",
    "verificationStatus",
    "category",
    "severity",
    "code",
    "bodySite",
    "subject",
    "encounter",
    "onsetDateTime",
    "onsetAge",
    "onsetPeriod",
    "onsetRange",
    "onsetString",
    "abatementDateTime",
    "abatementAge",
    "abatementPeriod",
    "abatementRange",
    "abatementString",
    "recordedDate",
    "recorder",
    "asserter",
    "stage",
    "evidence",
    "note",
];

const QUESTIONNAIRE_RESPONSE: &[&str] = &[
    "identifier",
    "basedOn",
    "partOf",
    "questionnaire",
    "status",
    "subject",
    "encounter",
    "authored",
    "author",
    "source",
    "item",
];

const COMMUNICATION: &[&str] = &[
    "identifier",
    "instantiatesCanonical",
    "instantiatesUri",
    "basedOn",
    "partOf",
    "inResponseTo",
    "status",
    "statusReason",
    "category",
    "priority",
    "medium",
    "subject",
    "topic",
    "about",
    "encounter",
    "sent",
    "received",
    "recipient",
    "sender",
    "reasonCode",
    "reasonReference",
    "payload",
    "note",
];

const SERVICE_REQUEST: &[&str] = &[
    "identifier",
    "instantiatesCanonical",
    "instantiatesUri",
    "basedOn",
    "replaces",
    "requisition",
    "status",
    "intent",
    "category",
    "priority",
    "doNotPerform",
    "code",
    "orderDetail",
    "quantityQuantity",
    "quantityRatio",
    "quantityRange",
    "subject",
    "encounter",
    "occurrenceDateTime",
    "occurrencePeriod",
    "occurrenceTiming",
    "asNeededBoolean",
    "asNeededCodeableConcept",
    "authoredOn",
    "requester",
    "performerType",
    "performer",
    "locationCode",
    "locationReference",
    "reasonCode",
    "reasonReference",
    "insurance",
    "supportingInfo",
    "specimen",
    "bodySite",
    "note",
    "patientInstruction",
    "relevantHistory",
];

const EPISODE_OF_CARE: &[&str] = &[
    "identifier",
    "status",
    "statusHistory",
    "type",
    "diagnosis",
    "patient",
    "managingOrganization",
    "period",
    "referralRequest",
    "careManager",
    "team",
    "account",
];

const ENCOUNTER: &[&str] = &[
    "identifier",
    "status",
    "statusHistory",
    "class",
    "classHistory",
    "type",
    "serviceType",
    "priority",
    "subject",
    "episodeOfCare",
    "basedOn",
    "participant",
    "appointment",
    "period",
    "length",
    "reasonCode",
    "reasonReference",
    "diagnosis",
    "account",
    "hospitalization",
    "location",
    "serviceProvider",
    "partOf",
];

fn elements_of(resource_type: &str) -> &'static [&'static str] {
    match resource_type {
        "Patient" => PATIENT,
        "CarePlan" => CARE_PLAN,
        "Goal" => GOAL,
        "Observation" => OBSERVATION,
        "Task" => TASK,
        "QuestionnaireResponse" => QUESTIONNAIRE_RESPONSE,
        "Condition" => CONDITION,
        "Communication" => COMMUNICATION,
        "ServiceRequest" => SERVICE_REQUEST,
        "EpisodeOfCare" => EPISODE_OF_CARE,
        "Encounter" => ENCOUNTER,
        _ => &[],
    }
}

/// The elements FHIR R4 defines at the top of a Bundle (a Resource, not a DomainResource).
const BUNDLE: &[&str] = &[
    "resourceType",
    "id",
    "meta",
    "implicitRules",
    "language",
    "identifier",
    "type",
    "timestamp",
    "total",
    "link",
    "entry",
    "signature",
];

/// Checks that a Bundle's top-level elements are ones FHIR R4 defines. Its entries'
/// resources are checked each by the interaction it carries.
pub fn check_bundle(o: &serde_json::Map<String, Value>) -> Result<(), FhirError> {
    match undefined(o, &[BUNDLE]) {
        Some(key) => Err(not_defined(&format!("Bundle.{}", printable(key)), "Bundle")),
        None => Ok(()),
    }
}

/// The first element of `o` that none of the lists `known` holds. `_birthDate` and the
/// like, which carry a primitive element's id and extensions, count as the element.
fn undefined<'a>(o: &'a serde_json::Map<String, Value>, known: &[&[&str]]) -> Option<&'a String> {
    o.keys().find(|key| {
        let element = key.strip_prefix('_').unwrap_or(key);
        !known.iter().any(|list| list.contains(&element))
    })
}

/// An element `what` (already printable) that `datatype` does not have in FHIR R4.
fn not_defined(what: &str, datatype: &str) -> FhirError {
    FhirError::new(StatusCode::BAD_REQUEST, "structure", format!("{what} is not an element of {datatype} in FHIR R4."))
}

/// Checks that `v` is a `resource_type` whose top-level elements FHIR R4 defines, and
/// that nothing in it changes the meaning of the rest.
pub fn check(v: &Value, resource_type: &str) -> Result<(), FhirError> {
    let o = v.as_object().ok_or_else(|| FhirError::invalid(format!("The body must be one {resource_type}.")))?;
    match o.get("resourceType").and_then(Value::as_str) {
        Some(t) if t == resource_type => {}
        Some(_) => return Err(FhirError::invalid(format!("resourceType must be {resource_type} at this address."))),
        None if o.contains_key("resourceType") => {
            return Err(FhirError::invalid(format!("resourceType must be text: \"{resource_type}\".")))
        }
        None => return Err(FhirError::invalid("resourceType is required.")),
    }
    if let Some(key) = undefined(o, &[DOMAIN_RESOURCE, elements_of(resource_type)]) {
        return Err(not_defined(&format!("{resource_type}.{}", printable(key)), resource_type));
    }
    for modifier in ["modifierExtension", "implicitRules"] {
        if o.contains_key(modifier) {
            return Err(FhirError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "not-supported",
                format!(
                    "{resource_type}.{modifier} may change what the resource means, and Sammen cannot honour it; \
                     leave it out."
                ),
            ));
        }
    }
    for (element, system, codes) in required_bindings(resource_type) {
        check_binding(v, resource_type, element, *system, codes)?;
    }
    for (element, value) in o {
        if let Some(datatype) = datatype_at(resource_type, element) {
            check_typed(value, datatype, resource_type)?;
        }
    }
    check_within(v, resource_type, 0)
}

/// A datatype: its elements, and which of them hold a datatype of their own.
type Datatype = (&'static str, &'static [&'static str], &'static [(&'static str, &'static str)]);

/// The general-purpose datatypes of R4 that the resources Sammen takes in hold at the top,
/// with their elements, so a misspelt `famliy` or `valeu` is refused, not dropped.
const DATATYPES: &[Datatype] = &[
    (
        "Identifier",
        &["id", "extension", "use", "type", "system", "value", "period", "assigner"],
        &[("period", "Period")],
    ),
    (
        "HumanName",
        &["id", "extension", "use", "text", "family", "given", "prefix", "suffix", "period"],
        &[("period", "Period")],
    ),
    ("ContactPoint", &["id", "extension", "system", "value", "use", "rank", "period"], &[("period", "Period")]),
    (
        "Address",
        &[
            "id",
            "extension",
            "use",
            "type",
            "text",
            "line",
            "city",
            "district",
            "state",
            "postalCode",
            "country",
            "period",
        ],
        &[("period", "Period")],
    ),
    ("Period", &["id", "extension", "start", "end"], &[]),
    ("Quantity", &["id", "extension", "value", "comparator", "unit", "system", "code"], &[]),
    ("Annotation", &["id", "extension", "authorReference", "authorString", "time", "text"], &[]),
    (
        "Attachment",
        &["id", "extension", "contentType", "language", "data", "url", "size", "hash", "title", "creation"],
        &[],
    ),
    ("Meta", &["id", "extension", "versionId", "lastUpdated", "source", "profile", "security", "tag"], &[]),
    ("Narrative", &["id", "extension", "status", "div"], &[]),
];

/// The datatype R4 gives a resource's top-level element, for the elements of
/// [`DATATYPES`]; `None` for the rest, whose CodeableConcepts and References are still
/// checked wherever they are.
fn datatype_at(resource_type: &str, element: &str) -> Option<&'static str> {
    Some(match (resource_type, element) {
        (_, "identifier") => "Identifier",
        (_, "meta") => "Meta",
        (_, "text") => "Narrative",
        ("Patient" | "Practitioner", "name") => "HumanName",
        (_, "telecom") => "ContactPoint",
        (_, "address") => "Address",
        (_, "note") => "Annotation",
        (_, "photo") => "Attachment",
        (_, "valueQuantity") => "Quantity",
        (
            _,
            "period" | "effectivePeriod" | "onsetPeriod" | "abatementPeriod" | "executionPeriod" | "occurrencePeriod"
            | "performedPeriod",
        ) => "Period",
        _ => return None,
    })
}

/// Checks one value, or each of a list, as `datatype`: an object of its elements only.
fn check_typed(value: &Value, datatype: &str, resource_type: &str) -> Result<(), FhirError> {
    let Some(&(_, known, nested)) = DATATYPES.iter().find(|(name, ..)| *name == datatype) else { return Ok(()) };
    let values: Vec<&Value> = match value {
        Value::Array(items) => items.iter().collect(),
        single => vec![single],
    };
    for v in values {
        let Some(o) = v.as_object() else {
            return Err(FhirError::new(
                StatusCode::BAD_REQUEST,
                "structure",
                format!("A {datatype} in the {resource_type} must be a JSON object."),
            ));
        };
        if let Some(key) = undefined(o, &[known]) {
            return Err(not_defined(&format!("{} (in the {resource_type})", printable(key)), datatype));
        }
        for (element, inner) in nested {
            if let Some(x) = o.get(*element) {
                check_typed(x, inner, resource_type)?;
            }
        }
    }
    Ok(())
}

/// Codes of elements with a required binding that Sammen takes in but does not map
/// (the ones it maps are checked where they are read): a code outside the value set
/// makes the resource invalid, kept or not. `system` is `None` for a plain `code`.
type Binding = (&'static str, Option<&'static str>, &'static [&'static str]);

fn required_bindings(resource_type: &str) -> &'static [Binding] {
    const CLINICAL: &str = "http://terminology.hl7.org/CodeSystem/condition-clinical";
    const VERIFICATION: &str = "http://terminology.hl7.org/CodeSystem/condition-ver-status";
    match resource_type {
        "Patient" => &[("gender", None, &["male", "female", "other", "unknown"])],
        "Condition" => &[
            (
                "clinicalStatus",
                Some(CLINICAL),
                &["active", "recurrence", "relapse", "inactive", "remission", "resolved"],
            ),
            (
                "verificationStatus",
                Some(VERIFICATION),
                &["unconfirmed", "provisional", "differential", "confirmed", "refuted", "entered-in-error"],
            ),
        ],
        _ => &[],
    }
}

fn check_binding(
    v: &Value,
    resource_type: &str,
    element: &str,
    system: Option<&str>,
    codes: &[&str],
) -> Result<(), FhirError> {
    let Some(value) = v.get(element) else { return Ok(()) };
    let bad = || {
        FhirError::new(
            StatusCode::BAD_REQUEST,
            "code-invalid",
            format!("{resource_type}.{element} must be one of: {}.", codes.join(", ")),
        )
    };
    match system {
        None => value.as_str().filter(|c| codes.contains(c)).map(|_| ()).ok_or_else(bad),
        Some(system) => {
            let codings = value["coding"].as_array().into_iter().flatten();
            let ours = codings.filter(|c| c["system"] == system);
            match ours.map(|c| c["code"].as_str()).find(|c| !c.is_some_and(|c| codes.contains(&c))) {
                Some(_) => Err(bad()),
                None => Ok(()),
            }
        }
    }
}

/// How deep a resource may nest: far deeper than any FHIR resource does.
const MAX_DEPTH: usize = 64;

/// Checks every level below the top: no modifier Sammen would silently drop (a
/// `modifierExtension`, or a Quantity's `comparator`, which makes "< 3" of a 3), and no
/// string with a control character, which FHIR's strings may not hold.
fn check_within(v: &Value, resource_type: &str, depth: usize) -> Result<(), FhirError> {
    if depth > MAX_DEPTH {
        return Err(FhirError::new(StatusCode::BAD_REQUEST, "structure", "The resource nests too deeply for FHIR."));
    }
    match v {
        Value::String(text) if text.chars().any(|c| c < ' ' && !matches!(c, '\t' | '\n' | '\r')) => {
            Err(FhirError::new(
                StatusCode::BAD_REQUEST,
                "value",
                format!("A text in the {resource_type} holds a control character, which FHIR does not allow."),
            ))
        }
        Value::Array(items) => items.iter().try_for_each(|x| check_within(x, resource_type, depth + 1)),
        Value::Object(o) => {
            for modifier in ["modifierExtension", "comparator"] {
                if depth > 0 && o.contains_key(modifier) {
                    return Err(FhirError::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "not-supported",
                        format!(
                            "A {modifier} in the {resource_type} may change what it means, and Sammen cannot \
                             honour it; leave it out."
                        ),
                    ));
                }
            }
            if let Some((datatype, known)) = datatype_of(o) {
                check_datatype(o, datatype, known, resource_type)?;
            }
            o.values().try_for_each(|x| check_within(x, resource_type, depth + 1))
        }
        _ => Ok(()),
    }
}

const CODEABLE_CONCEPT: &[&str] = &["id", "extension", "coding", "text"];
const CODING: &[&str] = &["id", "extension", "system", "version", "code", "display", "userSelected"];
const REFERENCE: &[&str] = &["id", "extension", "reference", "type", "identifier", "display"];

/// The datatypes found anywhere, told by an element only they have: `coding` (a
/// CodeableConcept, whose list holds Codings), a text `reference` (a Reference;
/// `Consent.provision.data.reference` is an object).
/// Their elements are checked as the top level's are, so a misspelt `dispaly` is not
/// silently dropped. The datatypes at known places are checked by [`check_typed`];
/// other nested elements are not: that takes every StructureDefinition of R4.
fn datatype_of(o: &serde_json::Map<String, Value>) -> Option<(&'static str, &'static [&'static str])> {
    if o.get("coding").is_some_and(Value::is_array) {
        Some(("CodeableConcept", CODEABLE_CONCEPT))
    } else if o.get("reference").is_some_and(Value::is_string) {
        Some(("Reference", REFERENCE))
    } else {
        None
    }
}

fn check_datatype(
    o: &serde_json::Map<String, Value>,
    datatype: &str,
    known: &[&str],
    resource_type: &str,
) -> Result<(), FhirError> {
    let codings = match datatype {
        "CodeableConcept" => o["coding"].as_array().into_iter().flatten().filter_map(Value::as_object).collect(),
        _ => Vec::new(),
    };
    let found = undefined(o, &[known]).map(|key| (datatype, key));
    let found = found.or_else(|| codings.into_iter().find_map(|c| undefined(c, &[CODING])).map(|key| ("Coding", key)));
    match found {
        Some((datatype, key)) => Err(not_defined(&format!("{} (in the {resource_type})", printable(key)), datatype)),
        None => Ok(()),
    }
}

/// An element name as it may be quoted back: letters, digits and `_`, at most 40.
fn printable(key: &str) -> String {
    key.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defined_elements_pass_and_others_are_refused() {
        let ok = json!({ "resourceType": "Patient", "gender": "female", "_birthDate": {}, "telecom": [] });
        assert!(check(&ok, "Patient").is_ok());
        let bad = json!({ "resourceType": "Patient", "favouriteColour": "blue" });
        let e = check(&bad, "Patient").unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(e.text.contains("favouriteColour"), "{}", e.text);
        let wrong = json!({ "resourceType": "Goal" });
        assert!(check(&wrong, "Patient").unwrap_err().text.contains("resourceType"));
        let modifier = json!({ "resourceType": "Goal", "modifierExtension": [] });
        assert_eq!(check(&modifier, "Goal").unwrap_err().status, StatusCode::UNPROCESSABLE_ENTITY);
    }

    #[test]
    fn modifiers_below_the_top_are_refused() {
        let nested = json!({ "resourceType": "QuestionnaireResponse",
            "item": [{ "linkId": "pain", "modifierExtension": [{ "url": "http://example.org/negated", "valueBoolean": true }] }] });
        assert_eq!(check(&nested, "QuestionnaireResponse").unwrap_err().status, StatusCode::UNPROCESSABLE_ENTITY);
        let less_than = json!({ "resourceType": "Observation", "valueQuantity": { "value": 3, "comparator": "<" } });
        let e = check(&less_than, "Observation").unwrap_err();
        assert!(e.text.contains("comparator"), "{}", e.text);
        let plain = json!({ "resourceType": "Observation", "valueQuantity": { "value": 3, "unit": "score" } });
        assert!(check(&plain, "Observation").is_ok());
    }

    #[test]
    fn the_elements_of_codings_and_references_are_checked() {
        let ok = json!({ "resourceType": "Observation",
            "code": { "coding": [{ "system": "http://loinc.org", "code": "72514-3", "display": "Pain", "_display": {} }], "text": "Pain" },
            "subject": { "reference": "Patient/x", "display": "Jens" } });
        assert!(check(&ok, "Observation").is_ok());
        let typo =
            json!({ "resourceType": "Observation", "code": { "coding": [{ "code": "72514-3", "dispaly": "Pain" }] } });
        let e = check(&typo, "Observation").unwrap_err();
        assert!(e.text.contains("Coding") && e.text.contains("dispaly"), "{}", e.text);
        let concept = json!({ "resourceType": "Observation", "code": { "coding": [], "txt": "Pain" } });
        assert!(check(&concept, "Observation").unwrap_err().text.contains("CodeableConcept"));
        let reference = json!({ "resourceType": "Observation", "subject": { "reference": "Patient/x", "foo": 1 } });
        assert!(check(&reference, "Observation").unwrap_err().text.contains("Reference"));
    }

    #[test]
    fn the_elements_of_names_quantities_periods_and_identifiers_are_checked() {
        let ok = json!({ "resourceType": "Patient",
            "identifier": [{ "system": "urn:oid:1.2.208.176.1.2", "value": "x", "period": { "start": "2020-01-01" } }],
            "name": [{ "family": "Madsen", "given": ["Jens"], "_family": {} }],
            "telecom": [{ "system": "phone", "value": "+45 12 34 56 78" }],
            "text": { "status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">Jens</div>" } });
        assert!(check(&ok, "Patient").is_ok(), "{:?}", check(&ok, "Patient").err().map(|e| e.text));
        let cases = [
            (json!({ "resourceType": "Patient", "name": [{ "famliy": "Madsen" }] }), "Patient", "HumanName", "famliy"),
            (
                json!({ "resourceType": "Patient", "identifier": [{ "value": "x", "period": { "begin": "2020" } }] }),
                "Patient",
                "Period",
                "begin",
            ),
            (
                json!({ "resourceType": "Observation", "valueQuantity": { "valeu": 3 } }),
                "Observation",
                "Quantity",
                "valeu",
            ),
            (json!({ "resourceType": "Goal", "note": [{ "txt": "x" }] }), "Goal", "Annotation", "txt"),
            (json!({ "resourceType": "CarePlan", "period": { "from": "2026-01-01" } }), "CarePlan", "Period", "from"),
        ];
        for (resource, resource_type, datatype, key) in cases {
            let e = check(&resource, resource_type).unwrap_err();
            assert_eq!(e.status, StatusCode::BAD_REQUEST);
            assert!(e.text.contains(datatype) && e.text.contains(key), "{}", e.text);
        }
        let not_an_object = json!({ "resourceType": "Observation", "valueQuantity": 3 });
        assert!(check(&not_an_object, "Observation").unwrap_err().text.contains("JSON object"));
    }

    #[test]
    fn control_characters_are_refused_but_line_breaks_and_tabs_kept() {
        let bell = json!({ "resourceType": "Condition", "code": { "text": "a\u{7}b" } });
        assert_eq!(check(&bell, "Condition").unwrap_err().status, StatusCode::BAD_REQUEST);
        let nul = json!({ "resourceType": "Patient", "name": [{ "text": "a\u{0}b" }] });
        assert!(check(&nul, "Patient").is_err());
        let lines = json!({ "resourceType": "Condition", "code": { "text": "first line\nsecond\tand\r\n" } });
        assert!(check(&lines, "Condition").is_ok());
    }

    #[test]
    fn codes_of_required_bindings_are_checked_even_where_not_kept() {
        let ok = json!({ "resourceType": "Patient", "gender": "female" });
        assert!(check(&ok, "Patient").is_ok());
        let bogus = json!({ "resourceType": "Patient", "gender": "bogus" });
        let e = check(&bogus, "Patient").unwrap_err();
        assert_eq!((e.status, e.text.contains("male, female, other, unknown")), (StatusCode::BAD_REQUEST, true));
        let clinical = |code: &str| {
            json!({ "resourceType": "Condition", "clinicalStatus": { "coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": code }] } })
        };
        assert!(check(&clinical("active"), "Condition").is_ok());
        assert!(check(&clinical("bogus"), "Condition").is_err());
        // A coding of another system is that system's business.
        let other = json!({ "resourceType": "Condition", "clinicalStatus": { "coding": [{
            "system": "http://example.org/local", "code": "bogus" }] } });
        assert!(check(&other, "Condition").is_ok());
    }
}
