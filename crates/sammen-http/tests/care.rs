//! The shared course over HTTP, on both engines: steps and referrals handed over and
//! accepted, advice conflicts, the patient's own words, episodes and discharge letters,
//! the briefing and the timeline.

mod common;

use axum::http::StatusCode;
use serde_json::{json, Value};

use common::World;
use sammen_domain::directory::UserKind;
use sammen_domain::vocab::{Profession, Sector};

on_both_engines!(
    a_referral_is_handed_over_and_accepted_once,
    a_referral_reaches_a_receiver_new_to_the_team_only_if_they_may_read_it,
    contradicting_advice_is_flagged_and_resolved,
    the_briefing_shows_what_changed_since_my_last_look,
    the_patient_writes_their_story_goals_and_progress,
    a_psychiatric_discharge_expects_a_letter,
    bad_care_input_writes_nothing,
);

struct Course<'a> {
    w: &'a World,
    patient: String,
    course: String,
    gp_org: String,
}

impl Course<'_> {
    fn base(&self) -> String {
        format!("/api/patients/{}/courses/{}", self.patient, self.course)
    }

    async fn version(&self) -> u64 {
        self.w.get(&self.base(), &self.w.gp).await.1["version"].as_u64().unwrap()
    }

    async fn change(&self, token: &str, change: Value) -> (StatusCode, Value) {
        let body = json!({"expected_version": self.version().await, "change": change});
        self.w.post(&format!("{}/events", self.base()), token, body).await
    }

    async fn ok(&self, token: &str, change: Value) -> Value {
        let (s, v) = self.change(token, change).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        v
    }

    async fn item(&self, token: &str, change: Value) -> String {
        self.ok(token, change).await["events"][0]["item"].as_str().unwrap().to_string()
    }

    async fn briefing(&self, token: &str) -> Value {
        let (s, b) = self.w.get(&format!("{}/briefing", self.base()), token).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        b
    }
}

async fn setup(w: &World) -> Course<'_> {
    let (patient, course) = w.patient_with_course().await;
    let gp_org = w.app.store().user_by_login("gp").await.unwrap().unwrap().org().unwrap().to_string();
    let c = Course { w, patient, course, gp_org };
    c.ok(&w.gp, json!({"kind": "join_care_team", "member": {"type": "organisation", "org": w.physio_org}, "role": "fysioterapi"})).await;
    c
}

fn step(owner: Value, due_by: &str) -> Value {
    json!({"kind": "plan_step", "step_kind": "treatment_series", "title": "Holdtræning", "owner": owner,
           "due_from": null, "due_by": due_by, "reason": "Uspecifikke lændesmerter",
           "reason_plain": "Træning gør ryggen stærkere", "what_to_expect": "To gange om ugen",
           "if_it_does_not_help": "Så henviser lægen dig videre"})
}

