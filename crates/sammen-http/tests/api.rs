//! The JSON API in-process, through the router, on both engines: a fresh database per
//! test. Each test is written once and generated for SQLite and PostgreSQL.

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::json;
use time::Duration;
use tower::ServiceExt;

use common::{json_req, note, World};
use sammen_domain::directory::UserKind;
use sammen_store::EventFilter;

on_both_engines!(
    health_names_the_engine,
    tokens_are_required_and_checked,
    a_course_is_written_and_read_back_with_history,
    a_stale_version_is_refused_and_changes_nothing,
    bad_input_gets_clear_errors_and_writes_nothing,
    strangers_cannot_tell_a_patient_exists,
    patients_read_their_own_record_but_do_not_write,
    every_read_and_write_is_audited,
    the_trail_is_indexed_by_patient_when_the_writer_is_idle,
);

async fn health_names_the_engine(w: World) {
    let (s, v) = w.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["status"], "ok");
    assert_eq!(v["engine"], w.app.store().engine().to_string());
    assert_eq!(v["schema_version"], 8);
    // Nothing at an address: a page for a browser, JSON for a program.
    let (s, v) = w.call(Method::GET, "/no-such-page", None, None).await;
    assert_eq!((s, v["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("no_route")));
    let res = w
        .router
        .clone()
        .oneshot(Request::get("/no-such-page").header("accept", "text/html,*/*").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let page = String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    assert!(page.contains("Siden findes ikke."), "{page}");
}

async fn tokens_are_required_and_checked(w: World) {
    let (s, v) = w.call(Method::GET, "/api/me", None, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(v["error"]["code"], "unauthenticated");
    let (s, _) = w.get("/api/me", "smn_not-a-real-token").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, v) = w.get("/api/me", &w.gp).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["login"], "gp");
    assert_eq!(v["organisation"]["sector"], "general_practice");
    assert_eq!(v["organisation"]["legal_domain"], "health");
    assert_eq!(v["purpose"], "treatment");

    // Expiry follows the injected clock.
    let (_, short) = w.app.issue_token("gp", Some(Duration::minutes(30))).await.unwrap();
    assert_eq!(w.get("/api/me", &short).await.0, StatusCode::OK);
    w.clock.advance(Duration::minutes(31));
    assert_eq!(w.get("/api/me", &short).await.0, StatusCode::UNAUTHORIZED);

    // Revoked, and a disabled user's tokens, stop at once.
    let (token, secret) = w.app.issue_token("gp", None).await.unwrap();
    w.app.revoke_token(&token.id).await.unwrap();
    assert_eq!(w.get("/api/me", &secret).await.0, StatusCode::UNAUTHORIZED);
    w.app.set_user_disabled("physio", true).await.unwrap();
    assert_eq!(w.get("/api/me", &w.physio).await.0, StatusCode::UNAUTHORIZED);
}

async fn a_course_is_written_and_read_back_with_history(w: World) {
    let (patient, course) = w.patient_with_course().await;
    let base = format!("/api/patients/{patient}/courses/{course}");
    let (s, c) = w.get(&base, &w.gp).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(c["version"], 2);
    assert_eq!(c["team"].as_array().unwrap().len(), 1);
    assert_eq!(c["team"][0]["role"], "general practice");

    let (s, r) = w.post(&format!("{base}/events"), &w.gp, note(2, "Første konsultation")).await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    assert_eq!(r["course"]["version"], 3);
    assert_eq!(r["events"][0]["body"]["kind"], "entry_recorded");
    assert_eq!(r["events"][0]["category"], "clinical_findings");
    let item = r["events"][0]["item"].as_str().unwrap().to_string();

    let correction = json!({"expected_version": 3, "change": {"kind": "correct_entry", "item": item,
        "title": "Første konsultation", "text": "Ingen røde flag. Ingen udstråling.", "reason": "Fund tilføjet"}});
    let (s, r) = w.post(&format!("{base}/events"), &w.gp, correction).await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    assert_eq!(r["course"]["entries"][0]["text"], "Ingen røde flag. Ingen udstråling.");
    assert_eq!(r["course"]["entries"][0]["revision"], 2);

    // The item's whole history: the first wording is still there.
    let (s, h) = w.get(&format!("{base}/history?item={item}"), &w.gp).await;
    assert_eq!(s, StatusCode::OK);
    let h = h["events"].as_array().unwrap();
    assert_eq!(h.len(), 2);
    assert_eq!(h[0]["body"]["data"]["text"], "Ingen røde flag.");
    assert_eq!(h[1]["body"]["kind"], "entry_corrected");
    assert_eq!(h[1]["body"]["data"]["reason"], "Fund tilføjet");
    // The whole course: opened, team joined, recorded, corrected; positions from 2.
    let (_, all) = w.get(&format!("{base}/history"), &w.gp).await;
    let seqs: Vec<u64> = all["events"].as_array().unwrap().iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, [2, 3, 4, 5]);

    // Adding the physiotherapists to the team lets them in.
    assert_eq!(w.get(&base, &w.physio).await.0, StatusCode::NOT_FOUND);
    let join = json!({"expected_version": 4, "change": {"kind": "join_care_team",
        "member": {"type": "organisation", "org": w.physio_org}, "role": "fysioterapi"}});
    let (s, r) = w.post(&format!("{base}/events"), &w.gp, join).await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    assert_eq!(w.get(&base, &w.physio).await.0, StatusCode::OK);
    let (s, p) = w.get(&format!("/api/patients/{patient}"), &w.physio).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(p["courses"][0]["title"], "Lændesmerter");
}

async fn a_stale_version_is_refused_and_changes_nothing(w: World) {
    let (patient, course) = w.patient_with_course().await;
    let base = format!("/api/patients/{patient}/courses/{course}");
    assert_eq!(w.post(&format!("{base}/events"), &w.gp, note(2, "Først")).await.0, StatusCode::CREATED);
    let (s, v) = w.post(&format!("{base}/events"), &w.gp, note(2, "Samtidig")).await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(v["error"]["code"], "conflict");
    assert!(v["error"]["message"].as_str().unwrap().contains("version 2"));
    let (_, c) = w.get(&base, &w.gp).await;
    assert_eq!(c["version"], 3);
    assert_eq!(c["entries"].as_array().unwrap().len(), 1);
    assert_eq!(c["entries"][0]["title"], "Først");

    let (s, v) = w
        .call(
            Method::PUT,
            &format!("/api/patients/{patient}/identity"),
            Some(&w.gp),
            Some(json!({"expected_version": 7, "name": "Jens Otto Madsen", "reason": "Mellemnavn"})),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    let (s, v) = w
        .call(
            Method::PUT,
            &format!("/api/patients/{patient}/identity"),
            Some(&w.gp),
            Some(json!({"expected_version": 1, "name": "Jens Otto Madsen", "reason": "Mellemnavn"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["name"], "Jens Otto Madsen");
    assert_eq!(v["version"], 2);
}

async fn bad_input_gets_clear_errors_and_writes_nothing(w: World) {
    let (patient, course) = w.patient_with_course().await;
    let base = format!("/api/patients/{patient}/courses/{course}");
    let events_before = w.app.store().events(patient.parse().unwrap(), EventFilter::default()).await.unwrap().len();

    // An invalid CPR number: refused, and the digits are not repeated back.
    let (s, v) = w.post("/api/patients", &w.gp, json!({"cpr": "3102801234", "name": "X"})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let text = v.to_string();
    assert!(text.contains("CPR number is not valid") && !text.contains("3102801234"), "{text}");
    // The same CPR number twice.
    let (s, v) = w.post("/api/patients", &w.gp, json!({"cpr": "1204791437", "name": "Igen"})).await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(v["error"]["code"], "duplicate");

    let cases: Vec<(Request<Body>, StatusCode, &str)> = vec![
        (
            json_req(&format!("{base}/events"), &w.gp, "{\"expected_version\": 2,"),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            json_req(
                &format!("{base}/events"),
                &w.gp,
                r#"{"expected_version": 2, "change": {"kind": "record_entry"}}"#,
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
        ),
        (
            json_req(&format!("{base}/events"), &w.gp, r#"{"expected_version": 2, "change": {"kind": "burn_it"}}"#),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
        ),
        (
            json_req(
                &format!("{base}/events"),
                &w.gp,
                r#"{"expected_version": 2, "extra": 1, "change": {"kind": "close_course", "reason": "x"}}"#,
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
        ),
        (
            json_req(&format!("{base}/events"), &w.gp, &note(2, "   ").to_string()),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        // A control character (PostgreSQL cannot even store a NUL).
        (
            json_req(&format!("{base}/events"), &w.gp, &note(2, "a\u{0}b\u{1b}[31m").to_string()),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        // A day no one means: before 1900.
        (
            json_req(
                &format!("{base}/events"),
                &w.gp,
                &{
                    let mut n = note(2, "x");
                    n["change"]["occurred_on"] = json!("0001-01-01");
                    n
                }
                .to_string(),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            json_req(&format!("{base}/events"), &w.gp, &note(2, &"x".repeat(300_000)).to_string()),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
        (
            json_req(
                "/api/patients/not-an-id/courses",
                &w.gp,
                r#"{"title":"t","reason":"r","started_on":"2026-01-01"}"#,
            ),
            StatusCode::BAD_REQUEST,
            "invalid_id",
        ),
        (
            json_req(
                &format!("/api/patients/{patient}/courses/00000000-0000-4000-8000-000000000000/events"),
                &w.gp,
                &note(2, "x").to_string(),
            ),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            json_req(
                "/api/patients/00000000-0000-4000-8000-000000000000/courses",
                &w.gp,
                r#"{"title":"t","reason":"r","started_on":"2026-01-01"}"#,
            ),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            json_req(
                &format!("/api/patients/{patient}/courses"),
                &w.gp,
                r#"{"title":"t","reason":"r","started_on":"2027-01-01"}"#,
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            Request::post(format!("{base}/events"))
                .header("authorization", format!("Bearer {}", w.gp))
                .body(Body::from(note(2, "x").to_string()))
                .unwrap(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
    ];
    for (req, status, code) in cases {
        let uri = req.uri().to_string();
        let (s, v) = w.raw(req).await;
        assert_eq!((s, v["error"]["code"].as_str().unwrap_or("")), (status, code), "{uri}: {v}");
        assert!(v["error"]["request_id"].is_string());
    }
    let events_after = w.app.store().events(patient.parse().unwrap(), EventFilter::default()).await.unwrap().len();
    assert_eq!(events_before, events_after, "no refused request wrote anything");
    assert_eq!(w.app.store().count_patients().await.unwrap(), 1);
}

async fn strangers_cannot_tell_a_patient_exists(w: World) {
    let (patient, course) = w.patient_with_course().await;
    let missing = "00000000-0000-4000-8000-000000000000";
    // A real patient and a made-up id answer the same to someone not on the team.
    let real = w.get(&format!("/api/patients/{patient}"), &w.physio).await;
    let fake = w.get(&format!("/api/patients/{missing}"), &w.physio).await;
    assert_eq!(real.0, StatusCode::NOT_FOUND);
    assert_eq!(real.1["error"]["code"], fake.1["error"]["code"]);
    assert_eq!(real.1["error"]["message"], fake.1["error"]["message"]);
    let (s, _) = w.get(&format!("/api/patients/{patient}/courses/{course}"), &w.physio).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = w.post(&format!("/api/patients/{patient}/courses/{course}/events"), &w.physio, note(2, "x")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = w.post("/api/patients/search", &w.physio, json!({"cpr": "1204791437"})).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // The attempts are on the patient's audit trail as denied.
    let trail = w.app.store().audit_for_patient(patient.parse().unwrap(), 100).await.unwrap();
    let denied = trail.iter().filter(|e| e.draft.outcome == sammen_domain::audit::AuditOutcome::Denied).count();
    assert!(denied >= 3, "{denied} denied entries");
}

async fn patients_read_their_own_record_but_do_not_write(w: World) {
    let (patient, course) = w.patient_with_course().await;
    w.app.add_user("jens", "Jens Madsen", UserKind::Patient { patient: patient.parse().unwrap() }).await.unwrap();
    let (_, jens) = w.app.issue_token("jens", None).await.unwrap();
    let (s, v) = w.get(&format!("/api/patients/{patient}/courses/{course}"), &jens).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["title"], "Lændesmerter");
    let (s, v) = w.post(&format!("/api/patients/{patient}/courses/{course}/events"), &jens, note(2, "x")).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    let (s, _) = w.post("/api/patients", &jens, json!({"cpr": "0101801234", "name": "Ny"})).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (_, me) = w.get("/api/me", &jens).await;
    assert_eq!(me["purpose"], "own_record");
}

async fn every_read_and_write_is_audited(w: World) {
    let (patient, course) = w.patient_with_course().await;
    let base = format!("/api/patients/{patient}/courses/{course}");
    let before = w.audit_count().await;
    w.get(&base, &w.gp).await;
    w.get(&format!("{base}/history"), &w.gp).await;
    w.get(&format!("/api/patients/{patient}"), &w.gp).await;
    w.post(&format!("{base}/events"), &w.gp, note(2, "x")).await;
    w.post(&format!("{base}/events"), &w.gp, note(2, "stale")).await;
    assert_eq!(w.audit_count().await - before, 5, "one entry per read and per write, refused or not");
    let trail = w.app.store().audit_for_patient(patient.parse().unwrap(), 5).await.unwrap();
    let summary: Vec<(&str, &str)> =
        trail.iter().rev().map(|e| (e.draft.action.as_str(), e.draft.outcome.as_str())).collect();
    assert_eq!(
        summary,
        [
            ("read", "permitted"),
            ("read", "permitted"),
            ("read", "permitted"),
            ("update", "permitted"),
            ("update", "conflict")
        ]
    );
    for e in &trail {
        assert!(e.draft.actor.starts_with("user/"));
        assert!(!e.draft.object.contains("1204791437"));
        assert_eq!(e.draft.purpose.as_str(), "treatment");
    }
    assert_eq!(w.app.verify_audit().await.unwrap(), Ok(w.audit_count().await));
}

async fn the_trail_is_indexed_by_patient_when_the_writer_is_idle(w: World) {
    let (patient, course) = w.patient_with_course().await;
    let base = format!("/api/patients/{patient}/courses/{course}");
    for _ in 0..3 {
        assert_eq!(w.get(&base, &w.gp).await.0, StatusCode::OK);
    }
    // The reads were answered once their entries were durable; the index follows when
    // the writer has had nothing to do for a second. Whether it has shows in the trail's
    // own figures: an indexer that is up to date leaves nothing for this call to do.
    let store = w.app.store().clone();
    let mut left = u64::MAX;
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        left = store.audit_head().await.unwrap().seq.saturating_sub(store.audit_indexed().await.unwrap());
        if left == 0 {
            break;
        }
    }
    assert_eq!(left, 0, "the writer left entries unindexed");
    assert_eq!(store.index_audit(10_000).await.unwrap(), 0);
    let trail = w.app.store().audit_for_patient(patient.parse().unwrap(), 100).await.unwrap();
    let reads = trail.iter().filter(|e| e.draft.object.starts_with("course/")).count();
    assert!(reads >= 3, "{reads} reads of the course on the patient's trail");
}
