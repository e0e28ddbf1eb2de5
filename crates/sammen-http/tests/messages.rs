//! Reaching each other, over HTTP, on both engines: addressing, threading and
//! tracking; duplicate submissions; consent across legal domains, told before sending;
//! specialist questions; attachments; conferences; the care team's routes; the
//! worklist and its counts; notification mail without health data.

mod common;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use base64::Engine as _;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use time::Duration;
use tower::ServiceExt;

use common::World;
use sammen_domain::directory::UserKind;
use sammen_domain::vocab::{Profession, Sector};

on_both_engines!(
    threads_are_addressed_tracked_and_answered,
    a_duplicate_submission_stores_one_message,
    consent_decides_who_receives_what,
    a_specialist_joins_the_team_and_the_answer_is_filed,
    attachments_are_checked_by_their_content,
    bad_messages_write_nothing,
    conference_minutes_become_goals_and_steps,
    the_care_team_shows_how_to_reach_each_member_now,
    the_worklist_counts_each_kind_and_obeys_the_policy,
    notification_mail_carries_no_health_data,
);

struct Case<'a> {
    w: &'a World,
    patient: String,
    course: String,
}

impl Case<'_> {
    async fn new(w: &World) -> Case<'_> {
        let (patient, course) = w.patient_with_course().await;
        w.join(&patient, &course, &w.physio_org).await;
        Case { w, patient, course }
    }

    fn course_url(&self) -> String {
        format!("/api/patients/{}/courses/{}", self.patient, self.course)
    }

    fn thread_url(&self, thread: &str) -> String {
        format!("/api/patients/{}/threads/{thread}", self.patient)
    }

    async fn send(&self, token: &str, body: Value) -> (StatusCode, Value) {
        self.w.post(&format!("{}/threads", self.course_url()), token, body).await
    }

    async fn sent(&self, token: &str, body: Value) -> String {
        let (s, v) = self.send(token, body).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        v["id"].as_str().unwrap().to_string()
    }

    async fn reply(&self, token: &str, thread: &str, body: Value) -> (StatusCode, Value) {
        self.w.post(&format!("{}/replies", self.thread_url(thread)), token, body).await
    }

    async fn threads(&self, token: &str) -> Value {
        let (s, v) = self.w.get(&format!("{}/threads", self.course_url()), token).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v
    }

    async fn change(&self, change: Value) -> Value {
        let v = self.w.version_of_course(&self.patient, &self.course, &self.w.gp).await;
        let (s, r) = self
            .w
            .post(
                &format!("{}/events", self.course_url()),
                &self.w.gp,
                json!({"expected_version": v, "change": change}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{r}");
        r
    }

    async fn worklist(&self, token: &str) -> Value {
        let (s, v) = self.w.get("/api/me/worklist", token).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v
    }
}

fn to_role(org: &str, role: &str) -> Value {
    json!({"type": "role", "org": org, "role": role})
}

fn message(to: Value, text: &str) -> Value {
    json!({"category": "care_coordination", "subject": "Træningen", "to": [to], "text": text,
           "data_category": "plan", "answer_by": "2026-03-06"})
}

fn count(worklist: &Value, kind: &str) -> u64 {
    worklist["counts"][kind].as_u64().unwrap_or(0)
}

async fn threads_are_addressed_tracked_and_answered(w: World) {
    let c = Case::new(&w).await;
    let physio = to_role(&w.physio_org, "fysioterapeut");
    let thread = c.sent(&w.gp, message(physio.clone(), "Hvordan går træningen?")).await;
    // Delivered: the sender sees it; the physiotherapist is told in-app.
    let list = c.threads(&w.gp).await;
    assert_eq!(list["threads"][0]["recipients"][0]["tracking"], "delivered");
    let (_, notices) = w.get("/api/me/notices", &w.physio).await;
    assert_eq!(notices[0]["kind"], "message", "{notices}");
    assert_eq!(c.threads(&w.physio).await["threads"][0]["waiting_for_me"], true);

    // Read: opening it tells the sender.
    w.clock.advance(Duration::hours(1));
    let (s, opened) = w.get(&c.thread_url(&thread), &w.physio).await;
    assert_eq!(s, StatusCode::OK, "{opened}");
    assert_eq!(opened["recipients"][0]["tracking"], "read");
    assert_eq!(c.threads(&w.gp).await["threads"][0]["recipients"][0]["tracking"], "read");

    // Answered: the reply stays in the thread.
    w.clock.advance(Duration::hours(1));
    let (s, answered) =
        c.reply(&w.physio, &thread, json!({"text": "Godt. Smerterne er faldet.", "data_category": "plan"})).await;
    assert_eq!(s, StatusCode::CREATED, "{answered}");
    assert_eq!(answered["messages"].as_array().unwrap().len(), 2);
    assert_eq!(answered["recipients"][0]["tracking"], "answered");
    assert_eq!(c.threads(&w.physio).await["threads"][0]["waiting_for_me"], false);

    // A correction is a new message that names the one it corrects; nothing is edited.
    let first = answered["messages"][0]["id"].clone();
    let (s, corrected) = c
        .reply(
            &w.gp,
            &thread,
            json!({"text": "Hvordan går træningen? Og søvnen?", "data_category": "plan", "corrects": first}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{corrected}");
    let messages = corrected["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 3);
    assert_eq!(messages[0]["text"], "Hvordan går træningen?");
    assert_eq!(messages[0]["corrected_by"], messages[2]["id"]);
    // Correcting someone else's message is refused.
    let other = messages[1]["id"].clone();
    let (s, _) = c.reply(&w.gp, &thread, json!({"text": "x", "data_category": "plan", "corrects": other})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);

    // A forward starts a new thread linked to the old one.
    let (s, fwd) = w
        .post(
            &format!("{}/forward", c.thread_url(&thread)),
            &w.gp,
            json!({"category": "care_coordination", "subject": "",
            "to": [physio], "text": "Til orientering", "data_category": "plan"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{fwd}");
    assert_eq!(fwd["forwarded_from"], json!(thread));
    assert!(fwd["subject"].as_str().unwrap().ends_with("Træningen"), "{fwd}");
    assert_eq!(c.threads(&w.gp).await["threads"].as_array().unwrap().len(), 2);
}

async fn a_duplicate_submission_stores_one_message(w: World) {
    let c = Case::new(&w).await;
    let mut body = message(to_role(&w.physio_org, "fysioterapeut"), "Hvordan går det?");
    body["client_id"] = json!("gp-2026-03-01-1");
    let (s1, first) = c.send(&w.gp, body.clone()).await;
    let (s2, second) = c.send(&w.gp, body).await;
    assert_eq!((s1, s2), (StatusCode::CREATED, StatusCode::OK));
    assert_eq!(first["id"], second["id"]);
    assert_eq!(c.threads(&w.gp).await["threads"].as_array().unwrap().len(), 1);
    let thread = first["id"].as_str().unwrap();
    let reply = json!({"text": "Fint", "data_category": "plan", "client_id": "physio-1"});
    let (r1, _) = c.reply(&w.physio, thread, reply.clone()).await;
    let (r2, again) = c.reply(&w.physio, thread, reply).await;
    assert_eq!((r1, r2), (StatusCode::CREATED, StatusCode::OK));
    assert_eq!(again["messages"].as_array().unwrap().len(), 2);
    // The same id with other text is not a second submission: refused, nothing stored.
    let changed = json!({"text": "Fint, men ryggen gør ondt igen", "data_category": "plan", "client_id": "physio-1"});
    let (s, v) = c.reply(&w.physio, thread, changed).await;
    assert_eq!((s, v["error"]["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("rejected")), "{v}");
    let mut other = message(to_role(&w.physio_org, "fysioterapeut"), "Et andet spørgsmål");
    other["client_id"] = json!("gp-2026-03-01-1");
    let (s, v) = c.send(&w.gp, other).await;
    assert_eq!((s, v["error"]["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("rejected")), "{v}");
    assert_eq!(c.threads(&w.gp).await["threads"].as_array().unwrap().len(), 1);
}

async fn consent_decides_who_receives_what(w: World) {
    let c = Case::new(&w).await;
    let (jobcentre, jc_org) =
        w.professional("jobcentre", Sector::MunicipalEmployment, Profession::JobcentreSocialWorker).await;
    w.join(&c.patient, &c.course, &jc_org).await;
    let to_jc = to_role(&jc_org, "sagsbehandler");
    let mut draft = message(to_jc.clone(), "Status på træningen");
    // A preview refuses what sending would: an answer date already past.
    let mut late = draft.clone();
    late["answer_by"] = json!("2026-02-01");
    let (s, v) = w.post(&format!("{}/threads/preview", c.course_url()), &w.gp, late).await;
    assert_eq!((s, v["error"]["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_field")), "{v}");
    // Told before sending: the jobcentre may not receive plan data without consent.
    let (s, preview) = w.post(&format!("{}/threads/preview", c.course_url()), &w.gp, draft.clone()).await;
    assert_eq!(s, StatusCode::OK, "{preview}");
    assert_eq!(preview["can_send"], false);
    assert!(preview["recipients"][0]["reason"].as_str().unwrap().contains("not consented"), "{preview}");
    // Sending anyway is refused, and nothing is stored.
    let before = w.app.store().events(c.patient.parse().unwrap(), Default::default()).await.unwrap().len();
    let (s, refused) = c.send(&w.gp, draft.clone()).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert!(refused["error"]["message"].as_str().unwrap().contains("Nothing was sent"));
    assert_eq!(w.app.store().events(c.patient.parse().unwrap(), Default::default()).await.unwrap().len(), before);

    // With the patient's consent to the plan, the plan goes; clinical findings do not.
    let expires = (w.app.now() + Duration::days(200)).format(&time::format_description::well_known::Rfc3339).unwrap();
    let consent = json!({"kind": "give_consent", "recipient": {"type": "organisation", "org": jc_org},
        "categories": ["plan"], "purpose": "Sygedagpengeopfølgning", "course": c.course,
        "given_by": {"type": "patient"}, "method": "written", "expires_at": expires});
    let (s, shared) = w.sharing(&w.gp, &c.patient, consent).await;
    assert_eq!(s, StatusCode::CREATED, "{shared}");
    let thread = c.sent(&w.gp, draft.clone()).await;
    let (s, seen) = w.get(&c.thread_url(&thread), &jobcentre).await;
    assert_eq!(s, StatusCode::OK, "{seen}");
    assert_eq!(seen["messages"][0]["text"], "Status på træningen");
    let (s, _) =
        c.reply(&w.gp, &thread, json!({"text": "Røntgen: normal", "data_category": "clinical_findings"})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "a reply the jobcentre may not receive is refused");
    draft["data_category"] = json!("clinical_findings");
    assert_eq!(c.send(&w.gp, draft).await.0, StatusCode::UNPROCESSABLE_ENTITY);

    // The physiotherapist (health) sees clinical findings without consent; the
    // jobcentre's own message reaches the GP only with consent the other way.
    let (s, _) = c.send(&jobcentre, message(to_role(&w.physio_org, "fysioterapeut"), "Hvornår kan han arbejde?")).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "employment to health needs consent too");

    // Withdrawn: the jobcentre can no longer open the thread.
    let consent_id = shared["consents"][0]["id"].clone();
    let (s, _) = w.sharing(&w.gp, &c.patient, json!({"kind": "withdraw_consent", "consent": consent_id})).await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(w.get(&c.thread_url(&thread), &jobcentre).await.0, StatusCode::NOT_FOUND);
    assert_eq!(c.threads(&jobcentre).await["withheld_threads"], 1);
}

async fn a_specialist_joins_the_team_and_the_answer_is_filed(w: World) {
    let c = Case::new(&w).await;
    let (psychiatrist, psych_org) =
        w.professional("psychiatrist", Sector::HospitalPsychiatry, Profession::Psychiatrist).await;
    // Not on the team: psychiatry cannot see the course yet.
    assert_eq!(w.get(&c.course_url(), &psychiatrist).await.0, StatusCode::NOT_FOUND);
    let question = json!({"kind": "specialist_question", "category": "medication", "subject": "Sovemedicin",
        "to": [to_role(&psych_org, "psykiater")], "text": "Kan han fortsætte med zopiclon?", "data_category": "medication"});
    let (s, preview) = w.post(&format!("{}/threads/preview", c.course_url()), &w.gp, question.clone()).await;
    assert_eq!(s, StatusCode::OK, "{preview}");
    assert_eq!(preview["recipients"][0]["joins_care_team"], true);
    let thread = c.sent(&w.gp, question).await;
    let (_, course) = w.get(&c.course_url(), &psychiatrist).await;
    assert!(course["team"].as_array().unwrap().iter().any(|m| m["role"] == "psykiater (spurgt til råds)"), "{course}");
    let (s, _) = c
        .reply(
            &psychiatrist,
            &thread,
            json!({"text": "Ja, i to uger mere; så trappes ud.", "data_category": "medication"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (_, course) = w.get(&c.course_url(), &w.gp).await;
    let filed: Vec<&Value> =
        course["entries"].as_array().unwrap().iter().filter(|e| e["entry_type"] == "specialist_answer").collect();
    assert_eq!(filed.len(), 1, "{course}");
    assert_eq!(filed[0]["text"], "Ja, i to uger mere; så trappes ud.");
    assert_eq!(filed[0]["title"], "Svar: Sovemedicin");
}

async fn attachments_are_checked_by_their_content(w: World) {
    let c = Case::new(&w).await;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let pdf = b"%PDF-1.7\n1 0 obj <<>> endobj\n%%EOF".to_vec();
    let mut body = message(to_role(&w.physio_org, "fysioterapeut"), "Epikrisen er vedhæftet");
    body["attachments"] =
        json!([{"filename": "røntgen svar.pdf", "content_type": "application/pdf", "data": b64(&pdf)}]);
    let (s, sent) = c.send(&w.gp, body.clone()).await;
    assert_eq!(s, StatusCode::CREATED, "{sent}");
    let file = &sent["messages"][0]["attachments"][0];
    assert_eq!(
        (file["size"].as_u64(), file["content_type"].as_str()),
        (Some(pdf.len() as u64), Some("application/pdf"))
    );
    let url = format!("{}/attachments/{}", c.thread_url(sent["id"].as_str().unwrap()), file["id"].as_str().unwrap());
    let req = Request::get(&url).header("authorization", format!("Bearer {}", w.physio)).body(Body::empty()).unwrap();
    let res = w.router.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[header::CONTENT_TYPE], "application/pdf");
    // A download under its own name, ø and all (RFC 8187), with a plain one for old clients.
    assert_eq!(
        res.headers()[header::CONTENT_DISPOSITION].to_str().unwrap(),
        "attachment; filename=\"r_ntgen_svar.pdf\"; filename*=UTF-8''r%C3%B8ntgen%20svar.pdf"
    );
    assert_eq!(res.into_body().collect().await.unwrap().to_bytes().to_vec(), pdf);

    let threads_before = c.threads(&w.gp).await["threads"].as_array().unwrap().len();
    let bad = |filename: &str, content_type: &str, data: String| {
        let mut b = body.clone();
        b["attachments"] = json!([{"filename": filename, "content_type": content_type, "data": data}]);
        b
    };
    let png = b"\x89PNG\r\n\x1a\n rest".to_vec();
    for (case, expected) in [
        (bad("ekg.pdf", "application/pdf", b64(&png)), StatusCode::UNPROCESSABLE_ENTITY),
        (bad("x.exe", "application/x-msdownload", b64(b"MZ")), StatusCode::UNPROCESSABLE_ENTITY),
        (bad("x.pdf", "application/pdf", "not base64!".into()), StatusCode::UNPROCESSABLE_ENTITY),
        (
            bad("big.pdf", "application/pdf", b64(&[b"%PDF-".as_slice(), &vec![0u8; 5 * 1024 * 1024]].concat())),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            bad("huge.pdf", "application/pdf", b64(&[b"%PDF-".as_slice(), &vec![0u8; 9 * 1024 * 1024]].concat())),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
    ] {
        let (s, v) = c.send(&w.gp, case).await;
        assert_eq!(s, expected, "{v}");
    }
    assert_eq!(c.threads(&w.gp).await["threads"].as_array().unwrap().len(), threads_before, "nothing stored");
}

async fn bad_messages_write_nothing(w: World) {
    let c = Case::new(&w).await;
    let (stranger, _) = w.professional("stranger", Sector::GeneralPractice, Profession::GeneralPractitioner).await;
    let events = || async { w.app.store().events(c.patient.parse().unwrap(), Default::default()).await.unwrap().len() };
    let before = events().await;
    let ghost_org = "00000000-0000-4000-8000-000000000001";
    let cases = [
        (
            json!({"category": "care_coordination", "subject": "x", "to": [], "text": "x"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (message(to_role(ghost_org, "x"), "x"), StatusCode::NOT_FOUND),
        (message(to_role(&w.physio_org, "x"), "  "), StatusCode::UNPROCESSABLE_ENTITY),
        (
            json!({"category": "other", "subject": "x", "to": [to_role(&w.physio_org, "x")], "text": "x"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"category": "gossip", "subject": "x", "to": [to_role(&w.physio_org, "x")], "text": "x"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"category": "care_coordination", "subject": "x", "to": [{"type": "care_team"}], "text": "x", "extra": 1}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ];
    for (body, expected) in cases {
        let (s, v) = c.send(&w.gp, body.clone()).await;
        assert_eq!(s, expected, "{body} -> {v}");
        assert!(v["error"]["message"].is_string());
    }
    // Someone not on the team cannot send, nor learn that the course exists.
    assert_eq!(c.send(&stranger, message(to_role(&w.physio_org, "x"), "x")).await.0, StatusCode::NOT_FOUND);
    let thread = c.sent(&w.gp, message(to_role(&w.physio_org, "fysioterapeut"), "Hej")).await;
    let after_one = events().await;
    assert_eq!(after_one, before + 1);
    // Replies to a thread the sender cannot see, or that does not exist.
    assert_eq!(c.reply(&stranger, &thread, json!({"text": "x"})).await.0, StatusCode::NOT_FOUND);
    let ghost = "00000000-0000-4000-8000-000000000002";
    assert_eq!(c.reply(&w.gp, ghost, json!({"text": "x"})).await.0, StatusCode::NOT_FOUND);
    assert_eq!(c.reply(&w.gp, "not-an-id", json!({"text": "x"})).await.0, StatusCode::BAD_REQUEST);
    assert_eq!(events().await, after_one);
}

async fn conference_minutes_become_goals_and_steps(w: World) {
    let c = Case::new(&w).await;
    let at = (w.app.now() + Duration::days(3)).format(&time::format_description::well_known::Rfc3339).unwrap();
    let physio_role = to_role(&w.physio_org, "fysioterapeut");
    let scheduled = c
        .change(json!({"kind": "schedule_conference", "at": at, "place": "Video: https://møde.example/1",
            "agenda": "Plan for træning og arbejde", "participants": [physio_role], "patient_invited": true}))
        .await;
    let conference = scheduled["events"][0]["item"].clone();
    let (_, notices) = w.get("/api/me/notices", &w.physio).await;
    assert_eq!(notices[0]["kind"], "conference", "{notices}");
    let (_, briefing) = w.get(&format!("{}/briefing", c.course_url()), &w.gp).await;
    assert_eq!(briefing["conferences"][0]["agenda"], "Plan for træning og arbejde", "{briefing}");
    w.clock.advance(Duration::days(3) + Duration::hours(2));
    let minutes = c
        .change(json!({"kind": "record_minutes", "conference": conference, "minutes": "Aftalt: træning to gange om ugen.",
            "decisions": [
                {"type": "goal", "goal_kind": "functional", "text": "Gå 30 minutter uden smerter"},
                {"type": "step", "step_kind": "treatment_series", "title": "Holdtræning", "owner": physio_role,
                 "due_from": null, "due_by": "2026-04-30", "reason": "Aftalt på mødet", "reason_plain": "Træning hjælper ryggen"}
            ]}))
        .await;
    let events = minutes["events"].as_array().unwrap();
    assert_eq!(events.len(), 3);
    let care = &minutes["course"]["care"];
    assert_eq!(care["goals"][0]["text"], "Gå 30 minutter uden smerter");
    assert_eq!(care["steps"][0]["owner"]["org"], json!(w.physio_org));
    assert_eq!(care["conferences"][0]["minutes"]["decided"].as_array().unwrap().len(), 2);
    let (_, timeline) = w.get(&format!("{}/timeline", c.course_url()), &w.gp).await;
    let held = timeline["items"].as_array().unwrap().iter().find(|i| i["kind"] == "conference").unwrap();
    assert_eq!((held["status"].as_str(), held["phase"].as_str()), (Some("held"), Some("past")));
    let (_, briefing) = w.get(&format!("{}/briefing", c.course_url()), &w.gp).await;
    assert!(briefing["conferences"].as_array().unwrap().is_empty());
}

async fn the_care_team_shows_how_to_reach_each_member_now(w: World) {
    let c = Case::new(&w).await;
    let me = w.get("/api/me", &w.physio).await.1["user"].clone();
    let routes = json!([
        {"holder": {"type": "professional", "user": me}, "kind": "phone", "address": "+45 86 20 30 40",
         "hours": [{"days": [1, 2, 3, 4, 5], "from": "08:00", "to": "09:00"}], "answer_within_hours": 0},
        {"holder": {"type": "professional", "user": me}, "kind": "message", "answer_within_hours": 48},
        {"holder": {"type": "professional", "user": me}, "kind": "phone", "address": "+45 86 99 99 99",
         "answer_within_hours": 0, "audience": "professionals"}
    ]);
    let req = Request::put("/api/me/contact-routes")
        .header("authorization", format!("Bearer {}", w.physio))
        .header("content-type", "application/json")
        .body(Body::from(routes.to_string()))
        .unwrap();
    let (s, saved) = w.raw(req).await;
    assert_eq!(s, StatusCode::OK, "{saved}");
    // Sunday 1 March 2026, 10:00 in Copenhagen: the phone is closed until Monday 08:00.
    let (_, team) = w.get(&format!("{}/team", c.course_url()), &w.gp).await;
    let physio =
        team["members"].as_array().unwrap().iter().find(|m| m["member"]["org"] == json!(w.physio_org)).unwrap();
    assert!(physio["routes"].as_array().unwrap().is_empty(), "org routes only, for an organisation member: {team}");
    let member = json!({"type": "professional", "user": me, "org": w.physio_org});
    c.change(json!({"kind": "join_care_team", "member": member, "role": "fysioterapeut"})).await;
    let (_, team) = w.get(&format!("{}/team", c.course_url()), &w.gp).await;
    let person = team["members"].as_array().unwrap().iter().find(|m| m["member"]["type"] == "professional").unwrap();
    let phone = person["routes"].as_array().unwrap().iter().find(|r| r["kind"] == "phone").unwrap();
    assert_eq!(phone["open_now"], false);
    assert_eq!(phone["next_open"], "2026-03-02T08:00:00+01:00");
    w.clock.advance(Duration::hours(22) + Duration::minutes(30)); // Monday 08:30 in Copenhagen
    let (_, team) = w.get(&format!("{}/team", c.course_url()), &w.gp).await;
    let person = team["members"].as_array().unwrap().iter().find(|m| m["member"]["type"] == "professional").unwrap();
    assert_eq!(person["routes"].as_array().unwrap().iter().find(|r| r["kind"] == "phone").unwrap()["open_now"], true);
    // The line for professionals: the GP sees it; the patient, on the same page and in
    // FHIR, does not.
    let p = c.patient.parse().unwrap();
    w.app.add_user("jens", "Jens Madsen", UserKind::Patient { patient: p }).await.unwrap();
    let (_, jens) = w.app.issue_token("jens", None).await.unwrap();
    let colleagues_line = |team: &Value| team.to_string().contains("+45 86 99 99 99");
    let (_, team) = w.get(&format!("{}/team", c.course_url()), &w.gp).await;
    assert!(colleagues_line(&team), "{team}");
    let (s, team) = w.get(&format!("{}/team", c.course_url()), &jens).await;
    assert_eq!(s, StatusCode::OK, "{team}");
    assert!(!colleagues_line(&team) && team.to_string().contains("+45 86 20 30 40"), "{team}");
    // Nor a message in Sammen, which only professionals send: the GP sees it, Jens not.
    let kinds = |team: &Value| -> Vec<String> {
        let members = team["members"].as_array().unwrap().iter();
        let routes = members.flat_map(|m| m["routes"].as_array().unwrap().iter());
        routes.map(|r| r["kind"].as_str().unwrap().to_string()).collect()
    };
    assert!(kinds(&w.get(&format!("{}/team", c.course_url()), &w.gp).await.1).contains(&"message".to_string()));
    assert!(!kinds(&team).contains(&"message".to_string()), "{team}");
    let (_, roles) = w.get("/fhir/PractitionerRole", &w.gp).await;
    assert!(roles.to_string().contains("+45 86 99 99 99") && roles.to_string().contains("for professionals only"));
    let (s, roles) = w.get("/fhir/PractitionerRole", &jens).await;
    assert_eq!(s, StatusCode::OK, "{roles}");
    assert!(!roles.to_string().contains("+45 86 99 99 99") && roles.to_string().contains("+45 86 20 30 40"), "{roles}");
    // Nor does a proxy the patient named.
    w.app.add_user("mor", "Mor", UserKind::Proxy { patient: p }).await.unwrap();
    let (_, mor) = w.app.issue_token("mor", None).await.unwrap();
    let mor_id = w.app.store().user_by_login("mor").await.unwrap().unwrap().id;
    let (s, v) =
        w.sharing(&jens, &c.patient, json!({"kind": "name_proxy", "user": mor_id, "relationship": "mor"})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, team) = w.get(&format!("{}/team", c.course_url()), &mor).await;
    assert_eq!(s, StatusCode::OK, "{team}");
    assert!(!colleagues_line(&team) && team.to_string().contains("+45 86 20 30 40"), "{team}");
    // A route for someone else, or a phone number that is not one: refused.
    let bad = json!([{"holder": {"type": "professional", "user": me}, "kind": "phone", "address": "ring", "answer_within_hours": 0}]);
    let req = Request::put("/api/me/contact-routes")
        .header("authorization", format!("Bearer {}", w.physio))
        .header("content-type", "application/json")
        .body(Body::from(bad.to_string()))
        .unwrap();
    assert_eq!(w.raw(req).await.0, StatusCode::UNPROCESSABLE_ENTITY);
}

async fn the_worklist_counts_each_kind_and_obeys_the_policy(w: World) {
    let c = Case::new(&w).await;
    let gp_user = w.get("/api/me", &w.gp).await.1["user"].clone();
    let gp_org = w.get("/api/me", &w.gp).await.1["organisation"]["id"].clone();
    c.change(json!({"kind": "name_key_worker", "user": gp_user})).await;
    // A step the GP owns, due in two days; a handover of it to the physiotherapists,
    // to answer within a week; a question to them, to answer in three days.
    let step = c
        .change(json!({"kind": "plan_step", "step_kind": "test", "title": "Røntgen", "owner": {"type": "professional", "user": gp_user, "org": gp_org},
            "due_from": null, "due_by": "2026-03-03", "reason": "Kontrol", "reason_plain": "Vi ser på ryggen"}))
        .await["events"][0]["item"]
        .clone();
    c.change(json!({"kind": "propose_handover", "subject": {"type": "step", "step": step},
        "to": to_role(&w.physio_org, "fysioterapeut"), "reason": "Tages hos jer", "respond_by": "2026-03-08"}))
        .await;
    c.sent(&w.gp, json!({"category": "care_coordination", "subject": "Træningsplan", "to": [to_role(&w.physio_org, "fysioterapeut")],
        "text": "Kan I sende træningsplanen?", "data_category": "plan", "answer_by": "2026-03-04"}))
        .await;
    let physio = c.worklist(&w.physio).await;
    assert_eq!((count(&physio, "handover"), count(&physio, "question")), (1, 1), "{physio}");
    assert_eq!(count(&physio, "changed"), 1, "never looked at the course: {physio}");
    let gp = c.worklist(&w.gp).await;
    assert_eq!(
        count(&gp, "overdue_step") + count(&gp, "unanswered_question") + count(&gp, "unanswered_handover"),
        0,
        "{gp}"
    );
    assert_eq!(gp["items"].as_array().unwrap().iter().find(|i| i["kind"] == "question"), None);

    // Time passes: the step, the question and the handover go overdue.
    w.clock.advance(Duration::days(9));
    let gp = c.worklist(&w.gp).await;
    assert_eq!(count(&gp, "overdue_step"), 1, "{gp}");
    assert_eq!(count(&gp, "unanswered_question"), 1, "the sender and key worker: one line: {gp}");
    assert_eq!(count(&gp, "unanswered_handover"), 1, "{gp}");
    let physio = c.worklist(&w.physio).await;
    assert_eq!(count(&physio, "handover"), 0, "an expired handover can no longer be accepted: {physio}");
    let question = physio["items"].as_array().unwrap().iter().find(|i| i["kind"] == "question").unwrap();
    assert_eq!(question["overdue"], true);
    assert_eq!(question["patient_name"], "Jens Madsen");

    // Looking at the course clears "changed"; the look is the reader's own.
    w.get(&c.course_url(), &w.physio).await;
    assert_eq!(count(&c.worklist(&w.physio).await, "changed"), 0);
    // The worklist itself is on the patient's access log.
    let p: sammen_domain::ids::PatientId = c.patient.parse().unwrap();
    let log = w.app.store().audit_for_patient(p, 100).await.unwrap();
    assert!(log.iter().any(|e| e.draft.object == "worklist"));

    // The patient objects to the physiotherapists: their worklist forgets the patient.
    let (s, _) = w
        .sharing(
            &w.gp,
            &c.patient,
            json!({"kind": "record_objection", "target": {"type": "organisation", "org": w.physio_org}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let physio = c.worklist(&w.physio).await;
    assert_eq!(physio["counts"], json!({}), "{physio}");
    assert!(physio["items"].as_array().unwrap().is_empty());
    // A patient has no worklist.
    w.app.add_user("jens", "Jens Madsen", UserKind::Patient { patient: p }).await.unwrap();
    let (_, jens) = w.app.issue_token("jens", None).await.unwrap();
    assert_eq!(w.get("/api/me/worklist", &jens).await.0, StatusCode::FORBIDDEN);
    // A limit outside 1 to 500 is refused, not bent to fit.
    for limit in [0, 501] {
        let (s, v) = w.get(&format!("/api/me/worklist?limit={limit}"), &w.physio).await;
        assert_eq!((s, v["error"]["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_field")), "{v}");
    }
}

async fn notification_mail_carries_no_health_data(w: World) {
    let c = Case::new(&w).await;
    w.app.set_user_email("physio", Some("jonas@fysio.example")).await.unwrap();
    let outbox = sammen_store_sqlite::test_dir();
    let app = w.app.clone().with_mailer(std::sync::Arc::new(sammen_app::notify::FileMailer::new(outbox.clone())));
    let router = sammen_http::app(sammen_http::AppState::new(app));
    let body = message(to_role(&w.physio_org, "fysioterapeut"), "Jens Madsen har fået det værre efter røntgen");
    let req = common::json_req(&format!("{}/threads", c.course_url()), &w.gp, &body.to_string());
    let res = router.oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let mails: Vec<_> = std::fs::read_dir(&outbox).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(mails.len(), 1, "one mail to the one recipient with an address");
    let mail = std::fs::read_to_string(&mails[0]).unwrap();
    assert!(mail.starts_with("To: jonas@fysio.example\r\n"));
    for secret in ["Jens", "Madsen", "120479", "røntgen", "Træningen", &c.patient, &c.course] {
        assert!(!mail.contains(secret), "the mail mentions {secret}: {mail}");
    }
    let _ = std::fs::remove_dir_all(outbox);
}
