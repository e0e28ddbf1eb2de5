//! The FHIR R4 API on both engines: the CapabilityStatement, reads and searches that
//! show only what the caller may see (and are audited), paging, `$everything`, a
//! create that goes through the domain, and OperationOutcomes for bad requests.

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::{json, Value};

use common::World;

on_both_engines!(
    the_capability_statement_is_public_and_true,
    errors_are_operation_outcomes,
    reads_and_searches_show_only_what_the_caller_may_see,
    an_observation_is_created_through_the_domain,
    bad_observations_are_refused_and_nothing_is_stored,
    searches_page_with_next_links,
    everything_about_a_patient,
);

fn pain(patient: &str, value: Value) -> Value {
    json!({
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "72514-3"}]},
        "subject": {"reference": format!("Patient/{patient}")},
        "effectiveDateTime": "2026-03-01",
        "valueInteger": value,
    })
}

async fn fhir_post(w: &World, uri: &str, token: &str, body: &Value, content_type: &str) -> (StatusCode, Value) {
    let req = Request::builder()
        .method(Method::POST)
        .uri(uri)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", content_type)
        .body(Body::from(body.to_string()))
        .unwrap();
    w.raw(req).await
}

fn entries(bundle: &Value) -> Vec<Value> {
    assert_eq!(bundle["resourceType"], "Bundle", "{bundle}");
    assert_eq!(bundle["type"], "searchset");
    bundle["entry"].as_array().cloned().unwrap_or_default().into_iter().map(|e| e["resource"].clone()).collect()
}

fn next_link(bundle: &Value) -> Option<String> {
    bundle["link"].as_array()?.iter().find(|l| l["relation"] == "next").and_then(|l| l["url"].as_str()).map(|u| {
        // The link is absolute; the test router takes the path.
        u.trim_start_matches("http://localhost").to_string()
    })
}

fn is_outcome(v: &Value) -> bool {
    v["resourceType"] == "OperationOutcome" && v["issue"][0]["severity"] == "error"
}