async fn a_referral_is_handed_over_and_accepted_once(w: World) {
    let c = setup(&w).await;
    let owner = json!({"type": "role", "org": c.gp_org, "role": "egen læge"});
    let step_id = c.item(&w.gp, step(owner.clone(), "2026-04-15")).await;
    let referral = json!({"question": "Træning af lænd", "findings": "Ingen røde flag", "tried": "Smertestillende",
        "red_flags_checked": "Alle", "reason_plain": "En fysioterapeut hjælper dig med øvelser", "told_to_expect": "Holdtræning"});
    let handover = c
        .item(
            &w.gp,
            json!({"kind": "propose_handover", "subject": {"type": "step", "step": step_id},
        "to": {"type": "role", "org": w.physio_org, "role": "fysioterapeut"}, "reason": "Træning", "respond_by": null,
        "referral": referral}),
        )
        .await;
    // Until accepted, the GP is still responsible, and both see the open handover.
    let b = c.briefing(&w.physio).await;
    assert_eq!(b["open_handovers"][0]["id"], handover.as_str());
    assert_eq!(b["open_handovers"][0]["referral"]["question"], "Træning af lænd");
    assert_eq!(c.briefing(&w.gp).await["open_handovers"].as_array().unwrap().len(), 1);
    let (_, course) = w.get(&c.base(), &w.gp).await;
    assert_eq!(course["care"]["steps"][0]["owner"], owner);
    // The GP cannot accept their own handover; the physiotherapist acknowledges and accepts once.
    let (s, v) = c.change(&w.gp, json!({"kind": "accept_handover", "handover": handover})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("receiver"));
    c.ok(&w.physio, json!({"kind": "acknowledge_handover", "handover": handover})).await;
    let v = c.ok(&w.physio, json!({"kind": "accept_handover", "handover": handover})).await;
    assert_eq!(v["course"]["care"]["steps"][0]["owner"]["org"], w.physio_org.as_str());
    assert_eq!(v["course"]["care"]["handovers"][0]["state"], "accepted");
    let (s, v) = c.change(&w.physio, json!({"kind": "accept_handover", "handover": handover})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(v["error"]["message"].as_str().unwrap().contains("already accepted"));
    // The timeline shows the referral, with its plain-words reason.
    let (_, t) = w.get(&format!("{}/timeline", c.base()), &w.gp).await;
    let referral = t["items"].as_array().unwrap().iter().find(|i| i["kind"] == "referral").unwrap();
    assert_eq!(referral["why_plain"], "En fysioterapeut hjælper dig med øvelser");
    assert_eq!(referral["status"], "accepted");
    assert_eq!(t["names"][w.physio_org.as_str()], "Fysioterapeuterne");
}

async fn a_referral_reaches_a_receiver_new_to_the_team_only_if_they_may_read_it(w: World) {
    let c = setup(&w).await;
    let (spine, spine_org) = w.professional("spine", Sector::Hospital, Profession::HospitalDoctor).await;
    let (_, jobcentre_org) =
        w.professional("jobcentre", Sector::MunicipalEmployment, Profession::JobcentreSocialWorker).await;
    let owner = json!({"type": "role", "org": c.gp_org, "role": "egen læge"});
    let step_id = c.item(&w.gp, step(owner, "2026-04-15")).await;
    let propose = |org: &str| {
        json!({"kind": "propose_handover", "subject": {"type": "step", "step": step_id},
            "to": {"type": "role", "org": org, "role": "rygcenter"}, "reason": "Vurdering", "respond_by": null,
            "referral": {"question": "Vurdering af vedvarende smerter", "findings": "", "tried": "Træning",
                "red_flags_checked": "Alle", "reason_plain": "En specialist ser på din ryg", "told_to_expect": ""}})
    };
    // Employment law: the jobcentre may not receive a referral without the patient's consent.
    let version = c.version().await;
    let (s, v) = c.change(&w.gp, propose(&jobcentre_org)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("not consented"), "{v}");
    assert_eq!(c.version().await, version, "nothing was written");
    // The Spine Centre, not yet on the team, joins it with the referral, finds it on its
    // worklist and accepts it.
    assert_eq!(w.get(&c.base(), &spine).await.0, StatusCode::NOT_FOUND);
    let v = c.ok(&w.gp, propose(&spine_org)).await;
    assert_eq!(v["events"].as_array().unwrap().len(), 2, "the handover and the join: {v}");
    let (_, worklist) = w.get("/api/me/worklist", &spine).await;
    assert_eq!(worklist["counts"]["handover"], 1, "{worklist}");
    let handover = worklist["items"][0]["item"].clone();
    c.ok(&spine, json!({"kind": "accept_handover", "handover": handover})).await;
    let (_, course) = w.get(&c.base(), &spine).await;
    assert_eq!(course["care"]["steps"][0]["owner"]["org"], json!(spine_org));
}

async fn contradicting_advice_is_flagged_and_resolved(w: World) {
    let c = setup(&w).await;
    let gp_id = w.app.store().user_by_login("gp").await.unwrap().unwrap().id;
    c.ok(&w.gp, json!({"kind": "name_key_worker", "user": gp_id})).await;
    c.ok(&w.gp, json!({"kind": "give_advice", "topic": "activity", "stance": "keep_active", "text": "Gå ture"})).await;
    let v =
        c.ok(&w.physio, json!({"kind": "give_advice", "topic": "activity", "stance": "rest", "text": "Hvil"})).await;
    let conflict = v["course"]["care"]["conflicts"][0]["id"].as_str().unwrap().to_string();
    // Both authors and the key worker are told.
    for token in [&w.gp, &w.physio] {
        let (_, notices) = w.get("/api/me/notices", token).await;
        assert_eq!(notices[0]["kind"], "advice_conflict", "{notices}");
    }
    assert_eq!(c.briefing(&w.gp).await["conflicts"].as_array().unwrap().len(), 1);
    // On the timeline neither simply holds while the team disagrees.
    let advice_status = |timeline: &Value| -> Vec<String> {
        let items = timeline["items"].as_array().unwrap().iter().filter(|i| i["kind"] == "advice");
        items.map(|i| i["status"].as_str().unwrap().to_string()).collect()
    };
    let (_, timeline) = w.get(&format!("{}/timeline", c.base()), &w.gp).await;
    assert_eq!(advice_status(&timeline), ["in_conflict", "in_conflict"], "{timeline}");
    c.ok(
        &w.gp,
        json!({"kind": "resolve_advice_conflict", "conflict": conflict, "stance": "keep_active",
        "agreed_message": "Hold dig i gang; hvil kun kort."}),
    )
    .await;
    let briefing = c.briefing(&w.physio).await;
    assert!(briefing["conflicts"].as_array().unwrap().is_empty());
    // The team sees what the patient was told, beside the advice that holds.
    assert_eq!(briefing["agreed_advice"][0]["resolution"]["agreed_message"], "Hold dig i gang; hvil kun kort.");
    assert_eq!(briefing["agreed_advice"][0]["topic"], "activity");
    let (_, timeline) = w.get(&format!("{}/timeline", c.base()), &w.gp).await;
    assert_eq!(advice_status(&timeline), ["in_force", "superseded"], "{timeline}");
    // The patient sees the one agreed message.
    w.app.add_user("jens", "Jens", UserKind::Patient { patient: c.patient.parse().unwrap() }).await.unwrap();
    let (_, jens) = w.app.issue_token("jens", None).await.unwrap();
    let (_, mine) = w.get(&c.base(), &jens).await;
    assert_eq!(mine["care"]["conflicts"][0]["resolution"]["agreed_message"], "Hold dig i gang; hvil kun kort.");
    let rest = mine["care"]["advice"].as_array().unwrap().iter().find(|a| a["stance"] == "rest").unwrap();
    assert_eq!(rest["state"], "superseded");
}

async fn the_briefing_shows_what_changed_since_my_last_look(w: World) {
    let c = setup(&w).await;
    // The physiotherapist has never looked at this course.
    let first = c.briefing(&w.physio).await;
    assert!(first["since"].is_null(), "{first}");
    assert!(first["changed"].as_array().unwrap().is_empty());
    w.clock.advance(time::Duration::hours(2));
    c.ok(
        &w.gp,
        json!({"kind": "record_entry", "entry_type": "assessment", "category": "clinical_findings",
        "title": "Undersøgelse", "text": "STarT Back 5", "occurred_on": "2026-03-01"}),
    )
    .await;
    w.clock.advance(time::Duration::hours(1));
    // Reading the course's messages or its team is not having seen what changed.
    for part in ["threads", "team"] {
        let (s, v) = w.get(&format!("{}/{part}", c.base()), &w.physio).await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }
    let second = c.briefing(&w.physio).await;
    assert!(second["since"].is_string());
    let kinds: Vec<&str> = second["changed"].as_array().unwrap().iter().map(|c| c["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["entry_recorded"], "{second}");
    assert_eq!(second["names"][second["changed"][0]["org"].as_str().unwrap()], "Lægerne i Kildegade");
    // Looking again: nothing new.
    assert!(c.briefing(&w.physio).await["changed"].as_array().unwrap().is_empty());
}

async fn the_patient_writes_their_story_goals_and_progress(w: World) {
    let c = setup(&w).await;
    w.app.add_user("jens", "Jens", UserKind::Patient { patient: c.patient.parse().unwrap() }).await.unwrap();
    let (_, jens) = w.app.issue_token("jens", None).await.unwrap();
    c.ok(&jens, json!({"kind": "write_story", "story": {"history": "Ondt siden i foråret", "tried": "Varme",
        "what_matters": "Fodbold med min søn", "preferences": "Træning om morgenen", "practical_needs": "Arbejder på skift"}})).await;
    c.ok(&jens, json!({"kind": "set_goal", "goal_kind": "personal", "text": "Spille fodbold igen"})).await;
    c.ok(
        &jens,
        json!({"kind": "record_progress", "on": "2026-03-01", "pain": 6,
        "activities": [{"activity": "Løfte en kasse", "score": 3}, {"activity": "Gå en tur", "score": 5}]}),
    )
    .await;
    // The rest of the plan is the team's.
    let (s, _) = c.change(&jens, json!({"kind": "set_goal", "goal_kind": "clinical", "text": "x"})).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = c.change(&jens, step(json!({"type": "role", "org": c.gp_org, "role": "x"}), "2026-04-01")).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // Shown first to every health professional on the team.
    let b = c.briefing(&w.physio).await;
    assert_eq!(b["story"]["what_matters"], "Fodbold med min søn");
    assert!(b["story"]["written_with"].is_null());
    assert_eq!(b["goals"][0]["status"], "agreed");
    assert_eq!(b["progress"][0]["pain"], 6);
    assert_eq!(b["progress"][0]["psfs"], 4.0);
    // The jobcentre, outside health care, sees the patient's words as anything else: only
    // what the patient consents to.
    let jc_org = w.app.add_organisation("Jobcenter", Sector::MunicipalEmployment, None).await.unwrap();
    w.app
        .add_user(
            "jc",
            "Birgitte",
            UserKind::Professional { profession: Profession::JobcentreSocialWorker, org: jc_org.id },
        )
        .await
        .unwrap();
    let (_, jc) = w.app.issue_token("jc", None).await.unwrap();
    c.ok(
        &w.gp,
        json!({"kind": "join_care_team", "member": {"type": "organisation", "org": jc_org.id}, "role": "jobcenter"}),
    )
    .await;
    let b = c.briefing(&jc).await;
    assert!(b["story"].is_null() && b["goals"].as_array().unwrap().is_empty(), "{b}");
    assert!(b["progress"].as_array().unwrap().is_empty(), "no pain score without consent: {b}");
    let expires = (w.app.now() + time::Duration::days(90)).format(&time::format_description::well_known::Rfc3339);
    let consent = json!({"kind": "give_consent", "recipient": {"type": "organisation", "org": jc_org.id},
        "categories": ["plan", "patient_story"], "purpose": "Tilbage til arbejdet", "course": c.course,
        "given_by": {"type": "patient"}, "method": "written", "expires_at": expires.unwrap()});
    let (s, v) = w.sharing(&jens, &c.patient, consent).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let b = c.briefing(&jc).await;
    assert_eq!(b["story"]["what_matters"], "Fodbold med min søn");
    assert_eq!(b["goals"][0]["text"], "Spille fodbold igen");
    assert!(b["progress"].as_array().unwrap().is_empty(), "clinical findings were not part of it: {b}");
    // In a course the jobcentre opened, what the patient writes is that course's: its
    // team reads it without a consent.
    let (s, own) = w
        .post(
            &format!("/api/patients/{}/courses", c.patient),
            &jc,
            json!({"title": "Tilbage til arbejdet", "reason": "Sygemeldt", "started_on": "2026-03-01"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{own}");
    let base = format!("/api/patients/{}/courses/{}", c.patient, own["id"].as_str().unwrap());
    let version = w.get(&base, &jc).await.1["version"].clone();
    let story = json!({"expected_version": version, "change": {"kind": "write_story", "story": {"history": "Ondt i ryggen",
        "tried": "", "what_matters": "At arbejde igen", "preferences": "", "practical_needs": ""}}});
    let (s, v) = w.post(&format!("{base}/events"), &jens, story).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (_, b) = w.get(&format!("{base}/briefing"), &jc).await;
    assert_eq!(b["story"]["what_matters"], "At arbejde igen", "{b}");
}

async fn a_psychiatric_discharge_expects_a_letter(w: World) {
    let c = setup(&w).await;
    let psychiatry = w.app.add_organisation("Psykiatrien", Sector::HospitalPsychiatry, None).await.unwrap();
    w.app
        .add_user(
            "psych",
            "Anders",
            UserKind::Professional { profession: Profession::Psychiatrist, org: psychiatry.id },
        )
        .await
        .unwrap();
    let (_, psych) = w.app.issue_token("psych", None).await.unwrap();
    c.ok(&w.gp, json!({"kind": "join_care_team", "member": {"type": "organisation", "org": psychiatry.id}, "role": "psykiatri"})).await;
    let discharge = c
        .item(
            &psych,
            json!({"kind": "record_episode", "episode_kind": "discharge", "org": psychiatry.id,
        "on": "2026-03-01", "note": "Udskrevet"}),
        )
        .await;
    let b = c.briefing(&w.gp).await;
    assert_eq!(b["missing_letters"][0]["id"], json!(discharge), "the GP sees the letter is missing");
    assert_eq!(b["missing_letters"].as_array().unwrap().len(), 1);
    c.ok(
        &psych,
        json!({"kind": "receive_letter", "letter": discharge, "title": "Epikrise", "text": "Udskrevet efter tre uger"}),
    )
    .await;
    assert!(c.briefing(&w.gp).await["missing_letters"].as_array().unwrap().is_empty());
    // The physiotherapist is not told about psychiatric episodes.
    let b = c.briefing(&w.physio).await;
    assert!(b["withheld"].as_array().unwrap().iter().any(|x| x["category"] == "mental_health"), "{b}");
    let (_, t) = w.get(&format!("{}/timeline", c.base()), &w.physio).await;
    assert!(t["items"].as_array().unwrap().iter().all(|i| i["kind"] != "episode"));
}

async fn bad_care_input_writes_nothing(w: World) {
    let c = setup(&w).await;
    let before = c.version().await;
    let gp_owner = json!({"type": "role", "org": c.gp_org, "role": "egen læge"});
    let cases = [
        (step(gp_owner.clone(), "2026-01-01"), StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"),
        // At the end of the calendar: no one means it, and the timeline could not draw it.
        (step(gp_owner.clone(), "9999-12-31"), StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"),
        (
            json!({"kind": "plan_step", "step_kind": "test", "title": "x", "due_by": "2026-04-01", "reason": "x", "reason_plain": "x"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
        ),
        (
            step(json!({"type": "role", "org": "00000000-0000-4000-8000-000000000000", "role": "x"}), "2026-04-01"),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            json!({"kind": "give_advice", "topic": "astrologi", "stance": "x"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_value",
        ),
        (
            json!({"kind": "accept_handover", "handover": "00000000-0000-4000-8000-000000000000"}),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            json!({"kind": "record_progress", "on": "2026-03-01", "pain": 12}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
    ];
    for (change, status, code) in cases {
        let (s, v) = c.change(&w.gp, change.clone()).await;
        assert_eq!((s, v["error"]["code"].as_str().unwrap_or("")), (status, code), "{change}: {v}");
    }
    let step_id = c.item(&w.gp, step(gp_owner.clone(), "2026-04-01")).await;
    let gp_id = w.app.store().user_by_login("gp").await.unwrap().unwrap().id;
    let (s, v) = c.change(&w.gp, json!({"kind": "propose_handover", "subject": {"type": "step", "step": step_id},
        "to": {"type": "professional", "user": gp_id, "org": c.gp_org}, "reason": "x", "respond_by": null, "referral": null})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("yourself"));
    assert_eq!(c.version().await, before + 1, "only the one valid step was written");
}
