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
    an_observation_without_a_care_plan_goes_to_the_one_open_course,
    observations_posted_at_once_to_one_course_all_land,
    bad_observations_are_refused_and_nothing_is_stored,
    searches_page_with_next_links,
    everything_about_a_patient,
    patients_care_plans_and_goals_are_created_through_the_domain,
    a_transaction_lands_whole_or_not_at_all,
    a_batch_answers_each_entry_on_its_own,
    a_transaction_changes_two_goals_of_one_course_from_the_version_read,
    searches_sort_include_and_filter_by_update_and_category,
    a_patient_is_found_by_cpr_only_in_a_posted_search,
    a_step_is_updated_only_from_its_current_version,
    the_patient_reads_who_looked_as_audit_events,
    consents_are_read_as_the_sharing_page_shows_them,
    every_version_of_a_course_can_be_read_again,
    a_referral_is_a_service_request_and_its_handover_a_task,
    messages_diagnoses_stays_and_answers_map_to_their_resources,
    professionals_and_roles_say_how_to_reach_them,
    a_patients_name_is_corrected_from_its_current_version,
    progress_is_recorded_as_answers_to_the_progress_questionnaire,
    a_diagnosis_is_recorded_as_written,
    a_referral_is_created_as_a_service_request,
    stays_and_periods_of_care_are_created_whole,
    a_communication_starts_a_thread_to_whom_it_names,
    a_write_answers_in_the_form_the_client_prefers,
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
    // JSON is what Sammen speaks; a parameter without a value is ignored; history is
    // kept per resource.
    let (s, o) = w.get("/fhir/Observation?_format=xml", &w.gp).await;
    assert_eq!((s, is_outcome(&o)), (StatusCode::NOT_ACCEPTABLE, true), "{o}");
    assert_eq!(w.get("/fhir/Observation?_format=json", &w.gp).await.0, StatusCode::OK);
    w.patient_with_course().await;
    let (_, all) = w.get("/fhir/CarePlan", &w.gp).await;
    let (s, unfiltered) = w.get("/fhir/CarePlan?status=", &w.gp).await;
    assert_eq!(s, StatusCode::OK, "{unfiltered}");
    assert_eq!(entries(&unfiltered).len(), entries(&all).len());
    assert!(!entries(&all).is_empty());
    let (s, o) = w.get("/fhir/Observation/_history", &w.gp).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(o["issue"][0]["diagnostics"].as_str().unwrap().contains("per resource"), "{o}");
    // A CPR number sent where a parameter's name belongs is not quoted back.
    let (s, o) = w.get("/fhir/Patient?1204791437", &w.gp).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(is_outcome(&o) && !o.to_string().contains("1204791437"), "{o}");
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
    // A body over the limit: an OperationOutcome too, not the web server's plain text.
    let big = json!({"resourceType": "Observation", "note": [{"text": "x".repeat(sammen_http::MAX_BODY_BYTES)}]});
    let (s, o) = fhir_post(&w, "/fhir/Observation", &w.gp, &big, "application/fhir+json").await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{o}");
    assert_eq!(o["issue"][0]["code"], "too-costly", "{o}");
    let (s, o) = fhir_post(
        &w,
        "/fhir/",
        &w.gp,
        &json!({"resourceType": "Bundle", "type": "collection"}),
        "application/fhir+json",
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "only batches and transactions are carried out: {o}");
    assert!(is_outcome(&o));
    let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"request": {"method": "DELETE", "url": "Patient/x"}}]});
    let (s, o) = fhir_post(&w, "/fhir", &w.gp, &bundle, "application/fhir+json").await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED, "{o}");
    assert!(is_outcome(&o));
    let (s, o) = w.get("/fhir/Observation?date=yesterday", &w.gp).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(is_outcome(&o));
    // A method Sammen does not take at an address it serves: an OperationOutcome too,
    // and the methods it does take.
    let delete = Request::delete("/fhir/Observation/x").header("authorization", format!("Bearer {}", w.gp));
    let (s, headers, o) = w.raw_with_headers(delete.body(Body::empty()).unwrap()).await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
    assert!(is_outcome(&o), "{o}");
    assert!(o["issue"][0]["diagnostics"].as_str().unwrap().contains("DELETE"), "{o}");
    assert_eq!(headers[axum::http::header::ALLOW], "GET,HEAD,PUT");
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
    // FHIR ids are case-sensitive: one resource, one address.
    for alias in [patient.to_uppercase(), patient.replace('-', ""), format!("urn:uuid:{patient}")] {
        assert_eq!(w.get(&format!("/fhir/Patient/{alias}"), &w.gp).await.0, StatusCode::NOT_FOUND, "{alias}");
    }
    let plan = plans[0]["id"].as_str().unwrap();
    assert_eq!(w.get(&format!("/fhir/CarePlan/{}", plan.to_uppercase()), &w.gp).await.0, StatusCode::NOT_FOUND);
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
    // The answer is the measurement just made, not one the course already held.
    let (s, second) = fhir_post(&w, "/fhir/Observation", &w.gp, &pain(&patient, json!(3)), "application/json").await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(second["valueInteger"], 3, "{second}");
    assert_ne!(second["id"], o["id"]);
    let (s, o) =
        fhir_post(&w, "/fhir/Observation", &w.physio, &pain(&patient, json!(3)), "application/fhir+json").await;
    assert!(matches!(s, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND), "{s} {o}");
    let (_, found) =
        w.get(&format!("/fhir/Observation?subject=Patient/{patient}&code=http://loinc.org|72514-3"), &w.gp).await;
    assert_eq!(entries(&found).len(), 2);
    let (_, none) = w.get(&format!("/fhir/Observation?patient={patient}&date=lt2026-03-01"), &w.gp).await;
    assert!(entries(&none).is_empty());
    // Who measured stays named after they leave: not the patient, and not nobody.
    use sammen_domain::vocab::{Profession, Sector};
    let (leaver, org) = w.professional("leaver", Sector::PrivatePractice, Profession::Physiotherapist).await;
    w.join(&patient, &course, &org).await;
    let (s, o) = fhir_post(&w, "/fhir/Observation", &leaver, &pain(&patient, json!(2)), "application/fhir+json").await;
    assert_eq!(s, StatusCode::CREATED, "{o}");
    w.app.set_user_disabled("leaver", true).await.unwrap();
    let (_, read) = w.get(&format!("/fhir/Observation/{}", o["id"].as_str().unwrap()), &w.gp).await;
    assert_eq!(read["performer"], o["performer"], "{read}");
    assert!(read["performer"][0]["reference"].as_str().unwrap().starts_with("Practitioner/"), "{read}");
    assert_eq!(read["performer"][0]["display"], "leaver");
}

/// A device or another system may post many measurements to one course at once. Each is
/// an addition, not a change from a version its sender read, so every one lands: none is
/// answered with a conflict, which a FHIR client does not expect from a POST.
async fn observations_posted_at_once_to_one_course_all_land(w: World) {
    const AT_ONCE: i64 = 16;
    let (patient, course) = w.patient_with_course().await;
    let posts: Vec<_> = (0..AT_ONCE)
        .map(|i| {
            let req = Request::builder()
                .method(Method::POST)
                .uri("/fhir/Observation")
                .header("authorization", format!("Bearer {}", w.gp))
                .header("content-type", "application/fhir+json")
                .body(Body::from(pain(&patient, json!(i % 11)).to_string()))
                .unwrap();
            tokio::spawn(tower::ServiceExt::oneshot(w.router.clone(), req))
        })
        .collect();
    for post in posts {
        let res = post.await.unwrap().unwrap();
        let status = res.status();
        let body = http_body_util::BodyExt::collect(res.into_body()).await.unwrap().to_bytes();
        assert_eq!(status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&body));
    }
    let (_, c) = w.get(&format!("/api/patients/{patient}/courses/{course}"), &w.gp).await;
    let mut values: Vec<i64> =
        c["care"]["measurements"].as_array().unwrap().iter().map(|m| m["pain"].as_i64().unwrap()).collect();
    values.sort();
    let mut posted: Vec<i64> = (0..AT_ONCE).map(|i| i % 11).collect();
    posted.sort();
    assert_eq!(values, posted, "every measurement once");
}

/// An Observation that names no CarePlan goes to the patient's one open course, and the
/// trail shows the write alone; with no open course, or two, it is refused, and the look
/// is on the trail as refused.
async fn an_observation_without_a_care_plan_goes_to_the_one_open_course(w: World) {
    let (s, p) = w.post("/api/patients", &w.gp, json!({"cpr": "120479-1437", "name": "Jens Madsen"})).await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    let patient = p["id"].as_str().unwrap().to_string();
    let trail = |w: &World| {
        let store = w.app.store().clone();
        let id = patient.parse().unwrap();
        async move {
            let entries = store.audit_for_patient(id, 100).await.unwrap();
            entries
                .into_iter()
                .map(|e| (e.draft.action.as_str(), e.draft.outcome.as_str(), e.draft.object))
                .collect::<Vec<_>>()
        }
    };
    let before = trail(&w).await.len();
    let (s, o) = fhir_post(&w, "/fhir/Observation", &w.gp, &pain(&patient, json!(4)), "application/fhir+json").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{o}");
    assert!(o.to_string().contains("no open course"), "{o}");
    let object = format!("patient/{patient}/courses");
    let t = trail(&w).await;
    assert_eq!(t[..t.len() - before], [("query", "refused", object.clone())]);

    let open = |title: &'static str| {
        let (w, patient) = (&w, &patient);
        async move {
            let body = json!({"title": title, "reason": "Smerter", "started_on": "2026-02-20"});
            let (s, c) = w.post(&format!("/api/patients/{patient}/courses"), &w.gp, body).await;
            assert_eq!(s, StatusCode::CREATED, "{c}");
            c["id"].as_str().unwrap().to_string()
        }
    };
    let course = open("Lændesmerter").await;
    let before = trail(&w).await.len();
    let (s, o) = fhir_post(&w, "/fhir/Observation", &w.gp, &pain(&patient, json!(5)), "application/fhir+json").await;
    assert_eq!(s, StatusCode::CREATED, "{o}");
    let care_plan = format!("CarePlan/{}{}", patient.replace('-', ""), course.replace('-', ""));
    assert_eq!(o["basedOn"][0]["reference"], care_plan, "{o}");
    let written = [("update", "permitted", format!("course/{course}"))];
    let t = trail(&w).await;
    assert_eq!(t[..t.len() - before], written, "one entry: the write's");

    open("Nakkesmerter").await;
    let (s, o) = fhir_post(&w, "/fhir/Observation", &w.gp, &pain(&patient, json!(6)), "application/fhir+json").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{o}");
    assert!(o.to_string().contains("more than one open course") && o.to_string().contains("basedOn"), "{o}");
    assert_eq!(trail(&w).await[0], ("query", "refused", object));
    assert_eq!(w.app.verify_audit().await.unwrap(), Ok(w.audit_count().await));

    // Naming a CarePlan tells a stranger nothing: the same answer as for no such patient.
    use sammen_domain::vocab::{Profession, Sector};
    let (stranger, _) = w.professional("stranger", Sector::PrivatePractice, Profession::Physiotherapist).await;
    let naming = |p: &str| {
        let mut o = pain(p, json!(3));
        o["basedOn"] = json!([{"reference": format!("CarePlan/{}{}", p.replace('-', ""), "0".repeat(32))}]);
        o
    };
    let nobody = "00000000-0000-4000-8000-000000000000";
    let (real, a) = fhir_post(&w, "/fhir/Observation", &stranger, &naming(&patient), "application/fhir+json").await;
    let (none, b) = fhir_post(&w, "/fhir/Observation", &stranger, &naming(nobody), "application/fhir+json").await;
    assert_eq!((real, a["issue"][0]["code"].clone()), (none, b["issue"][0]["code"].clone()), "{a} {b}");
    // The GP, who may see the patient, hears that no such course is theirs to write to.
    let (s, o) = fhir_post(&w, "/fhir/Observation", &w.gp, &naming(&patient), "application/fhir+json").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{o}");
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
    let mut year_zero = pain(&patient, json!(4));
    year_zero["effectiveDateTime"] = json!("0000-01-01");
    let mut less_than = pain(&patient, json!(4));
    less_than.as_object_mut().unwrap().remove("valueInteger");
    less_than["valueQuantity"] = json!({"value": 3, "comparator": "<"});
    let mut control = pain(&patient, json!(4));
    control["code"]["text"] = json!("pain\u{1b}[31m");
    // A status of the wrong type is not called missing.
    let mut numbered = pain(&patient, json!(4));
    numbered["status"] = json!(5);
    let (_, o) = fhir_post(&w, "/fhir/Observation", &w.gp, &numbered, "application/fhir+json").await;
    assert!(o["issue"][0]["diagnostics"].as_str().unwrap().contains("must be a code"), "{o}");
    let cases = [
        (numbered, StatusCode::BAD_REQUEST),
        (year_zero, StatusCode::BAD_REQUEST),
        (less_than, StatusCode::UNPROCESSABLE_ENTITY),
        (control, StatusCode::BAD_REQUEST),
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
    // _count=0 asks for no entries: none, and no next page to follow for ever.
    for url in [format!("/fhir/Observation?patient=Patient/{patient}&_count=0"), "/fhir/Practitioner?_count=0".into()] {
        let (s, b) = w.get(&url, &w.gp).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert!(entries(&b).is_empty() && next_link(&b).is_none(), "{url}: {b}");
    }
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
    assert_eq!(kinds, vec!["CarePlan", "CareTeam", "Goal", "Observation", "Patient", "QuestionnaireResponse"]);
    // A page far past the end is empty and last: no next link that wraps round to the start.
    let (s, b) = w.get(&format!("/fhir/Patient/{patient}/$everything?_count=2&_page={}", usize::MAX), &w.gp).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert!(entries(&b).is_empty() && next_link(&b).is_none(), "{b}");
    // `_format` as elsewhere: JSON is answered, anything else is not acceptable.
    let (s, b) = w.get(&format!("/fhir/Patient/{patient}/$everything?_format=application/fhir%2Bjson"), &w.gp).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(entries(&b).len(), 6, "{b}");
    let (s, o) = w.get(&format!("/fhir/Patient/{patient}/$everything?_format=xml"), &w.gp).await;
    assert_eq!(s, StatusCode::NOT_ACCEPTABLE, "{o}");
    let (s, o) = w.get(&format!("/fhir/Patient/{patient}/$everything"), &w.physio).await;
    assert!(matches!(s, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND), "{s}");
    assert!(is_outcome(&o));
}