async fn the_capability_statement_is_public_and_true(w: World) {
    let (s, c) = w.call(Method::GET, "/fhir/metadata", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(c["resourceType"], "CapabilityStatement");
    assert_eq!(c["fhirVersion"], "4.0.1");
    let types: Vec<&str> =
        c["rest"][0]["resource"].as_array().unwrap().iter().map(|r| r["type"].as_str().unwrap()).collect();
    assert!(types.contains(&"Patient") && types.contains(&"Observation") && types.contains(&"Task"));
    // Every type it names answers a search; one it does not name is unknown.
    let (patient, _) = w.patient_with_course().await;
    for t in &types {
        let (s, b) = w.get(&format!("/fhir/{t}?_count=5"), &w.gp).await;
        assert_eq!(s, StatusCode::OK, "{t}: {b}");
        entries(&b);
    }
    let observation = c["rest"][0]["resource"].as_array().unwrap().iter().find(|r| r["type"] == "Observation").unwrap();
    assert!(observation["interaction"].as_array().unwrap().iter().any(|i| i["code"] == "create"));
    let task = c["rest"][0]["resource"].as_array().unwrap().iter().find(|r| r["type"] == "Task").unwrap();
    assert!(
        !task["interaction"].as_array().unwrap().iter().any(|i| i["code"] == "create"),
        "not implemented, not claimed"
    );
    let (s, _) = fhir_post(&w, "/fhir/Task", &w.gp, &json!({"resourceType": "Task"}), "application/fhir+json").await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
    let _ = patient;
}

async fn errors_are_operation_outcomes(w: World) {
    let (s, o) = w.call(Method::GET, "/fhir/Patient", None, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(is_outcome(&o), "{o}");
    let (s, o) = w.get("/fhir/NoSuchType", &w.gp).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(is_outcome(&o));
    let (s, o) = w.get("/fhir/Patient/not-an-id", &w.gp).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(is_outcome(&o));
    // An unknown search parameter is refused, or ignored when the client prefers.
    let (s, o) = w.get("/fhir/Observation?colour=blue", &w.gp).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(o["issue"][0]["diagnostics"].as_str().unwrap().contains("colour"));
    let req = Request::get("/fhir/Observation?colour=blue")
        .header("authorization", format!("Bearer {}", w.gp))
        .header("prefer", "handling=lenient")
        .body(Body::empty())
        .unwrap();
    let (s, b) = w.raw(req).await;
    assert_eq!(s, StatusCode::OK);
    assert!(!b["link"][0]["url"].as_str().unwrap().contains("colour"), "an ignored parameter is not in the self link");
    // Invalid JSON and the wrong media type.
    let req = Request::post("/fhir/Observation")
        .header("authorization", format!("Bearer {}", w.gp))
        .header("content-type", "application/fhir+json")
        .body(Body::from("{not json"))
        .unwrap();
    let (s, o) = w.raw(req).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(is_outcome(&o));
    let (s, _) = fhir_post(&w, "/fhir/Observation", &w.gp, &json!({}), "text/plain").await;
    assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (s, o) = fhir_post(
        &w,
        "/fhir/",
        &w.gp,
        &json!({"resourceType": "Bundle", "type": "transaction"}),
        "application/fhir+json",
    )
    .await;
    assert_eq!(s, StatusCode::NOT_IMPLEMENTED, "not claimed, and said so: {o}");
    assert!(is_outcome(&o));
    let (s, o) = w.get("/fhir/Observation?date=yesterday", &w.gp).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(is_outcome(&o));
}

async fn reads_and_searches_show_only_what_the_caller_may_see(w: World) {
    let (patient, course) = w.patient_with_course().await;
    let (s, p) = w.get(&format!("/fhir/Patient/{patient}"), &w.gp).await;
    assert_eq!(s, StatusCode::OK, "{p}");
    assert_eq!(p["identifier"][0]["system"], "urn:oid:1.2.208.176.1.2");
    assert_eq!(p["identifier"][0]["value"], "1204791437");
    assert_eq!(p["birthDate"], "1979-04-12");
    let (_, plans) = w.get(&format!("/fhir/CarePlan?patient=Patient/{patient}"), &w.gp).await;
    let plans = entries(&plans);
    assert_eq!(plans.len(), 1);
    assert_eq!(plans[0]["title"], "Lændesmerter");
    assert!(plans[0]["id"].as_str().unwrap().ends_with(&course.replace('-', "")));
    // The physiotherapist is not on the team: no read, and searches neither show the
    // patient nor tell that there is one.
    let before = w.audit_count().await;
    let (s, o) = w.get(&format!("/fhir/Patient/{patient}"), &w.physio).await;
    assert!(matches!(s, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND), "{s}");
    assert!(is_outcome(&o));
    assert!(w.audit_count().await > before, "the refused read is on the audit trail");
    let (_, mine) = w.get("/fhir/Patient", &w.physio).await;
    assert!(entries(&mine).is_empty());
    assert!(mine.get("total").is_none(), "no counts");
    let (_, by_patient) = w.get(&format!("/fhir/CarePlan?patient=Patient/{patient}"), &w.physio).await;
    assert!(entries(&by_patient).is_empty());
    // Once the physiotherapy clinic joins the team, it reads; each read is audited.
    w.join(&patient, &course, &w.physio_org).await;
    let before = w.audit_count().await;
    let (s, _) = w.get(&format!("/fhir/Patient/{patient}"), &w.physio).await;
    assert_eq!(s, StatusCode::OK);
    assert!(w.audit_count().await > before);
    let (_, listed) = w.get("/fhir/Patient", &w.physio).await;
    assert_eq!(entries(&listed).len(), 1);
}

async fn an_observation_is_created_through_the_domain(w: World) {
    let (patient, course) = w.patient_with_course().await;
    let (s, o) = fhir_post(&w, "/fhir/Observation", &w.gp, &pain(&patient, json!(6)), "application/fhir+json").await;
    assert_eq!(s, StatusCode::CREATED, "{o}");
    assert_eq!(o["valueInteger"], 6);
    let id = o["id"].as_str().unwrap();
    let (s, read) = w.get(&format!("/fhir/Observation/{id}"), &w.gp).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(read, o);
    // The same measurement is on the course, as the JSON API shows it.
    let (_, c) = w.get(&format!("/api/patients/{patient}/courses/{course}"), &w.gp).await;
    assert_eq!(c["care"]["measurements"][0]["pain"], 6);
    // Plain application/json is accepted too; a caller the domain refuses is refused.
    let (s, _) = fhir_post(&w, "/fhir/Observation", &w.gp, &pain(&patient, json!(3)), "application/json").await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, o) =
        fhir_post(&w, "/fhir/Observation", &w.physio, &pain(&patient, json!(3)), "application/fhir+json").await;
    assert!(matches!(s, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND), "{s} {o}");
    let (_, found) =
        w.get(&format!("/fhir/Observation?subject=Patient/{patient}&code=http://loinc.org|72514-3"), &w.gp).await;
    assert_eq!(entries(&found).len(), 2);
    let (_, none) = w.get(&format!("/fhir/Observation?patient={patient}&date=lt2026-03-01"), &w.gp).await;
    assert!(entries(&none).is_empty());
}

async fn bad_observations_are_refused_and_nothing_is_stored(w: World) {
    let (patient, course) = w.patient_with_course().await;
    let version = w.version_of_course(&patient, &course, &w.gp).await;
    let mut unknown = pain(&patient, json!(4));
    unknown["colour"] = json!("blue");
    let mut no_status = pain(&patient, json!(4));
    no_status.as_object_mut().unwrap().remove("status");
    let mut bad_date = pain(&patient, json!(4));
    bad_date["effectiveDateTime"] = json!("2026-02-30");
    let mut wrong_code = pain(&patient, json!(4));
    wrong_code["code"] = json!({"coding": [{"system": "http://loinc.org", "code": "8867-4"}]});
    let cases = [
        (pain(&patient, json!(12)), StatusCode::BAD_REQUEST),
        (pain(&patient, json!("4")), StatusCode::BAD_REQUEST),
        (unknown, StatusCode::BAD_REQUEST),
        (no_status, StatusCode::BAD_REQUEST),
        (bad_date, StatusCode::BAD_REQUEST),
        (wrong_code, StatusCode::UNPROCESSABLE_ENTITY),
        (json!({"resourceType": "Patient"}), StatusCode::BAD_REQUEST),
    ];
    for (body, status) in cases {
        let (s, o) = fhir_post(&w, "/fhir/Observation", &w.gp, &body, "application/fhir+json").await;
        assert_eq!(s, status, "{body} -> {o}");
        assert!(is_outcome(&o), "{o}");
        assert!(!o.to_string().contains("1204791437") && !o.to_string().contains("Jens"), "no patient data in errors");
    }
    assert_eq!(w.version_of_course(&patient, &course, &w.gp).await, version, "nothing was written");
}

async fn searches_page_with_next_links(w: World) {
    let (patient, _) = w.patient_with_course().await;
    for v in 0..5 {
        let (s, _) =
            fhir_post(&w, "/fhir/Observation", &w.gp, &pain(&patient, json!(v)), "application/fhir+json").await;
        assert_eq!(s, StatusCode::CREATED);
    }
    let mut url = format!("/fhir/Observation?patient=Patient/{patient}&_count=2");
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let (s, b) = w.get(&url, &w.gp).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let page = entries(&b);
        assert!(page.len() <= 2);
        seen.extend(page.iter().map(|r| r["valueInteger"].as_u64().unwrap()));
        pages += 1;
        match next_link(&b) {
            Some(next) => url = next,
            None => break,
        }
    }
    seen.sort();
    assert_eq!(seen, vec![0, 1, 2, 3, 4], "every observation once, across {pages} pages");
    assert_eq!(pages, 3);
}

async fn everything_about_a_patient(w: World) {
    let (patient, course) = w.patient_with_course().await;
    let v = w.version_of_course(&patient, &course, &w.gp).await;
    let goal = json!({"expected_version": v, "change": {"kind": "set_goal", "goal_kind": "functional",
        "text": "Gå en tur på 30 minutter"}});
    let (s, r) = w.post(&format!("/api/patients/{patient}/courses/{course}/events"), &w.gp, goal).await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    fhir_post(&w, "/fhir/Observation", &w.gp, &pain(&patient, json!(5)), "application/fhir+json").await;
    let (s, b) = w.get(&format!("/fhir/Patient/{patient}/$everything?_count=2"), &w.gp).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let mut kinds: Vec<String> = entries(&b).iter().map(|r| r["resourceType"].as_str().unwrap().to_string()).collect();
    let mut next = next_link(&b);
    while let Some(url) = next {
        let (_, b) = w.get(&url, &w.gp).await;
        kinds.extend(entries(&b).iter().map(|r| r["resourceType"].as_str().unwrap().to_string()));
        next = next_link(&b);
    }
    kinds.sort();
    assert_eq!(kinds, vec!["CarePlan", "Goal", "Observation", "Patient"]);
    let (s, o) = w.get(&format!("/fhir/Patient/{patient}/$everything"), &w.physio).await;
    assert!(matches!(s, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND), "{s}");
    assert!(is_outcome(&o));
}