fn new_patient(cpr: &str) -> Value {
    json!({
        "resourceType": "Patient",
        "identifier": [{"system": "urn:oid:1.2.208.176.1.2", "value": cpr}],
        "name": [{"use": "official", "family": "Holm", "given": ["Karen"]}],
        "gender": "female",
    })
}

fn care_plan(subject: &str) -> Value {
    json!({
        "resourceType": "CarePlan",
        "status": "active",
        "intent": "plan",
        "title": "Skuldersmerter",
        "description": "Smerter i højre skulder efter fald",
        "subject": {"reference": subject},
        "period": {"start": "2026-02-23"},
    })
}

fn entry(full_url: &str, url: &str, resource: Value) -> Value {
    json!({"fullUrl": full_url, "resource": resource, "request": {"method": "POST", "url": url}})
}

async fn patients_care_plans_and_goals_are_created_through_the_domain(w: World) {
    let (s, p) = fhir_post(&w, "/fhir/Patient", &w.gp, &new_patient("0103851234"), "application/fhir+json").await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    assert_eq!(p["name"][0]["text"], "Karen Holm");
    assert_eq!(p["birthDate"], "1985-03-01");
    let patient = p["id"].as_str().unwrap().to_string();
    let (s, plan) =
        fhir_post(&w, "/fhir/CarePlan", &w.gp, &care_plan(&format!("Patient/{patient}")), "application/fhir+json")
            .await;
    assert_eq!(s, StatusCode::CREATED, "{plan}");
    assert_eq!(plan["title"], "Skuldersmerter");
    let goal = json!({"resourceType": "Goal", "lifecycleStatus": "proposed",
        "category": [{"coding": [{"system": "https://sammen.dk/fhir/CodeSystem/sammen", "code": "goal-functional"}]}],
        "description": {"text": "Løfte armen over hovedet"}, "subject": {"reference": format!("Patient/{patient}")}});
    let (s, g) = fhir_post(&w, "/fhir/Goal", &w.gp, &goal, "application/fhir+json").await;
    assert_eq!(s, StatusCode::CREATED, "{g}");
    assert_eq!(g["extension"][0]["valueReference"]["reference"], format!("CarePlan/{}", plan["id"].as_str().unwrap()));
    // What the JSON API shows is what FHIR wrote.
    let course = &plan["id"].as_str().unwrap()[32..];
    let (_, c) = w.get(&format!("/api/patients/{patient}/courses/{}", uuid_of(course)), &w.gp).await;
    assert_eq!(c["care"]["goals"][0]["text"], "Løfte armen over hovedet", "{c}");
    // Refused, with nothing stored and no identifier quoted back.
    let mut no_cpr = new_patient("0103851234");
    no_cpr["identifier"] = json!([{"system": "urn:oid:9.9", "value": "x"}]);
    let mut bad_cpr = new_patient("3213851234");
    bad_cpr["identifier"][0]["value"] = json!("3213851234");
    let mut wrong_birth = new_patient("0203851234");
    wrong_birth["birthDate"] = json!("1990-01-01");
    let mut modifier = new_patient("0303851234");
    modifier["modifierExtension"] = json!([{"url": "http://example.org/x", "valueBoolean": true}]);
    let cases = [
        (no_cpr, StatusCode::UNPROCESSABLE_ENTITY),
        (bad_cpr, StatusCode::BAD_REQUEST),
        (wrong_birth, StatusCode::BAD_REQUEST),
        (modifier, StatusCode::UNPROCESSABLE_ENTITY),
        (new_patient("0103851234"), StatusCode::CONFLICT),
    ];
    for (body, status) in cases {
        let (s, o) = fhir_post(&w, "/fhir/Patient", &w.gp, &body, "application/fhir+json").await;
        assert_eq!(s, status, "{body} -> {o}");
        assert!(is_outcome(&o));
        assert!(!o.to_string().contains("851234"), "no CPR number in errors: {o}");
    }
    for cpr in ["0203851234", "0303851234"] {
        let (s, _) = w.post("/api/patients/search", &w.gp, json!({"cpr": cpr})).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "not registered");
    }
    let mut closed = care_plan(&format!("Patient/{patient}"));
    closed["status"] = json!("completed");
    let (s, _) = fhir_post(&w, "/fhir/CarePlan", &w.gp, &closed, "application/fhir+json").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
}

async fn a_transaction_changes_two_goals_of_one_course_from_the_version_read(w: World) {
    let (patient, _) = w.patient_with_course().await;
    let goal = |text: &str| {
        json!({"resourceType": "Goal", "lifecycleStatus": "proposed",
        "category": [{"coding": [{"system": "https://sammen.dk/fhir/CodeSystem/sammen", "code": "goal-functional"}]}],
        "description": {"text": text}, "subject": {"reference": format!("Patient/{patient}")}})
    };
    let mut ids = Vec::new();
    for text in ["Gå på trapper", "Bære indkøb"] {
        let (s, g) = fhir_post(&w, "/fhir/Goal", &w.gp, &goal(text), "application/fhir+json").await;
        assert_eq!(s, StatusCode::CREATED, "{g}");
        ids.push(g["id"].as_str().unwrap().to_string());
    }
    // Both read now: the course's version, the same for both.
    let mut read = Vec::new();
    for id in &ids {
        read.push(w.get(&format!("/fhir/Goal/{id}"), &w.gp).await.1);
    }
    let version = read[0]["meta"]["versionId"].as_str().unwrap().to_string();
    assert_eq!(read[1]["meta"]["versionId"], version.as_str());
    let agree = |r: &Value, tag: &str| {
        let mut r = r.clone();
        r["lifecycleStatus"] = json!("active");
        json!({"resource": r, "request": {"method": "PUT", "url": format!("Goal/{}", r["id"].as_str().unwrap()),
            "ifMatch": format!("W/\"{tag}\"")}})
    };
    // Each entry names the version its client read; the first entry's change to the
    // course is the transaction's own, not a change made since.
    let both = transaction(vec![agree(&read[0], &version), agree(&read[1], &version)]);
    let (s, b) = fhir_post(&w, "/fhir", &w.gp, &both, "application/fhir+json").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    for id in &ids {
        assert_eq!(w.get(&format!("/fhir/Goal/{id}"), &w.gp).await.1["lifecycleStatus"], "active");
    }
    // That version is stale now, for a transaction as for a single update: nothing lands.
    let mut done = read[0].clone();
    done["lifecycleStatus"] = json!("completed");
    let entry = json!({"resource": done, "request": {"method": "PUT", "url": format!("Goal/{}", ids[0]),
        "ifMatch": format!("W/\"{version}\"")}});
    let (s, o) = fhir_post(&w, "/fhir", &w.gp, &transaction(vec![entry]), "application/fhir+json").await;
    assert_eq!(s, StatusCode::PRECONDITION_FAILED, "{o}");
    assert_eq!(w.get(&format!("/fhir/Goal/{}", ids[0]), &w.gp).await.1["lifecycleStatus"], "active");
}

fn uuid_of(hex: &str) -> String {
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

fn transaction(entries: Vec<Value>) -> Value {
    json!({"resourceType": "Bundle", "type": "transaction", "entry": entries})
}

async fn a_transaction_lands_whole_or_not_at_all(w: World) {
    // Given in an order the references do not allow; Sammen writes in one that does.
    let mut obs = pain("x", json!(7));
    obs["subject"] = json!({"reference": "urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a"});
    obs["basedOn"] = json!([{"reference": "urn:uuid:88f151c0-a954-468a-88bd-5ae15c08e059"}]);
    let bundle = transaction(vec![
        entry("urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0", "Observation", obs.clone()),
        entry(
            "urn:uuid:88f151c0-a954-468a-88bd-5ae15c08e059",
            "CarePlan",
            care_plan("urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a"),
        ),
        entry("urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a", "Patient", new_patient("1104902345")),
    ]);
    let before = w.audit_count().await;
    let (s, b) = fhir_post(&w, "/fhir", &w.gp, &bundle, "application/fhir+json").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["type"], "transaction-response");
    let answers = b["entry"].as_array().unwrap();
    assert_eq!(answers.len(), 3);
    for a in answers {
        assert_eq!(a["response"]["status"], "201 Created", "{a}");
    }
    assert!(answers[2]["response"]["location"].as_str().unwrap().starts_with("Patient/"));
    let patient = answers[2]["resource"]["id"].as_str().unwrap().to_string();
    assert_eq!(answers[0]["resource"]["subject"]["reference"], format!("Patient/{patient}"), "urn:uuid resolved");
    let (s, read) =
        w.get(&format!("/fhir/Observation/{}", answers[0]["resource"]["id"].as_str().unwrap()), &w.gp).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(read["valueInteger"], 7);
    assert!(w.audit_count().await >= before + 3, "every entry is on the audit trail");

    // The third entry is refused: neither the patient nor the course is stored, and
    // the answer says which entry and why.
    let mut bad = obs.clone();
    bad["valueInteger"] = json!(12);
    let bundle = transaction(vec![
        entry("urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a", "Patient", new_patient("1204902345")),
        entry(
            "urn:uuid:88f151c0-a954-468a-88bd-5ae15c08e059",
            "CarePlan",
            care_plan("urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a"),
        ),
        entry("urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0", "Observation", bad),
    ]);
    let before = w.audit_count().await;
    let (s, o) = fhir_post(&w, "/fhir", &w.gp, &bundle, "application/fhir+json").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{o}");
    assert!(is_outcome(&o));
    let why = o["issue"][0]["diagnostics"].as_str().unwrap();
    assert!(why.contains("entry[2]") && why.contains("Nothing in the transaction was stored"), "{why}");
    let (s, _) = w.post("/api/patients/search", &w.gp, json!({"cpr": "1204902345"})).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "the patient of a refused transaction is not registered");
    assert!(w.audit_count().await >= before + 2, "what was tried stays on the audit trail, as refused");
    // A reference to nothing in the Bundle is refused before anything is tried.
    let bundle = transaction(vec![entry("urn:uuid:1", "Observation", obs)]);
    let (s, o) = fhir_post(&w, "/fhir", &w.gp, &bundle, "application/fhir+json").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{o}");
}

async fn a_batch_answers_each_entry_on_its_own(w: World) {
    let (patient, _) = w.patient_with_course().await;
    let batch = json!({"resourceType": "Bundle", "type": "batch", "entry": [
        {"resource": pain(&patient, json!(4)), "request": {"method": "POST", "url": "Observation"}},
        {"resource": pain(&patient, json!(40)), "request": {"method": "POST", "url": "Observation"}},
        {"request": {"method": "GET", "url": format!("Observation?patient={patient}")}},
    ]});
    let (s, b) = fhir_post(&w, "/fhir/", &w.gp, &batch, "application/fhir+json").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["type"], "batch-response");
    let answers = b["entry"].as_array().unwrap();
    assert_eq!(answers[0]["response"]["status"], "201 Created");
    assert!(answers[1]["response"]["status"].as_str().unwrap().starts_with("400"));
    assert!(is_outcome(&answers[1]["response"]["outcome"]));
    assert_eq!(answers[2]["response"]["status"], "200 OK");
    assert_eq!(entries(&answers[2]["resource"]).len(), 1, "the good entry landed, the bad one did not");
    // The physiotherapist, not on the team, gets the same refusals in a batch.
    let (_, b) = fhir_post(&w, "/fhir/", &w.physio, &batch, "application/fhir+json").await;
    for a in &b["entry"].as_array().unwrap()[..2] {
        assert!(!a["response"]["status"].as_str().unwrap().starts_with('2'), "{a}");
    }
    // A Bundle that is not valid FHIR is refused whole, saying which entry and what.
    let good = json!({"request": {"method": "GET", "url": format!("Observation?patient={patient}")}});
    let cases = [
        (json!({"resourceType": "Bundle", "type": "batch", "colour": "blue", "entry": [good]}), "Bundle.colour"),
        (
            json!({"resourceType": "Bundle", "type": "batch", "entry": [{"fullUrl": 5, "request": {"method": "GET", "url": "Patient"}}]}),
            "entry[0]: fullUrl",
        ),
        (
            json!({"resourceType": "Bundle", "type": "batch", "entry": [good, {"request": {"method": "GET"}}]}),
            "entry[1]: request.url",
        ),
    ];
    for (bundle, said) in cases {
        let (s, o) = fhir_post(&w, "/fhir/", &w.gp, &bundle, "application/fhir+json").await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{o}");
        assert!(o["issue"][0]["diagnostics"].as_str().unwrap().contains(said), "{said}: {o}");
    }
    // A valid entry that cannot be carried out is answered in its place in a batch, and
    // the others still are; in a transaction it refuses the whole.
    let unsendable = [
        (json!({"request": {"method": "GET", "url": "Patient/a b"}}), "400", "entry[1]: request.url"),
        (
            json!({"resource": {"resourceType": "Goal"}, "request": {"method": "PUT", "url": "Goal/x", "ifMatch": "W/\"3\"\r\nX: y"}}),
            "400",
            "entry[1]: request.ifMatch",
        ),
        (
            json!({"request": {"method": "DELETE", "url": format!("Patient/{patient}")}}),
            "405",
            "entry[1]: Sammen does not delete",
        ),
    ];
    for (entry, status, said) in unsendable {
        let batch = json!({"resourceType": "Bundle", "type": "batch", "entry": [good, entry, good]});
        let (s, b) = fhir_post(&w, "/fhir/", &w.gp, &batch, "application/fhir+json").await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let answers = b["entry"].as_array().unwrap();
        assert_eq!(answers.len(), 3, "{b}");
        assert!(answers[0]["response"]["status"].as_str().unwrap().starts_with("200"), "{b}");
        assert!(answers[2]["response"]["status"].as_str().unwrap().starts_with("200"), "{b}");
        assert!(answers[1]["response"]["status"].as_str().unwrap().starts_with(status), "{b}");
        let why = answers[1]["response"]["outcome"]["issue"][0]["diagnostics"].as_str().unwrap();
        assert!(why.contains(said), "{said}: {why}");
        let transaction =
            json!({"resourceType": "Bundle", "type": "transaction", "entry": [good, batch["entry"][1].clone()]});
        let (s, o) = fhir_post(&w, "/fhir/", &w.gp, &transaction, "application/fhir+json").await;
        assert_eq!(s.as_str(), status, "{o}");
        assert!(o["issue"][0]["diagnostics"].as_str().unwrap().contains(said), "{said}: {o}");
    }
}

async fn searches_sort_include_and_filter_by_update_and_category(w: World) {
    let (patient, _) = w.patient_with_course().await;
    for (day, value) in [("2026-02-10", 1), ("2026-02-20", 2), ("2026-02-15", 3)] {
        let mut o = pain(&patient, json!(value));
        o["effectiveDateTime"] = json!(day);
        let (s, _) = fhir_post(&w, "/fhir/Observation", &w.gp, &o, "application/fhir+json").await;
        assert_eq!(s, StatusCode::CREATED);
    }
    let values = |b: &Value| -> Vec<u64> { entries(b).iter().map(|r| r["valueInteger"].as_u64().unwrap()).collect() };
    let (s, b) = w.get(&format!("/fhir/Observation?patient={patient}&_sort=-date"), &w.gp).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(values(&b), vec![2, 3, 1], "newest measurement first");
    let (_, b) = w.get(&format!("/fhir/Observation?patient={patient}&_sort=date&_count=2"), &w.gp).await;
    assert_eq!(values(&b), vec![1, 3]);
    let (_, b) = w.get(&next_link(&b).unwrap(), &w.gp).await;
    assert_eq!(values(&b), vec![2], "the order holds across pages");
    let (s, o) = w.get("/fhir/Observation?_sort=date", &w.gp).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "sorting everyone in reach is refused: {o}");

    let (_, b) =
        w.get(&format!("/fhir/Observation?patient={patient}&_include=Observation:patient&_count=2"), &w.gp).await;
    let modes: Vec<(&str, &str)> = b["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["resource"]["resourceType"].as_str().unwrap(), e["search"]["mode"].as_str().unwrap()))
        .collect();
    assert_eq!(modes, vec![("Observation", "match"), ("Observation", "match"), ("Patient", "include")]);

    for (query, n) in [
        ("_lastUpdated=ge2026-01-01", 3),
        ("_lastUpdated=lt2026-01-01", 0),
        ("_lastUpdated=gt2026-03-01T08:00:00Z", 3),
        ("category=survey", 3),
        ("category=http://terminology.hl7.org/CodeSystem/observation-category|vital-signs", 0),
    ] {
        let (s, b) = w.get(&format!("/fhir/Observation?patient={patient}&{query}"), &w.gp).await;
        assert_eq!(s, StatusCode::OK, "{query}: {b}");
        assert_eq!(entries(&b).len(), n, "{query}");
    }
    let (s, _) = w.get(&format!("/fhir/Observation?patient={patient}&_lastUpdated=soon"), &w.gp).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (_, b) = w.get(&format!("/fhir/CarePlan?patient={patient}&date=ge2026-01-01"), &w.gp).await;
    assert_eq!(entries(&b).len(), 1);
}

async fn a_patient_is_found_by_cpr_only_in_a_posted_search(w: World) {
    let (patient, _) = w.patient_with_course().await;
    let (s, o) = w.get("/fhir/Patient?identifier=urn:oid:1.2.208.176.1.2|1204791437", &w.gp).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(!o.to_string().contains("1204791437"), "the number is not echoed: {o}");
    let search = |token: &str| {
        Request::post("/fhir/Patient/_search")
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from("identifier=urn%3Aoid%3A1.2.208.176.1.2%7C1204791437"))
            .unwrap()
    };
    let (s, b) = w.raw(search(&w.gp)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let found = entries(&b);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["id"], patient.as_str());
    assert!(!b["link"].to_string().contains("1204791437"), "no CPR number in the links");
    // The self link is the same search said without the number: the patient found, by id.
    let own = b["link"][0]["url"].as_str().unwrap().replace("http://localhost", "");
    assert!(own.contains(&format!("_id={patient}")), "{b}");
    let (s, again) = w.get(&own, &w.gp).await;
    assert_eq!(s, StatusCode::OK, "{again}");
    assert_eq!(entries(&again), found, "following the self link gives the same result");
    // Someone the patient has not shared with learns nothing: an empty result, and no
    // link that would read as a search of everyone in reach.
    let (s, b) = w.raw(search(&w.physio)).await;
    assert_eq!(s, StatusCode::OK);
    assert!(entries(&b).is_empty());
    assert!(b.get("link").is_none(), "{b}");
    let posted = |form: &str| {
        Request::post("/fhir/Patient/_search")
            .header("authorization", format!("Bearer {}", w.gp))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(form.to_string()))
            .unwrap()
    };
    // Two numbers at once (AND) match no one.
    let (s, b) = w.raw(posted("identifier=1204791437&identifier=0309912648")).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert!(entries(&b).is_empty(), "{b}");
    // A number sent as an id matches nothing and is not written into the links.
    let (s, b) = w.raw(posted("_id=1204791437")).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert!(entries(&b).is_empty() && !b.to_string().contains("1204791437"), "{b}");
}

async fn fhir_put(w: &World, uri: &str, if_match: Option<&str>, body: &Value) -> (StatusCode, Value) {
    fhir_put_as(w, &w.gp, uri, if_match, body).await
}

async fn fhir_put_as(w: &World, token: &str, uri: &str, if_match: Option<&str>, body: &Value) -> (StatusCode, Value) {
    let mut req = Request::put(uri)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/fhir+json");
    if let Some(m) = if_match {
        req = req.header("if-match", m);
    }
    w.raw(req.body(Body::from(body.to_string())).unwrap()).await
}

async fn a_step_is_updated_only_from_its_current_version(w: World) {
    let (patient, course) = w.patient_with_course().await;
    let v = w.version_of_course(&patient, &course, &w.gp).await;
    let owner = json!({"type": "role", "org": w.physio_org, "role": "fysioterapeut"});
    let step = json!({"expected_version": v, "change": {"kind": "plan_step", "step_kind": "treatment_series",
        "title": "Holdtræning", "owner": owner, "due_from": null, "due_by": "2026-04-15", "reason": "Lændesmerter",
        "reason_plain": "Træning gør ryggen stærkere", "what_to_expect": "To gange om ugen",
        "if_it_does_not_help": "Så henviser lægen dig videre"}});
    let (s, r) = w.post(&format!("/api/patients/{patient}/courses/{course}/events"), &w.gp, step).await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    w.join(&patient, &course, &w.physio_org.clone()).await;
    let (_, tasks) = w.get(&format!("/fhir/Task?patient={patient}"), &w.gp).await;
    let task = entries(&tasks).remove(0);
    let id = task["id"].as_str().unwrap().to_string();
    let version = task["meta"]["versionId"].as_str().unwrap().to_string();
    let mut done = task.clone();
    done["status"] = json!("in-progress");
    let uri = format!("/fhir/Task/{id}");

    let (s, o) = fhir_put_as(&w, &w.physio, &uri, None, &done).await;
    assert_eq!(s, StatusCode::PRECONDITION_REQUIRED, "an update names its version: {o}");
    // The step's owner says how it goes: the GP who planned it for the physiotherapists
    // (and is not the key worker) may not.
    let (s, o) = fhir_put(&w, &uri, Some(&format!("W/\"{version}\"")), &done).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{o}");
    assert!(o.to_string().contains("only the step's owner or the key worker"), "{o}");
    let (s, updated) = fhir_put_as(&w, &w.physio, &uri, Some(&format!("W/\"{version}\"")), &done).await;
    assert_eq!(s, StatusCode::OK, "{updated}");
    assert_eq!(updated["status"], "in-progress");
    assert_ne!(updated["meta"]["versionId"], task["meta"]["versionId"]);
    let (_, c) = w.get(&format!("/api/patients/{patient}/courses/{course}"), &w.gp).await;
    assert_eq!(c["care"]["steps"][0]["status"], "in_progress", "the same change the JSON API makes: {c}");

    // From the old version again: stale, refused, nothing changed.
    let mut cancelled = task.clone();
    cancelled["status"] = json!("cancelled");
    let (s, o) = fhir_put_as(&w, &w.physio, &uri, Some(&format!("W/\"{version}\"")), &cancelled).await;
    assert_eq!(s, StatusCode::PRECONDITION_FAILED, "{o}");
    assert!(is_outcome(&o));
    let (_, now) = w.get(&uri, &w.gp).await;
    assert_eq!(now["status"], "in-progress");
    // Only the status changes through FHIR; another change is refused whole.
    let mut renamed = now.clone();
    renamed["description"] = json!("Noget andet");
    renamed["status"] = json!("completed");
    let current = format!("W/\"{}\"", now["meta"]["versionId"].as_str().unwrap());
    let (s, _) = fhir_put_as(&w, &w.physio, &uri, Some(&current), &renamed).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, after) = w.get(&uri, &w.gp).await;
    assert_eq!(after["status"], "in-progress");
    // Not a type Sammen updates.
    let (s, _) = fhir_put_as(
        &w,
        &w.physio,
        &format!("/fhir/CareTeam/{id}"),
        Some(&current),
        &json!({"resourceType": "CareTeam"}),
    )
    .await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
}

async fn the_patient_reads_who_looked_as_audit_events(w: World) {
    use sammen_domain::directory::UserKind;
    let (patient, _) = w.patient_with_course().await;
    let (s, _) = w.get(&format!("/fhir/CarePlan?patient={patient}"), &w.gp).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = w.get(&format!("/fhir/Patient/{patient}"), &w.physio).await;
    assert!(matches!(s, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND));
    w.app.add_user("jens", "Jens Madsen", UserKind::Patient { patient: patient.parse().unwrap() }).await.unwrap();
    let (_, jens) = w.app.issue_token("jens", None).await.unwrap();

    let (s, b) = w.get("/fhir/AuditEvent?_count=200", &jens).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let events = entries(&b);
    assert!(events.len() >= 3, "{b}");
    for e in &events {
        assert_eq!(e["entity"][0]["what"]["reference"], format!("Patient/{patient}"), "the patient is the subject");
        assert!(e["agent"][0]["requestor"].as_bool().unwrap());
    }
    // The GP's read is there, permitted; the physiotherapist's attempt too, refused.
    assert!(events
        .iter()
        .any(|e| e["action"] == "R" && e["outcome"] == "0" && e["purposeOfEvent"][0]["coding"][0]["code"] == "TREAT"));
    assert!(events.iter().any(|e| e["outcome"] == "4"), "the refused read is shown");
    let id = events[0]["id"].as_str().unwrap();
    let (s, one) = w.get(&format!("/fhir/AuditEvent/{id}"), &jens).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(one["id"], id);
    // Professionals do not read the access log, not even the GP on the team.
    let (_, theirs) = w.get(&format!("/fhir/AuditEvent?patient={patient}"), &w.gp).await;
    assert!(entries(&theirs).is_empty());
    // The care team, as the team sees it.
    let (_, teams) = w.get(&format!("/fhir/CareTeam?patient={patient}"), &w.gp).await;
    let teams = entries(&teams);
    assert_eq!(teams.len(), 1);
    assert!(teams[0]["participant"][0]["member"]["reference"].as_str().unwrap().starts_with("Organization/"));
}

async fn consents_are_read_as_the_sharing_page_shows_them(w: World) {
    let (patient, course) = w.patient_with_course().await;
    let consent = json!({"kind": "give_consent", "recipient": {"type": "organisation", "org": w.physio_org},
        "categories": ["plan"], "purpose": "Genoptræning", "course": course, "given_by": {"type": "patient"},
        "method": "oral", "expires_at": "2026-09-01T00:00:00Z"});
    let (s, v) = w.sharing(&w.gp, &patient, consent).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, b) = w.get(&format!("/fhir/Consent?patient={patient}"), &w.gp).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let found = entries(&b);
    assert_eq!(found.len(), 1);
    let c = &found[0];
    assert_eq!(c["status"], "active");
    assert_eq!(c["provision"]["actor"][0]["reference"]["reference"], format!("Organization/{}", w.physio_org));
    assert_eq!(c["provision"]["code"][0]["text"], "plan");
    assert!(c["provision"]["data"][0]["reference"]["reference"].as_str().unwrap().ends_with(&course.replace('-', "")));
    let (_, active) = w.get(&format!("/fhir/Consent?patient={patient}&status=inactive"), &w.gp).await;
    assert!(entries(&active).is_empty());
    let id = v["consents"][0]["id"].clone();
    let (s, _) = w.sharing(&w.gp, &patient, json!({"kind": "withdraw_consent", "consent": id})).await;
    assert_eq!(s, StatusCode::CREATED);
    let (_, b) = w.get(&format!("/fhir/Consent/{}", c["id"].as_str().unwrap()), &w.gp).await;
    assert_eq!(b["status"], "inactive", "{b}");
    // Someone outside the team learns nothing of them.
    let (_, theirs) = w.get(&format!("/fhir/Consent?patient={patient}"), &w.physio).await;
    assert!(entries(&theirs).is_empty());
}

async fn every_version_of_a_course_can_be_read_again(w: World) {
    let (patient, course) = w.patient_with_course().await;
    let (_, plans) = w.get(&format!("/fhir/CarePlan?patient={patient}"), &w.gp).await;
    let plan = entries(&plans).remove(0);
    let id = plan["id"].as_str().unwrap().to_string();
    let first = plan["meta"]["versionId"].as_str().unwrap().to_string();
    let (s, obs) = fhir_post(&w, "/fhir/Observation", &w.gp, &pain(&patient, json!(6)), "application/fhir+json").await;
    assert_eq!(s, StatusCode::CREATED);
    let goal = json!({"expected_version": w.version_of_course(&patient, &course, &w.gp).await,
        "change": {"kind": "set_goal", "goal_kind": "functional", "text": "Cykle til arbejde"}});
    w.post(&format!("/api/patients/{patient}/courses/{course}/events"), &w.gp, goal).await;

    let (s, h) = w.get(&format!("/fhir/CarePlan/{id}/_history"), &w.gp).await;
    assert_eq!(s, StatusCode::OK, "{h}");
    assert_eq!(h["type"], "history");
    let versions: Vec<&str> =
        h["entry"].as_array().unwrap().iter().map(|e| e["resource"]["meta"]["versionId"].as_str().unwrap()).collect();
    assert_eq!(
        versions.first().copied(),
        Some(w.version_of_course(&patient, &course, &w.gp).await.to_string().as_str())
    );
    assert_eq!(versions.last().copied(), Some("1"), "newest first, back to the course as it was opened");
    // Listed where the CarePlan itself changed: opened, and given the goal (the
    // observation and the team joining in the same instant do not change it).
    assert_eq!(versions.len(), 2, "{versions:?}");
    assert_eq!(h["entry"].as_array().unwrap().last().unwrap()["request"]["method"], "POST");
    // The course as it was before the goal: no goal in it.
    let (s, old) = w.get(&format!("/fhir/CarePlan/{id}/_history/{first}"), &w.gp).await;
    assert_eq!(s, StatusCode::OK, "{old}");
    assert!(old.get("goal").is_none());
    assert_eq!(old["meta"]["versionId"], first.as_str());
    let (_, now) = w.get(&format!("/fhir/CarePlan/{id}"), &w.gp).await;
    assert!(now.get("goal").is_some());
    // The version it stands at now can be read by version; one not made yet cannot.
    let current: u64 = now["meta"]["versionId"].as_str().unwrap().parse().unwrap();
    assert_eq!(w.get(&format!("/fhir/CarePlan/{id}/_history/{current}"), &w.gp).await.0, StatusCode::OK);
    let (s, o) = w.get(&format!("/fhir/CarePlan/{id}/_history/{}", current + 1), &w.gp).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{o}");
    assert!(is_outcome(&o));
    let (_, pat) = w.get(&format!("/fhir/Patient/{patient}"), &w.gp).await;
    let pv: u64 = pat["meta"]["versionId"].as_str().unwrap().parse().unwrap();
    let (s, same) = w.get(&format!("/fhir/Patient/{patient}/_history/{pv}"), &w.gp).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(same["meta"], pat["meta"], "a version read by number says what a read of it said");
    assert_eq!(w.get(&format!("/fhir/Patient/{patient}/_history/{}", pv + 1), &w.gp).await.0, StatusCode::NOT_FOUND);
    // The observation did not change after it was made: one version in its history.
    let oid = obs["id"].as_str().unwrap();
    let (_, oh) = w.get(&format!("/fhir/Observation/{oid}/_history"), &w.gp).await;
    assert_eq!(oh["entry"].as_array().unwrap().len(), 1, "{oh}");
    let (s, _) = w.get(&format!("/fhir/Observation/{oid}/_history/{first}"), &w.gp).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "it did not exist yet");
    // Nobody outside the team reads the history either.
    let (s, o) = w.get(&format!("/fhir/CarePlan/{id}/_history"), &w.physio).await;
    assert!(matches!(s, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND), "{s}");
    assert!(is_outcome(&o));
}

/// A course change through the JSON API, at the course's current version.
async fn change(w: &World, token: &str, patient: &str, course: &str, change: Value) -> Value {
    let v = w.version_of_course(patient, course, &w.gp).await;
    let body = json!({"expected_version": v, "change": change});
    let (s, r) = w.post(&format!("/api/patients/{patient}/courses/{course}/events"), token, body).await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    r
}

fn version_tag(r: &Value) -> String {
    format!("W/\"{}\"", r["meta"]["versionId"].as_str().unwrap())
}

async fn a_referral_is_a_service_request_and_its_handover_a_task(w: World) {
    let (patient, course) = w.patient_with_course().await;
    w.join(&patient, &course, &w.physio_org).await;
    let (_, c) = w.get(&format!("/api/patients/{patient}/courses/{course}"), &w.gp).await;
    let gp_org = c["opened_org"].as_str().unwrap().to_string();
    let step = json!({"kind": "plan_step", "step_kind": "treatment_series", "title": "Holdtræning",
        "owner": {"type": "role", "org": gp_org, "role": "egen læge"}, "due_from": null, "due_by": "2026-04-15",
        "reason": "Lændesmerter", "reason_plain": "Træning gør ryggen stærkere"});
    change(&w, &w.gp, &patient, &course, step).await;
    let (_, tasks) = w.get(&format!("/fhir/Task?patient={patient}"), &w.gp).await;
    let step_task = entries(&tasks).remove(0);
    let step_id = uuid_of(&step_task["id"].as_str().unwrap()[32..]);
    let referral = json!({"question": "Træning af lænd", "findings": "Ingen neurologiske udfald",
        "tried": "Smertestillende", "red_flags_checked": "Alle", "reason_plain": "En fysioterapeut hjælper dig",
        "told_to_expect": "Holdtræning to gange om ugen"});
    change(
        &w,
        &w.gp,
        &patient,
        &course,
        json!({"kind": "propose_handover", "subject": {"type": "step", "step": step_id},
        "to": {"type": "role", "org": w.physio_org, "role": "fysioterapeut"}, "reason": "Træning",
        "respond_by": "2026-03-10", "referral": referral}),
    )
    .await;

    let (_, found) = w.get(&format!("/fhir/ServiceRequest?patient={patient}"), &w.gp).await;
    let requests = entries(&found);
    assert_eq!(requests.len(), 1, "{found}");
    let sr = &requests[0];
    assert_eq!(sr["status"], "active");
    assert_eq!(sr["intent"], "order");
    assert_eq!(sr["code"]["coding"][0]["code"], "3457005");
    assert_eq!(sr["performer"][0]["reference"], format!("Organization/{}", w.physio_org));
    assert_eq!(sr["note"][0]["text"], "Question: Træning af lænd");
    let step_ref = format!("Task/{}", step_task["id"].as_str().unwrap());
    assert_eq!(sr["supportingInfo"][0]["reference"], step_ref, "the step it hands over");
    assert!(sr["patientInstruction"].as_str().unwrap().contains("to gange om ugen"));
    let (_, found) = w.get(&format!("/fhir/Task?patient={patient}&code=handover-step"), &w.gp).await;
    let handovers = entries(&found);
    assert_eq!(handovers.len(), 1, "only the handover has the handover code: {found}");
    let task = &handovers[0];
    assert_eq!(task["status"], "requested");
    assert_eq!(task["focus"]["reference"], format!("Task/{}", step_task["id"].as_str().unwrap()));
    assert_eq!(task["owner"]["reference"], format!("Organization/{}", w.physio_org));
    assert_eq!(task["basedOn"][1]["reference"], format!("ServiceRequest/{}", sr["id"].as_str().unwrap()));
    assert_eq!(task["restriction"]["period"]["end"], "2026-03-10");

    // The receiver answers through FHIR: a decline needs its reason; then accepted,
    // as the same change the JSON API makes.
    let uri = format!("/fhir/Task/{}", task["id"].as_str().unwrap());
    let mut declined = task.clone();
    declined["status"] = json!("rejected");
    let (s, o) = fhir_put_as(&w, &w.physio, &uri, Some(&version_tag(task)), &declined).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{o}");
    let mut accepted = task.clone();
    accepted["status"] = json!("accepted");
    let (s, after) = fhir_put_as(&w, &w.physio, &uri, Some(&version_tag(task)), &accepted).await;
    assert_eq!(s, StatusCode::OK, "{after}");
    assert_eq!(after["status"], "accepted");
    let (_, c) = w.get(&format!("/api/patients/{patient}/courses/{course}"), &w.gp).await;
    assert_eq!(c["care"]["handovers"][0]["state"], "accepted", "{c}");
    assert_eq!(c["care"]["steps"][0]["owner"]["org"], w.physio_org.as_str(), "the step moved to the receiver");
    // Accepted cannot be withdrawn: the domain refuses, and FHIR says so.
    let mut withdrawn = after.clone();
    withdrawn["status"] = json!("cancelled");
    let (s, o) = fhir_put(&w, &uri, Some(&version_tag(&after)), &withdrawn).await;
    assert!(s.is_client_error() && is_outcome(&o), "{s} {o}");
    let (_, sr) = w.get(&format!("/fhir/ServiceRequest/{}", sr["id"].as_str().unwrap()), &w.gp).await;
    assert_eq!(sr["status"], "active", "an accepted referral stays active");
    // The handover's history: proposed, then accepted.
    let (s, h) = w.get(&format!("{uri}/_history"), &w.gp).await;
    assert_eq!(s, StatusCode::OK, "{h}");
    let statuses: Vec<&str> =
        h["entry"].as_array().unwrap().iter().map(|e| e["resource"]["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, vec!["accepted", "requested"], "newest first");
}

async fn messages_diagnoses_stays_and_answers_map_to_their_resources(w: World) {
    use sammen_domain::directory::UserKind;
    use sammen_domain::vocab::{Profession, Sector};
    let (patient, course) = w.patient_with_course().await;
    w.join(&patient, &course, &w.physio_org).await;
    let psychiatry = w.app.add_organisation("Psykiatrien", Sector::HospitalPsychiatry, None).await.unwrap();
    let kind = UserKind::Professional { profession: Profession::Psychiatrist, org: psychiatry.id };
    w.app.add_user("psych", "Anders Lund", kind).await.unwrap();
    let (_, psych) = w.app.issue_token("psych", None).await.unwrap();
    w.join(&patient, &course, &psychiatry.id.to_string()).await;
    let org = psychiatry.id.to_string();
    for (kind, on) in [("admission", "2026-02-21"), ("leave", "2026-02-24"), ("discharge", "2026-02-27")] {
        let episode = json!({"kind": "record_episode", "episode_kind": kind, "org": org, "on": on, "note": ""});
        change(&w, &psych, &patient, &course, episode).await;
    }
    change(
        &w,
        &psych,
        &patient,
        &course,
        json!({"kind": "record_entry", "entry_type": "assessment",
        "category": "diagnoses", "title": "Diagnose", "text": "Depression, moderat", "occurred_on": "2026-02-22"}),
    )
    .await;
    change(
        &w,
        &w.gp,
        &patient,
        &course,
        json!({"kind": "record_progress", "on": "2026-02-25", "pain": 6,
        "activities": [{"activity": "Gå en tur", "score": 4}]}),
    )
    .await;

    let (_, b) = w.get(&format!("/fhir/EpisodeOfCare?patient={patient}"), &w.gp).await;
    let episodes = entries(&b);
    assert_eq!(episodes.len(), 1, "admission and discharge make one stay: {b}");
    assert_eq!(episodes[0]["status"], "finished");
    assert_eq!(episodes[0]["period"], json!({"start": "2026-02-21", "end": "2026-02-27"}));
    let (_, b) = w.get(&format!("/fhir/Encounter?patient={patient}"), &w.gp).await;
    let stays = entries(&b);
    assert_eq!(stays.len(), 1);
    assert_eq!(stays[0]["class"]["code"], "IMP");
    assert_eq!(stays[0]["statusHistory"][0]["status"], "onleave");
    assert_eq!(
        stays[0]["episodeOfCare"][0]["reference"],
        format!("EpisodeOfCare/{}", episodes[0]["id"].as_str().unwrap())
    );
    let (_, b) = w.get(&format!("/fhir/Condition?patient={patient}"), &w.gp).await;
    let conditions = entries(&b);
    assert_eq!(conditions.len(), 1);
    assert_eq!(conditions[0]["code"]["text"], "Depression, moderat");
    let (_, plan) = w.get(&format!("/fhir/CarePlan?patient={patient}"), &w.gp).await;
    let condition_ref = format!("Condition/{}", conditions[0]["id"].as_str().unwrap());
    assert_eq!(entries(&plan)[0]["addresses"][0]["reference"], condition_ref.as_str());
    let (_, b) = w.get(&format!("/fhir/QuestionnaireResponse?patient={patient}"), &w.gp).await;
    let answers = entries(&b);
    assert_eq!(answers.len(), 1);
    assert_eq!(answers[0]["item"][0]["answer"][0]["valueInteger"], 6);
    assert_eq!(answers[0]["item"][1]["item"][0]["text"], "Gå en tur");
    // The physiotherapist is not told about the psychiatric stay; the jobcentre, outside
    // the health domain, sees no diagnosis without the patient's consent.
    for kind in ["EpisodeOfCare", "Encounter"] {
        let (s, b) = w.get(&format!("/fhir/{kind}?patient={patient}"), &w.physio).await;
        assert_eq!(s, StatusCode::OK);
        assert!(entries(&b).is_empty(), "{kind} is withheld from the physiotherapist: {b}");
    }
    let (jobcentre, jobcentre_org) =
        w.professional("jc", Sector::MunicipalEmployment, Profession::JobcentreSocialWorker).await;
    w.join(&patient, &course, &jobcentre_org).await;
    let (s, b) = w.get(&format!("/fhir/Condition?patient={patient}"), &jobcentre).await;
    assert_eq!(s, StatusCode::OK);
    assert!(entries(&b).is_empty(), "no diagnosis crosses to the jobcentre without consent: {b}");

    // A thread and its answer: two Communications, the answer in response to the question.
    let to = json!({"type": "role", "org": w.physio_org, "role": "fysioterapeut"});
    let (s, t) = w
        .post(
            &format!("/api/patients/{patient}/courses/{course}/threads"),
            &w.gp,
            json!({"category": "care_coordination",
            "subject": "Træningen", "to": [to], "text": "Hvordan går træningen?", "data_category": "plan"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    let thread = t["id"].as_str().unwrap();
    let (s, r) = w
        .post(&format!("/api/patients/{patient}/threads/{thread}/replies"), &w.physio, json!({"text": "Fint, tak."}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    let before = w.audit_count().await;
    let (_, b) =
        w.get(&format!("/fhir/Communication?patient={patient}&category=thread-care_coordination"), &w.physio).await;
    let messages = entries(&b);
    assert_eq!(messages.len(), 2, "{b}");
    assert!(w.audit_count().await > before, "reading messages is audited");
    assert_eq!(messages[0]["payload"][0]["contentString"], "Hvordan går træningen?");
    assert_eq!(messages[0]["topic"]["text"], "Træningen");
    assert_eq!(messages[0]["recipient"][0]["reference"], format!("Organization/{}", w.physio_org));
    let question = format!("Communication/{}", messages[0]["id"].as_str().unwrap());
    assert_eq!(messages[1]["inResponseTo"][0]["reference"], question.as_str());
    // Reading through FHIR does not mark the thread read for the recipient.
    let (_, list) = w.get(&format!("/api/patients/{patient}/courses/{course}/threads"), &w.gp).await;
    assert_eq!(list["threads"][0]["messages"], 2);
    // A Communication in response to one of them is a reply in its thread, once per
    // client message id.
    let answer = format!("Communication/{}", messages[1]["id"].as_str().unwrap());
    let reply = json!({"resourceType": "Communication", "status": "completed",
        "identifier": [{"value": "gp-system-1"}],
        "subject": {"reference": format!("Patient/{patient}")},
        "inResponseTo": [{"reference": answer}],
        "payload": [{"contentString": "Godt at høre."}]});
    let (s, made) = fhir_post(&w, "/fhir/Communication", &w.gp, &reply, "application/fhir+json").await;
    assert_eq!(s, StatusCode::CREATED, "{made}");
    assert_eq!(made["payload"][0]["contentString"], "Godt at høre.");
    assert_eq!(made["inResponseTo"][0]["reference"], answer.as_str());
    assert_eq!(made["sender"]["reference"].as_str().unwrap().split('/').next(), Some("Practitioner"));
    let (s, again) = fhir_post(&w, "/fhir/Communication", &w.gp, &reply, "application/fhir+json").await;
    assert!(s.is_success(), "{again}");
    assert_eq!(again["id"], made["id"], "the same client message id stores one reply");
    let (_, list) = w.get(&format!("/api/patients/{patient}/courses/{course}/threads"), &w.gp).await;
    assert_eq!(list["threads"][0]["messages"], 3, "the same reply the messages API shows: {list}");
    // What FHIR cannot say in Sammen's terms is refused, and nothing is stored.
    let mut no_answer = reply.clone();
    no_answer.as_object_mut().unwrap().remove("inResponseTo");
    no_answer["identifier"][0]["value"] = json!("gp-system-2");
    let mut attached = reply.clone();
    attached["payload"] = json!([{"contentAttachment": {"contentType": "application/pdf", "title": "x.pdf"}}]);
    attached["identifier"][0]["value"] = json!("gp-system-3");
    let mut unknown = reply.clone();
    unknown["inResponseTo"][0]["reference"] = json!(format!("Communication/{}", "0".repeat(64)));
    unknown["identifier"][0]["value"] = json!("gp-system-4");
    for bad in [no_answer, attached, unknown] {
        let (s, o) = fhir_post(&w, "/fhir/Communication", &w.gp, &bad, "application/fhir+json").await;
        assert!(s.is_client_error(), "{s} {o}");
        assert_eq!(o["resourceType"], "OperationOutcome");
    }
    let (_, list) = w.get(&format!("/api/patients/{patient}/courses/{course}/threads"), &w.gp).await;
    assert_eq!(list["threads"][0]["messages"], 3, "nothing stored: {list}");
    // $everything holds them all.
    let (_, all) = w.get(&format!("/fhir/Patient/{patient}/$everything?_count=200"), &w.gp).await;
    let types: Vec<String> = all["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resource"]["resourceType"].as_str().unwrap().to_string())
        .collect();
    for t in ["Communication", "Condition", "EpisodeOfCare", "Encounter", "QuestionnaireResponse"] {
        assert!(types.iter().any(|x| x == t), "$everything has {t}: {types:?}");
    }
}

async fn professionals_and_roles_say_how_to_reach_them(w: World) {
    let route = json!([{"holder": {"type": "professional", "user": Value::Null}, "kind": "phone",
        "address": "+45 70 11 22 33", "hours": [{"days": [1, 2, 3, 4, 5], "from": "08:00", "to": "09:00"}],
        "answer_within_hours": 0}]);
    let (_, me) = w.get("/api/me", &w.gp).await;
    let mut routes = route.clone();
    routes[0]["holder"]["user"] = me["user"].clone();
    let (s, r) = w.call(Method::PUT, "/api/me/contact-routes", Some(&w.gp), Some(routes)).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let (s, b) = w.get("/fhir/PractitionerRole", &w.gp).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let roles = entries(&b);
    assert_eq!(roles.len(), 2, "one per professional: {b}");
    let gp = roles.iter().find(|r| r["telecom"].is_array()).expect("the GP's phone");
    assert_eq!(gp["telecom"][0], json!({"system": "phone", "value": "+45 70 11 22 33", "use": "work"}));
    assert_eq!(gp["availableTime"][0]["daysOfWeek"], json!(["mon", "tue", "wed", "thu", "fri"]));
    assert_eq!(gp["availableTime"][0]["availableStartTime"], "08:00:00");
    let (s, one) = w.get(&format!("/fhir/PractitionerRole/{}", gp["id"].as_str().unwrap()), &w.gp).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(&one, gp);
    let (s, _) = w.get("/fhir/PractitionerRole", "not-a-token").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

async fn a_patients_name_is_corrected_from_its_current_version(w: World) {
    let (patient, _) = w.patient_with_course().await;
    let uri = format!("/fhir/Patient/{patient}");
    let (_, before) = w.get(&uri, &w.gp).await;
    let mut renamed = before.clone();
    renamed["name"][0]["text"] = json!("Jens Peter Madsen");
    let (s, o) = fhir_put(&w, &uri, None, &renamed).await;
    assert_eq!(s, StatusCode::PRECONDITION_REQUIRED, "{o}");
    let (s, after) = fhir_put(&w, &uri, Some(&version_tag(&before)), &renamed).await;
    assert_eq!(s, StatusCode::OK, "{after}");
    assert_eq!(after["name"][0]["text"], "Jens Peter Madsen");
    assert_eq!(after["name"][0]["given"], json!(["Jens", "Peter"]));
    assert_ne!(after["meta"]["versionId"], before["meta"]["versionId"]);
    let (_, p) = w.get(&format!("/api/patients/{patient}"), &w.gp).await;
    assert_eq!(p["name"], "Jens Peter Madsen", "the same correction the JSON API makes: {p}");
    // From the old version again: stale. A changed CPR number: refused. Nothing changes.
    let mut again = before.clone();
    again["name"][0]["text"] = json!("Jens Madsen Hansen");
    let (s, o) = fhir_put(&w, &uri, Some(&version_tag(&before)), &again).await;
    assert_eq!(s, StatusCode::PRECONDITION_FAILED, "{o}");
    let mut other_cpr = after.clone();
    other_cpr["identifier"][0]["value"] = json!("0101801234");
    let (s, o) = fhir_put(&w, &uri, Some(&version_tag(&after)), &other_cpr).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{o}");
    assert!(!o.to_string().contains("0101801234"), "the number is not echoed");
    let (_, now) = w.get(&uri, &w.gp).await;
    assert_eq!(now["name"][0]["text"], "Jens Peter Madsen");
    // The history has both names, newest first; vread reads the old one.
    let (s, h) = w.get(&format!("{uri}/_history"), &w.gp).await;
    assert_eq!(s, StatusCode::OK, "{h}");
    let names: Vec<&str> =
        h["entry"].as_array().unwrap().iter().map(|e| e["resource"]["name"][0]["text"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["Jens Peter Madsen", "Jens Madsen"]);
    // A read shows the patient's own version and when it was made, as the history does
    // (a change to a course is not a change to the Patient resource).
    assert_eq!(now["meta"], h["entry"][0]["resource"]["meta"]);
    assert!(now["meta"]["lastUpdated"].is_string(), "{now}");
    let first = before["meta"]["versionId"].as_str().unwrap();
    let (s, old) = w.get(&format!("{uri}/_history/{first}"), &w.gp).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(old["name"][0]["text"], "Jens Madsen");
    // Someone not on the team can neither read the history nor correct the name.
    let (s, _) = w.get(&format!("{uri}/_history"), &w.physio).await;
    assert!(matches!(s, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND), "{s}");
    let (s, _) = fhir_put_as(&w, &w.physio, &uri, Some(&version_tag(&now)), &now).await;
    assert!(matches!(s, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND), "{s}");
}

async fn progress_is_recorded_as_answers_to_the_progress_questionnaire(w: World) {
    let (patient, _) = w.patient_with_course().await;
    let answers = json!({
        "resourceType": "QuestionnaireResponse",
        "questionnaire": "https://sammen.dk/fhir/Questionnaire/progress",
        "status": "completed",
        "subject": {"reference": format!("Patient/{patient}")},
        "authored": "2026-02-28",
        "item": [
            {"linkId": "pain", "answer": [{"valueInteger": 5}]},
            {"linkId": "psfs", "item": [{"linkId": "psfs-1", "text": "Cykle på arbejde", "answer": [{"valueInteger": 3}]}]},
        ],
    });
    let count = |b: &Value| entries(b).len();
    // Refused whole, nothing stored: another questionnaire, an item it does not have, a
    // score out of range.
    let mut other = answers.clone();
    other["questionnaire"] = json!("http://example.org/Questionnaire/phq-9");
    let (s, o) = fhir_post(&w, "/fhir/QuestionnaireResponse", &w.gp, &other, "application/fhir+json").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{o}");
    let mut unknown = answers.clone();
    unknown["item"][0]["linkId"] = json!("mood");
    let (s, o) = fhir_post(&w, "/fhir/QuestionnaireResponse", &w.gp, &unknown, "application/fhir+json").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{o}");
    let mut too_high = answers.clone();
    too_high["item"][0]["answer"][0]["valueInteger"] = json!(11);
    let (s, o) = fhir_post(&w, "/fhir/QuestionnaireResponse", &w.gp, &too_high, "application/fhir+json").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{o}");
    // Pain answered twice, or two answers to it: which did the patient mean?
    let mut twice = answers.clone();
    twice["item"].as_array_mut().unwrap().push(json!({"linkId": "pain", "answer": [{"valueInteger": 2}]}));
    let mut two_answers = answers.clone();
    two_answers["item"][0]["answer"] = json!([{"valueInteger": 5}, {"valueInteger": 2}]);
    for body in [twice, two_answers] {
        let (s, o) = fhir_post(&w, "/fhir/QuestionnaireResponse", &w.gp, &body, "application/fhir+json").await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{o}");
    }
    let (_, none) = w.get(&format!("/fhir/QuestionnaireResponse?patient={patient}"), &w.gp).await;
    assert_eq!(count(&none), 0, "nothing was stored: {none}");

    let (s, made) = fhir_post(&w, "/fhir/QuestionnaireResponse", &w.gp, &answers, "application/fhir+json").await;
    assert_eq!(s, StatusCode::CREATED, "{made}");
    assert_eq!(made["item"][0]["answer"][0]["valueInteger"], 5);
    assert_eq!(made["item"][1]["item"][0]["text"], "Cykle på arbejde");
    assert_eq!(made["authored"], "2026-02-28");
    // The same measurement the JSON API records: read back as an Observation too.
    let (_, obs) = w.get(&format!("/fhir/Observation?patient={patient}"), &w.gp).await;
    let obs = entries(&obs);
    assert_eq!(obs.len(), 1);
    assert_eq!(obs[0]["valueInteger"], 5);
    assert_eq!(obs[0]["component"][0]["valueInteger"], 3);
    let (s, read) = w.get(&format!("/fhir/QuestionnaireResponse/{}", made["id"].as_str().unwrap()), &w.gp).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(read, made);
}

async fn a_diagnosis_is_recorded_as_written(w: World) {
    let (patient, course) = w.patient_with_course().await;
    let diagnosis = json!({
        "resourceType": "Condition",
        "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                                            "code": "confirmed"}]},
        "code": {"coding": [{"system": "urn:oid:1.2.208.176.2.4", "code": "DM545", "display": "Lumbago"}]},
        "subject": {"reference": format!("Patient/{patient}")},
        "onsetDateTime": "2026-02-18",
    });
    let mut refuted = diagnosis.clone();
    refuted["verificationStatus"]["coding"][0]["code"] = json!("refuted");
    let (s, o) = fhir_post(&w, "/fhir/Condition", &w.gp, &refuted, "application/fhir+json").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{o}");
    let mut unworded = diagnosis.clone();
    unworded["code"] = json!({"coding": [{"system": "urn:oid:1.2.208.176.2.4", "code": "DM545"}]});
    let (s, o) = fhir_post(&w, "/fhir/Condition", &w.gp, &unworded, "application/fhir+json").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{o}");
    let (_, none) = w.get(&format!("/fhir/Condition?patient={patient}"), &w.gp).await;
    assert!(entries(&none).is_empty(), "nothing was stored: {none}");

    let (s, made) = fhir_post(&w, "/fhir/Condition", &w.gp, &diagnosis, "application/fhir+json").await;
    assert_eq!(s, StatusCode::CREATED, "{made}");
    assert_eq!(made["code"]["text"], "Lumbago");
    assert_eq!(made["onsetDateTime"], "2026-02-18");
    let (_, plan) = w.get(&format!("/fhir/CarePlan?patient={patient}"), &w.gp).await;
    let addressed = format!("Condition/{}", made["id"].as_str().unwrap());
    assert_eq!(entries(&plan)[0]["addresses"][0]["reference"], addressed.as_str());
    // The same entry the JSON API records, in the diagnoses category.
    let (_, c) = w.get(&format!("/api/patients/{patient}/courses/{course}"), &w.gp).await;
    let entry = c["entries"].as_array().unwrap().iter().find(|e| e["category"] == "diagnoses").expect("an entry");
    assert_eq!(entry["text"], "Lumbago", "{c}");
    let (_, record) = w.get(&format!("/fhir/Patient/{patient}/$everything?_count=200"), &w.gp).await;
    let found = record["entry"].as_array().unwrap().iter().any(|e| e["resource"]["id"] == made["id"]);
    assert!(found, "$everything has the diagnosis");
}

fn count_of(bundle: &Value) -> usize {
    bundle["entry"].as_array().map_or(0, Vec::len)
}

async fn a_referral_is_created_as_a_service_request(w: World) {
    let (patient, course) = w.patient_with_course().await;
    w.join(&patient, &course, &w.physio_org).await;
    let referral = json!({
        "resourceType": "ServiceRequest",
        "status": "active",
        "intent": "order",
        "code": {"text": "Genoptræning af lænden"},
        "subject": {"reference": format!("Patient/{patient}")},
        "performer": [{"reference": format!("Organization/{}", w.physio_org), "display": "fysioterapeut"}],
        "note": [{"text": "Question: Træning med henblik på arbejde"}, {"text": "Findings: Ingen udfald"}],
        "patientInstruction": "En fysioterapeut hjælper dig med øvelser.\n\nHoldtræning to gange om ugen.",
    });
    let uri = "/fhir/ServiceRequest";
    // Refused, each with its reason, and nothing stored.
    let mut no_receiver = referral.clone();
    no_receiver.as_object_mut().unwrap().remove("performer");
    let mut proposal = referral.clone();
    proposal["intent"] = json!("proposal");
    let mut no_plain_words = referral.clone();
    no_plain_words.as_object_mut().unwrap().remove("patientInstruction");
    let mut role_unnamed = referral.clone();
    role_unnamed["performer"][0].as_object_mut().unwrap().remove("display");
    let mut unknown_element = referral.clone();
    unknown_element["urgency"] = json!("high");
    for (bad, says) in [
        (&no_receiver, "performer"),
        (&proposal, "intent"),
        (&no_plain_words, "patientInstruction"),
        (&role_unnamed, "display"),
        (&unknown_element, "urgency"),
    ] {
        let (s, o) = fhir_post(&w, uri, &w.gp, bad, "application/fhir+json").await;
        assert!(s.is_client_error() && is_outcome(&o), "{s} {o}");
        assert!(o["issue"][0]["diagnostics"].as_str().unwrap().contains(says), "{says}: {o}");
    }
    let (_, found) = w.get(&format!("/fhir/ServiceRequest?patient={patient}"), &w.gp).await;
    assert_eq!(count_of(&found), 0, "{found}");

    let (s, sr) = fhir_post(&w, uri, &w.gp, &referral, "application/fhir+json").await;
    assert_eq!(s, StatusCode::CREATED, "{sr}");
    assert_eq!(sr["status"], "active");
    assert_eq!(sr["code"]["text"], "Genoptræning af lænden");
    assert_eq!(sr["performer"], referral["performer"]);
    assert_eq!(sr["note"], referral["note"]);
    assert_eq!(sr["patientInstruction"], referral["patientInstruction"]);
    assert!(sr.get("supportingInfo").is_none(), "it hands over the course, not a step: {sr}");
    let (_, read) = w.get(&format!("/fhir/ServiceRequest/{}", sr["id"].as_str().unwrap()), &w.gp).await;
    assert_eq!(read, sr, "read back as created");
    // The same handover the JSON API makes, with its referral and the receiver's Task.
    let (_, c) = w.get(&format!("/api/patients/{patient}/courses/{course}"), &w.gp).await;
    let h = &c["care"]["handovers"][0];
    assert_eq!(h["subject"]["type"], "course", "{c}");
    assert_eq!(h["referral"]["question"], "Træning med henblik på arbejde");
    assert_eq!(h["referral"]["told_to_expect"], "Holdtræning to gange om ugen.");
    let (_, tasks) = w.get(&format!("/fhir/Task?patient={patient}&code=handover-course"), &w.gp).await;
    assert_eq!(count_of(&tasks), 1, "{tasks}");
    // Sent again: the domain refuses a second open handover of the same thing.
    let (s, o) = fhir_post(&w, uri, &w.gp, &referral, "application/fhir+json").await;
    assert!(s.is_client_error() && is_outcome(&o), "{s} {o}");
    let (_, found) = w.get(&format!("/fhir/ServiceRequest?patient={patient}"), &w.gp).await;
    assert_eq!(count_of(&found), 1, "{found}");
}

async fn stays_and_periods_of_care_are_created_whole(w: World) {
    use sammen_domain::directory::UserKind;
    use sammen_domain::vocab::{Profession, Sector};
    let (patient, course) = w.patient_with_course().await;
    let hospital = w.app.add_organisation("Psykiatrien", Sector::HospitalPsychiatry, None).await.unwrap();
    let kind = UserKind::Professional { profession: Profession::Psychiatrist, org: hospital.id };
    w.app.add_user("psych", "Anders Lund", kind).await.unwrap();
    let (_, psych) = w.app.issue_token("psych", None).await.unwrap();
    w.join(&patient, &course, &hospital.id.to_string()).await;
    let episodes = |c: &Value| c["care"]["episodes"].as_array().map_or(0, Vec::len);
    let stay = json!({
        "resourceType": "Encounter",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
        "subject": {"reference": format!("Patient/{patient}")},
        "period": {"start": "2026-02-21", "end": "2026-02-27"},
        "statusHistory": [{"status": "onleave", "period": {"start": "2026-02-24"}}],
        "serviceProvider": {"reference": format!("Organization/{}", hospital.id)},
    });
    // A discharge in the future is refused by the domain after the admission was
    // accepted: the stay is one unit, so nothing of it lands.
    let mut ahead = stay.clone();
    ahead["period"]["end"] = json!("2026-03-05");
    let (s, o) = fhir_post(&w, "/fhir/Encounter", &psych, &ahead, "application/fhir+json").await;
    assert!(s.is_client_error() && is_outcome(&o), "{s} {o}");
    let mut outside = stay.clone();
    outside["statusHistory"][0]["period"]["start"] = json!("2026-02-28");
    let (s, o) = fhir_post(&w, "/fhir/Encounter", &psych, &outside, "application/fhir+json").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{o}");
    let mut outpatient = stay.clone();
    outpatient["class"]["code"] = json!("AMB");
    let (s, o) = fhir_post(&w, "/fhir/Encounter", &psych, &outpatient, "application/fhir+json").await;
    assert!(o["issue"][0]["diagnostics"].as_str().unwrap().contains("IMP"), "{s} {o}");
    let (_, c) = w.get(&format!("/api/patients/{patient}/courses/{course}"), &w.gp).await;
    assert_eq!(episodes(&c), 0, "nothing stored: {c}");

    let (s, enc) = fhir_post(&w, "/fhir/Encounter", &psych, &stay, "application/fhir+json").await;
    assert_eq!(s, StatusCode::CREATED, "{enc}");
    assert_eq!(enc["status"], "finished");
    assert_eq!(enc["period"], stay["period"]);
    assert_eq!(enc["statusHistory"], stay["statusHistory"]);
    assert_eq!(enc["serviceProvider"], stay["serviceProvider"]);
    let (_, c) = w.get(&format!("/api/patients/{patient}/courses/{course}"), &w.gp).await;
    assert_eq!(episodes(&c), 3, "admission, leave and discharge: {c}");
    // The stay is also an inpatient EpisodeOfCare, under the same id.
    let id = enc["id"].as_str().unwrap();
    let (s, eoc) = w.get(&format!("/fhir/EpisodeOfCare/{id}"), &psych).await;
    assert_eq!(s, StatusCode::OK, "{eoc}");
    assert_eq!(eoc["type"][0]["coding"][0]["code"], "episode-inpatient");

    // Sick leave, begun and still going, on the course its CareTeam names.
    let (_, teams) = w.get(&format!("/fhir/CareTeam?patient={patient}"), &w.gp).await;
    let team = entries(&teams)[0]["id"].as_str().unwrap().to_string();
    let (_, c) = w.get(&format!("/api/patients/{patient}/courses/{course}"), &w.gp).await;
    let gp_org = c["opened_org"].as_str().unwrap().to_string();
    let leave = json!({
        "resourceType": "EpisodeOfCare",
        "status": "active",
        "type": [{"coding": [{"system": "https://sammen.dk/fhir/CodeSystem/sammen", "code": "episode-sick-leave"}]}],
        "patient": {"reference": format!("Patient/{patient}")},
        "managingOrganization": {"reference": format!("Organization/{gp_org}")},
        "period": {"start": "2026-02-10"},
        "team": [{"reference": format!("CareTeam/{team}")}],
    });
    let mut with_end = leave.clone();
    with_end["period"]["end"] = json!("2026-02-20");
    let (s, o) = fhir_post(&w, "/fhir/EpisodeOfCare", &w.gp, &with_end, "application/fhir+json").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "an active episode has no end: {o}");
    let mut untyped = leave.clone();
    untyped["type"] = json!([{"text": "Sygemelding"}]);
    let (s, o) = fhir_post(&w, "/fhir/EpisodeOfCare", &w.gp, &untyped, "application/fhir+json").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{o}");
    let (s, eoc) = fhir_post(&w, "/fhir/EpisodeOfCare", &w.gp, &leave, "application/fhir+json").await;
    assert_eq!(s, StatusCode::CREATED, "{eoc}");
    assert_eq!(eoc["status"], "active");
    assert_eq!(eoc["period"], leave["period"]);
    assert_eq!(eoc["team"], leave["team"]);
    let (_, read) = w.get(&format!("/fhir/EpisodeOfCare/{}", eoc["id"].as_str().unwrap()), &w.gp).await;
    assert_eq!(read, eoc, "read back as created");
    let (_, c) = w.get(&format!("/api/patients/{patient}/courses/{course}"), &w.gp).await;
    assert_eq!(episodes(&c), 4, "{c}");
}

async fn thread_count(w: &World, patient: &str, course: &str) -> usize {
    let (_, list) = w.get(&format!("/api/patients/{patient}/courses/{course}/threads"), &w.gp).await;
    list["threads"].as_array().map_or(0, Vec::len)
}

async fn a_communication_starts_a_thread_to_whom_it_names(w: World) {
    let (patient, course) = w.patient_with_course().await;
    w.join(&patient, &course, &w.physio_org).await;
    let (_, plans) = w.get(&format!("/fhir/CarePlan?patient={patient}"), &w.gp).await;
    let plan = entries(&plans)[0]["id"].as_str().unwrap().to_string();
    // No inResponseTo: a new thread about the course named, to the role named, on the
    // kind of thread named; sent twice with one client message id, one thread.
    let start = json!({"resourceType": "Communication", "status": "completed",
        "identifier": [{"value": "gp-system-thread-1"}],
        "subject": {"reference": format!("Patient/{patient}")},
        "about": [{"reference": format!("CarePlan/{plan}")}],
        "category": [{"coding": [{"system": "https://sammen.dk/fhir/CodeSystem/sammen", "code": "thread-medication"}]}],
        "topic": {"text": "Smertestillende"},
        "recipient": [{"reference": format!("Organization/{}", w.physio_org), "display": "fysioterapeut"}],
        "payload": [{"contentString": "Tager hun stadig sin smertestillende medicin?"}]});
    let (s, made) = fhir_post(&w, "/fhir/Communication", &w.gp, &start, "application/fhir+json").await;
    assert_eq!(s, StatusCode::CREATED, "{made}");
    assert_eq!(made["topic"]["text"], "Smertestillende");
    assert_eq!(made["category"][0]["coding"][0]["code"], "thread-medication");
    assert_eq!(made["recipient"], start["recipient"]);
    assert_eq!(made["about"], start["about"]);
    assert_eq!(made["payload"], start["payload"]);
    assert!(made.get("inResponseTo").is_none(), "the first message answers nothing: {made}");
    let (s, again) = fhir_post(&w, "/fhir/Communication", &w.gp, &start, "application/fhir+json").await;
    assert!(s.is_success(), "{again}");
    assert_eq!(again["id"], made["id"], "the same client message id starts one thread");
    assert_eq!(thread_count(&w, &patient, &course).await, 1);
    // The recipient reads it as the messages page shows it, and answers it through FHIR.
    let (s, read) = w.get(&format!("/fhir/Communication/{}", made["id"].as_str().unwrap()), &w.physio).await;
    assert_eq!(s, StatusCode::OK, "{read}");
    assert_eq!(read["payload"], start["payload"]);
    let answer = json!({"resourceType": "Communication", "status": "completed",
        "subject": {"reference": format!("Patient/{patient}")},
        "inResponseTo": [{"reference": format!("Communication/{}", made["id"].as_str().unwrap())}],
        "payload": [{"contentString": "Ja, efter behov."}]});
    let (s, answered) = fhir_post(&w, "/fhir/Communication", &w.physio, &answer, "application/fhir+json").await;
    assert_eq!(s, StatusCode::CREATED, "{answered}");
    assert_eq!(thread_count(&w, &patient, &course).await, 1, "a reply is in the thread, not a new one");
    // The course's CareTeam as recipient: everyone on it; with the patient's only open
    // course, `about` may be left out.
    let mut to_team = start.clone();
    to_team["identifier"][0]["value"] = json!("gp-system-thread-2");
    to_team.as_object_mut().unwrap().remove("about");
    to_team["recipient"] = json!([{"reference": format!("CareTeam/{plan}")}]);
    let (s, team) = fhir_post(&w, "/fhir/Communication", &w.gp, &to_team, "application/fhir+json").await;
    assert_eq!(s, StatusCode::CREATED, "{team}");
    assert_eq!(team["recipient"][0]["reference"], format!("Organization/{}", w.physio_org), "{team}");
    assert_eq!(thread_count(&w, &patient, &course).await, 2);
    // What it cannot carry out is refused with the reason, and nothing is stored.
    let mut refusals = Vec::new();
    for (i, (element, value)) in [
        ("topic", Value::Null),
        ("recipient", Value::Null),
        ("recipient", json!([{"reference": format!("Practitioner/{}", uuid_of(&"0".repeat(32)))}])),
        ("recipient", json!([{"reference": format!("Organization/{}", w.physio_org)}])),
        ("recipient", json!([{"reference": format!("CareTeam/{}", "0".repeat(64))}])),
        ("about", json!([{"reference": format!("CarePlan/{}{}", &plan[..32], "0".repeat(32))}])),
        (
            "category",
            json!([{"coding": [{"system": "https://sammen.dk/fhir/CodeSystem/sammen", "code": "thread-gossip"}]}]),
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let mut bad = start.clone();
        bad["identifier"][0]["value"] = json!(format!("gp-system-bad-{i}"));
        match value {
            Value::Null => drop(bad.as_object_mut().unwrap().remove(element)),
            v => bad[element] = v,
        }
        let (s, o) = fhir_post(&w, "/fhir/Communication", &w.gp, &bad, "application/fhir+json").await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{element}: {o}");
        assert_eq!(o["resourceType"], "OperationOutcome");
        refusals.push(o["issue"][0]["diagnostics"].as_str().unwrap().to_string());
    }
    assert!(refusals[0].contains("topic.text"), "{refusals:?}");
    assert!(refusals[3].contains("display"), "{refusals:?}");
    assert_eq!(thread_count(&w, &patient, &course).await, 2, "nothing stored");
}

/// A request with a bearer token, a FHIR body and `Prefer` (when given).
fn preferring(method: Method, uri: &str, token: &str, prefer: Option<&str>, body: &Value) -> Request<Body> {
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/fhir+json");
    if let Some(p) = prefer {
        req = req.header("prefer", p);
    }
    req.body(Body::from(body.to_string())).unwrap()
}

fn header<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> &'a str {
    headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_else(|| panic!("no {name} header in {headers:?}"))
}

/// `Prefer: return=minimal` answers a write with its status and headers alone, and
/// `return=OperationOutcome` with what was stored, in words; either way `Location`,
/// `ETag` and `Last-Modified` say where the resource is and which version was stored,
/// and a read of it has the same. In a Bundle it is said once and answered for each write.
async fn a_write_answers_in_the_form_the_client_prefers(w: World) {
    let (patient, _) = w.patient_with_course().await;
    let obs = pain(&patient, json!(5));
    let (s, h, body) =
        w.raw_with_headers(preferring(Method::POST, "/fhir/Observation", &w.gp, Some("return=minimal"), &obs)).await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(body, Value::Null, "nothing but the headers");
    let location = header(&h, "location");
    let path = &location[location.find("/fhir/Observation/").expect("the created resource's address")..];
    let (s, rh, read) = w
        .raw_with_headers(
            Request::get(path).header("authorization", format!("Bearer {}", w.gp)).body(Body::empty()).unwrap(),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{read}");
    assert_eq!(read["valueInteger"], 5, "the minimal answer's Location is where it was stored");
    assert_eq!(header(&h, "etag"), format!("W/\"{}\"", read["meta"]["versionId"].as_str().unwrap()));
    assert_eq!(header(&rh, "etag"), header(&h, "etag"));
    assert_eq!(header(&rh, "last-modified"), header(&h, "last-modified"));
    let modified = header(&h, "last-modified");
    assert!(modified.ends_with(" GMT") && modified.len() == 29, "an HTTP date: {modified}");

    let (s, h, said) = w
        .raw_with_headers(preferring(Method::POST, "/fhir/Observation", &w.gp, Some("return=OperationOutcome"), &obs))
        .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(said["resourceType"], "OperationOutcome", "{said}");
    assert_eq!(said["issue"][0]["severity"], "information");
    let id = &header(&h, "location")[location.find("/fhir/Observation/").unwrap() + "/fhir/Observation/".len()..];
    assert!(said["issue"][0]["diagnostics"].as_str().unwrap().contains(&format!("Observation/{id}")), "{said}");
    // An unknown preference is the default: the resource as stored.
    let (s, _, whole) =
        w.raw_with_headers(preferring(Method::POST, "/fhir/Observation", &w.gp, Some("return=everything"), &obs)).await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(whole["valueInteger"], 5, "{whole}");

    // An update: the new version in the headers, no body.
    let uri = format!("/fhir/Patient/{patient}");
    let (_, before) = w.get(&uri, &w.gp).await;
    let mut renamed = before.clone();
    renamed["name"][0]["text"] = json!("Jens Peter Madsen");
    let req = preferring(Method::PUT, &uri, &w.gp, Some("return=minimal"), &renamed);
    let (mut parts, body) = req.into_parts();
    parts.headers.insert("if-match", version_tag(&before).parse().unwrap());
    let (s, h, body) = w.raw_with_headers(Request::from_parts(parts, body)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body, Value::Null);
    let (_, after) = w.get(&uri, &w.gp).await;
    assert_eq!(after["name"][0]["text"], "Jens Peter Madsen");
    assert_eq!(header(&h, "etag"), version_tag(&after));

    // A transaction: each write's answer without its resource, but with where and which
    // version; a batch's read still answers with what it found.
    let bundle = transaction(vec![entry("urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0", "Observation", obs.clone())]);
    let (s, _, b) = w.raw_with_headers(preferring(Method::POST, "/fhir", &w.gp, Some("return=minimal"), &bundle)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let answer = &b["entry"][0];
    assert!(answer.get("resource").is_none(), "{answer}");
    assert!(answer["response"]["location"].as_str().unwrap().starts_with("Observation/"), "{answer}");
    assert!(answer["response"]["etag"].is_string() && answer["response"]["lastModified"].is_string(), "{answer}");
    let (_, _, b) =
        w.raw_with_headers(preferring(Method::POST, "/fhir", &w.gp, Some("return=OperationOutcome"), &bundle)).await;
    assert_eq!(b["entry"][0]["response"]["outcome"]["issue"][0]["severity"], "information", "{b}");
    assert!(b["entry"][0].get("resource").is_none());
    let batch = json!({"resourceType": "Bundle", "type": "batch", "entry": [
        {"resource": obs, "request": {"method": "POST", "url": "Observation"}},
        {"request": {"method": "GET", "url": format!("Observation?patient={patient}")}},
    ]});
    let (_, _, b) = w.raw_with_headers(preferring(Method::POST, "/fhir", &w.gp, Some("return=minimal"), &batch)).await;
    assert!(b["entry"][0].get("resource").is_none(), "{b}");
    // Six measurements by now: three single creates, two transactions and this batch.
    assert_eq!(entries(&b["entry"][1]["resource"]).len(), 6, "the read's answer is whole: {b}");
}
