//! Who may see what, over HTTP, on both engines: consent across legal domains with
//! filtering and a visible note, withdrawal taking effect on the next request,
//! objections, proxies, break-glass, the patient's access log, sign-in with sessions
//! and CSRF, and organisation admins.

mod common;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use time::Duration;
use tower::ServiceExt;

use common::{note, World};
use sammen_domain::directory::UserKind;
use sammen_domain::vocab::{DataCategory, LegalDomain, Profession, Sector};

on_both_engines!(
    the_matrix_holds_on_this_engine,
    withdrawing_consent_stops_access_on_the_next_request,
    the_patient_is_told_when_the_team_records_their_wishes,
    an_objection_wins,
    a_proxy_reads_but_never_writes,
    break_glass_opens_for_a_while_and_is_told,
    the_access_log_shows_every_look_newest_first,
    signing_in_with_sessions_and_csrf,
    a_refused_form_says_why_in_the_readers_language,
    a_refused_action_on_the_briefing_keeps_what_was_typed,
    locked_out_without_revealing_accounts,
    organisation_admins_manage_only_their_own,
    other_courses_stay_out_of_sight,
    the_patient_says_yes_to_the_teams_goal,
    an_expired_handover_is_proposed_again_from_the_briefing,
    a_caseworker_is_offered_only_what_a_caseworker_may_record,
    a_reply_is_of_the_threads_kind_by_default,
);

async fn patient_login(
    w: &World,
    login: &str,
    patient: &str,
    kind: fn(sammen_domain::ids::PatientId) -> UserKind,
) -> String {
    w.app.add_user(login, login, kind(patient.parse().unwrap())).await.unwrap();
    w.app.issue_token(login, None).await.unwrap().1
}

fn own(p: sammen_domain::ids::PatientId) -> UserKind {
    UserKind::Patient { patient: p }
}

fn proxy(p: sammen_domain::ids::PatientId) -> UserKind {
    UserKind::Proxy { patient: p }
}

async fn record(w: &World, token: &str, patient: &str, course: &str, category: &str, title: &str) {
    let v = w.version_of_course(patient, course, token).await;
    let mut body = note(v, title);
    body["change"]["category"] = json!(category);
    let (s, r) = w.post(&format!("/api/patients/{patient}/courses/{course}/events"), token, body).await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
}

fn titles(course: &Value) -> BTreeSet<String> {
    course["entries"].as_array().unwrap().iter().map(|e| e["title"].as_str().unwrap().to_string()).collect()
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    None,
    Given,
    Expired,
    Withdrawn,
    Objection,
}

/// The law as the matrix expects it (see sammen-domain/tests/policy.rs).
fn the_law(reader: Sector, origin: LegalDomain, state: State, category: DataCategory) -> bool {
    let consented = state == State::Given;
    match (state, category) {
        (State::Objection, _) => false,
        (_, DataCategory::Identity) => true,
        _ if reader.legal_domain() != origin => consented,
        (_, DataCategory::MentalHealth) if origin == LegalDomain::Health => {
            matches!(reader, Sector::HospitalPsychiatry | Sector::GeneralPractice) || consented
        }
        _ => true,
    }
}

/// Every reader sector × origin domain × consent state × category, through the API
/// and the store of this engine.
async fn the_matrix_holds_on_this_engine(w: World) {
    let authors = [
        (LegalDomain::Health, Sector::Hospital, Profession::HospitalDoctor),
        (LegalDomain::Social, Sector::MunicipalSocial, Profession::SocialPsychiatryWorker),
        (LegalDomain::Employment, Sector::MunicipalEmployment, Profession::JobcentreSocialWorker),
    ];
    let mut author_tokens = Vec::new();
    for (i, (domain, sector, profession)) in authors.iter().enumerate() {
        let (t, o) = w.professional(&format!("author{i}"), *sector, *profession).await;
        author_tokens.push((*domain, t, o));
    }
    let mut readers = Vec::new();
    for (i, sector) in Sector::ALL.iter().enumerate() {
        let profession = match sector {
            Sector::GeneralPractice => Profession::GeneralPractitioner,
            Sector::PrivatePractice => Profession::Physiotherapist,
            Sector::Hospital => Profession::HospitalNurse,
            Sector::HospitalPsychiatry => Profession::Psychiatrist,
            Sector::MunicipalHealth => Profession::OccupationalTherapist,
            Sector::MunicipalEmployment => Profession::JobcentreSocialWorker,
            Sector::MunicipalSocial => Profession::SocialPsychiatryWorker,
        };
        let (t, o) = w.professional(&format!("reader{i}"), *sector, profession).await;
        readers.push((*sector, t, o));
    }
    let categories: Vec<DataCategory> =
        DataCategory::ALL.iter().copied().filter(|c| *c != DataCategory::Identity).collect();
    let mut checks = 0;
    for (n, state) in
        [State::None, State::Given, State::Expired, State::Withdrawn, State::Objection].into_iter().enumerate()
    {
        let cpr = format!("0{}0180{:04}", n + 1, 1000 + n);
        let (_, p) = w.post("/api/patients", &w.gp, json!({"cpr": cpr, "name": "Matrix"})).await;
        let patient = p["id"].as_str().unwrap().to_string();
        let (_, c) = w
            .post(
                &format!("/api/patients/{patient}/courses"),
                &w.gp,
                json!({"title": "Forløb", "reason": "Test", "started_on": "2026-02-01"}),
            )
            .await;
        let course = c["id"].as_str().unwrap().to_string();
        let orgs = author_tokens.iter().map(|(_, _, o)| o).chain(readers.iter().map(|(_, _, o)| o));
        for org in orgs {
            w.join(&patient, &course, org).await;
        }
        for (domain, token, _) in &author_tokens {
            for category in &categories {
                record(&w, token, &patient, &course, category.as_str(), &format!("{domain}/{category}")).await;
            }
        }
        for (sector, _, org) in &readers {
            // Outside health care a consent names the place; within it, a sector too.
            let recipient = match sector.legal_domain() {
                LegalDomain::Health => json!({"type": "sector", "sector": sector}),
                _ => json!({"type": "organisation", "org": org}),
            };
            let consent = |days: i64| {
                json!({"kind": "give_consent", "recipient": recipient,
                "categories": DataCategory::ALL, "purpose": "test", "course": course, "given_by": {"type": "patient"},
                "method": "written", "expires_at": (w.app.now() + Duration::days(days)).format(&time::format_description::well_known::Rfc3339).unwrap()})
            };
            match state {
                State::None => {}
                State::Given => assert_eq!(w.sharing(&w.gp, &patient, consent(300)).await.0, StatusCode::CREATED),
                State::Expired => assert_eq!(w.sharing(&w.gp, &patient, consent(1)).await.0, StatusCode::CREATED),
                State::Withdrawn => {
                    let (_, v) = w.sharing(&w.gp, &patient, consent(300)).await;
                    let id = v["consents"].as_array().unwrap().last().unwrap()["id"].clone();
                    let (s, _) = w.sharing(&w.gp, &patient, json!({"kind": "withdraw_consent", "consent": id})).await;
                    assert_eq!(s, StatusCode::CREATED);
                }
                State::Objection => {
                    let change = json!({"kind": "record_objection", "target": {"type": "organisation", "org": org}});
                    assert_eq!(w.sharing(&w.gp, &patient, change).await.0, StatusCode::CREATED);
                }
            }
        }
        if state == State::Expired {
            w.clock.advance(Duration::days(2));
        }
        for (sector, token, _) in &readers {
            let (s, view) = w.get(&format!("/api/patients/{patient}/courses/{course}"), token).await;
            if state == State::Objection {
                assert_eq!((s, view["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("objected")), "{sector}");
                checks += authors.len() * categories.len();
                continue;
            }
            assert_eq!(s, StatusCode::OK, "{sector} {view}");
            let seen = titles(&view);
            let mut withheld = BTreeSet::new();
            for (domain, _, _) in &author_tokens {
                for category in &categories {
                    let expected = the_law(*sector, *domain, state, *category);
                    assert_eq!(
                        seen.contains(&format!("{domain}/{category}")),
                        expected,
                        "reader {sector}, {domain}/{category}, {state:?}"
                    );
                    if !expected {
                        withheld.insert(category.as_str().to_string());
                    }
                    checks += 1;
                }
            }
            // The visible note names exactly what was left out.
            let noted: BTreeSet<String> = view["withheld"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n["category"].as_str().unwrap().to_string())
                .collect();
            assert_eq!(noted, withheld, "{sector} {state:?}");
            // Identity is always visible to the team.
            let (s, p) = w.get(&format!("/api/patients/{patient}"), token).await;
            assert_eq!((s, p["name"].as_str()), (StatusCode::OK, Some("Matrix")));
        }
        if state == State::Expired {
            w.clock.advance(Duration::days(-2));
        }
    }
    assert_eq!(checks, 5 * 7 * 3 * 8);
}

async fn withdrawing_consent_stops_access_on_the_next_request(w: World) {
    let (patient, course) = w.patient_with_course().await;
    let (jobcentre, org) =
        w.professional("birgitte", Sector::MunicipalEmployment, Profession::JobcentreSocialWorker).await;
    w.join(&patient, &course, &org).await;
    record(&w, &w.gp, &patient, &course, "plan", "Plan for tilbagevenden").await;
    record(&w, &w.gp, &patient, &course, "clinical_findings", "Undersøgelse").await;
    record(&w, &w.gp, &patient, &course, "social_employment", "Sygemeldt").await;
    let base = format!("/api/patients/{patient}/courses/{course}");

    let (_, before) = w.get(&base, &jobcentre).await;
    assert!(titles(&before).is_empty());
    assert_eq!(before["title"], "", "the course title is health data too");

    let expires = (w.app.now() + Duration::days(200)).format(&time::format_description::well_known::Rfc3339).unwrap();
    let consent = json!({"kind": "give_consent", "recipient": {"type": "organisation", "org": org},
        "categories": ["plan", "social_employment"], "purpose": "Opfølgning på sygedagpenge", "course": course,
        "given_by": {"type": "patient"}, "method": "oral", "expires_at": expires});
    // Outside health care only a written consent will do (Health Act §43-44).
    let (s, v) = w.sharing(&w.gp, &patient, consent.clone()).await;
    assert_eq!((s, v["error"]["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_field")), "{v}");
    assert!(titles(&w.get(&base, &jobcentre).await.1).is_empty(), "nothing was shared");
    let mut consent = consent;
    consent["method"] = json!("written");
    let (s, v) = w.sharing(&w.gp, &patient, consent).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let consent_id = v["consents"][0]["id"].clone();
    assert_eq!(v["consents"][0]["state"], "active");

    let (_, with) = w.get(&base, &jobcentre).await;
    assert_eq!(titles(&with), ["Plan for tilbagevenden", "Sygemeldt"].map(String::from).into());
    assert_eq!(with["title"], "Lændesmerter");
    assert_eq!(with["withheld"], json!([{"category": "clinical_findings", "items": 1}]));

    // The patient withdraws it themself; the very next request is filtered again.
    let jens = patient_login(&w, "jens", &patient, own).await;
    let (s, v) = w.sharing(&jens, &patient, json!({"kind": "withdraw_consent", "consent": consent_id})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["consents"][0]["state"], "withdrawn");
    let (_, after) = w.get(&base, &jobcentre).await;
    assert!(titles(&after).is_empty());
    // Withdrawing twice is refused; a consent for more than a year outside health too.
    let (s, _) = w.sharing(&jens, &patient, json!({"kind": "withdraw_consent", "consent": consent_id})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let too_long = (w.app.now() + Duration::days(400)).format(&time::format_description::well_known::Rfc3339).unwrap();
    let (s, v) = w
        .sharing(
            &w.gp,
            &patient,
            json!({"kind": "give_consent", "recipient": {"type": "organisation", "org": org},
        "categories": ["plan"], "purpose": "x", "course": course, "given_by": {"type": "patient"}, "method": "written",
        "expires_at": too_long}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("one year"));
    // The jobcentre cannot grant itself access.
    let (s, _) = w
        .sharing(
            &jobcentre,
            &patient,
            json!({"kind": "record_objection", "target": {"type": "organisation", "org": org}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "team members record the patient's wishes");
    let (s, _) = w.get(&base, &jobcentre).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

async fn the_patient_is_told_when_the_team_records_their_wishes(w: World) {
    let (patient, course) = w.patient_with_course().await;
    let jens = patient_login(&w, "jens", &patient, own).await;
    let expires = (w.app.now() + Duration::days(200)).format(&time::format_description::well_known::Rfc3339).unwrap();
    let consent = json!({"kind": "give_consent", "recipient": {"type": "organisation", "org": w.physio_org},
        "categories": ["plan"], "purpose": "Genoptræning", "course": course,
        "given_by": {"type": "patient"}, "method": "oral", "expires_at": expires});
    let told = |notices: &Value| -> Vec<Value> {
        notices.as_array().unwrap().iter().filter(|n| n["kind"] == "sharing_recorded").cloned().collect()
    };
    // The patient's own yes is no news to them.
    let (s, v) = w.sharing(&jens, &patient, consent.clone()).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert!(told(&w.get("/api/me/notices", &jens).await.1).is_empty());
    // The team's record of it is.
    let (s, v) = w.sharing(&w.gp, &patient, consent).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (_, notices) = w.get("/api/me/notices", &jens).await;
    let news = told(&notices);
    assert_eq!(news.len(), 1, "{notices}");
    assert_eq!(news[0]["patient"], patient.as_str());
    assert!(told(&w.get("/api/me/notices", &w.gp).await.1).is_empty(), "the one who recorded it is not told");
    // And the patient's own page says so, with the way to the sharing page.
    w.app.set_password("jens", "rigtig-kode-123").await.unwrap();
    let mut b = Browser::new(&w);
    assert_eq!(b.sign_in("jens", "rigtig-kode-123").await.0, StatusCode::SEE_OTHER);
    let (s, _, page) = b.send(Method::GET, &format!("/me/c/{course}"), None, None).await;
    assert_eq!(s, StatusCode::OK, "{page}");
    assert!(
        page.contains("Nyt til dig")
            && page.contains("href=\"/me/sharing\">En fagperson har ændret, hvem der må se dine data."),
        "{page}"
    );
    // The sharing page names who recorded a consent, and points out one recorded by the
    // very place it lets see: a caseworker writing in her own jobcentre's access.
    let (caseworker, jobcentre) =
        w.professional("birgitte", Sector::MunicipalEmployment, Profession::JobcentreSocialWorker).await;
    w.join(&patient, &course, &jobcentre).await;
    let own_office = json!({"kind": "give_consent", "recipient": {"type": "organisation", "org": jobcentre},
        "categories": ["plan"], "purpose": "Sygedagpenge", "course": course,
        "given_by": {"type": "patient"}, "method": "written", "expires_at": expires});
    let (s, v) = w.sharing(&caseworker, &patient, own_office).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, _, page) = b.send(Method::GET, "/me/sharing", None, None).await;
    assert_eq!(s, StatusCode::OK, "{page}");
    let gp = w.app.store().user_by_login("gp").await.unwrap().unwrap().name;
    assert!(page.contains(&format!("Skrevet ind af {gp}, ")) && page.contains("efter det, du sagde."), "{page}");
    assert!(page.contains("Skrevet ind af birgitte, Org birgitte, efter din underskrift."), "{page}");
    assert!(!page.contains("som pårørende."), "the patient is not told they are a proxy: {page}");
    assert_eq!(page.matches("Bemærk: det er skrevet ind af det sted, der får lov at se.").count(), 1, "{page}");
    // So is one for every place of a kind, recorded by one of those places.
    let every_gp = json!({"kind": "give_consent", "recipient": {"type": "sector", "sector": "general_practice"},
        "categories": ["plan"], "purpose": "Lægevagt", "course": course,
        "given_by": {"type": "patient"}, "method": "oral", "expires_at": expires});
    let (s, v) = w.sharing(&w.gp, &patient, every_gp).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (_, _, page) = b.send(Method::GET, "/me/sharing", None, None).await;
    assert_eq!(page.matches("Bemærk: det er skrevet ind af et af de steder, der får lov at se.").count(), 1, "{page}");
    // Three changes by the team, one line of news that says how many.
    let (_, _, page) = b.send(Method::GET, &format!("/me/c/{course}"), None, None).await;
    assert_eq!(page.matches("En fagperson har ændret, hvem der må se dine data.").count(), 1, "{page}");
    assert!(page.contains(" · 3 gange</span>"), "{page}");
    // A step under way past its last day is told as late, not only "I gang".
    let gp_org = w.app.store().user_by_login("gp").await.unwrap().unwrap().org().unwrap().to_string();
    let events = format!("/api/patients/{patient}/courses/{course}/events");
    let plan = json!({"kind": "plan_step", "step_kind": "treatment_series", "title": "Holdtræning",
        "owner": {"type": "role", "org": gp_org, "role": "egen læge"}, "due_from": null, "due_by": "2026-03-10",
        "reason": "R", "reason_plain": "Træning gør ryggen stærkere", "what_to_expect": "", "if_it_does_not_help": ""});
    let version = w.version_of_course(&patient, &course, &w.gp).await;
    let (_, r) = w.post(&events, &w.gp, json!({"expected_version": version, "change": plan})).await;
    let step = r["events"][0]["item"].clone();
    let going = json!({"kind": "change_step_status", "step": step, "status": "in_progress", "note": ""});
    let version = w.version_of_course(&patient, &course, &w.gp).await;
    assert_eq!(
        w.post(&events, &w.gp, json!({"expected_version": version, "change": going})).await.0,
        StatusCode::CREATED
    );
    let (_, _, page) = b.send(Method::GET, &format!("/me/c/{course}"), None, None).await;
    assert!(page.contains("Holdtræning") && !page.contains("I gang, men"), "not late yet: {page}");
    w.clock.advance(Duration::days(20));
    assert_eq!(b.sign_in("jens", "rigtig-kode-123").await.0, StatusCode::SEE_OTHER);
    let (_, _, page) = b.send(Method::GET, &format!("/me/c/{course}"), None, None).await;
    assert!(page.contains("I gang, men det skulle være færdigt senest 10. marts 2026."), "{page}");
}

async fn an_objection_wins(w: World) {
    let (patient, course) = w.patient_with_course().await;
    w.join(&patient, &course, &w.physio_org.clone()).await;
    let base = format!("/api/patients/{patient}/courses/{course}");
    assert_eq!(w.get(&base, &w.physio).await.0, StatusCode::OK);
    let jens = patient_login(&w, "jens", &patient, own).await;
    let (s, v) = w
        .sharing(
            &jens,
            &patient,
            json!({"kind": "record_objection", "target": {"type": "organisation", "org": w.physio_org}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, v) = w.get(&base, &w.physio).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(v["error"]["code"], "objected");
    let (s, _) = w.post(&format!("{base}/events"), &w.physio, note(4, "x")).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let objection = v["error"].clone();
    assert!(objection["message"].as_str().unwrap().contains("objected"));
    let (_, view) = w.get(&format!("/api/patients/{patient}/sharing"), &jens).await;
    let id = view["objections"][0]["id"].clone();
    // Only the patient lifts it: the GP, on the team, cannot do it for the clinic.
    let (s, v) = w.sharing(&w.gp, &patient, json!({"kind": "withdraw_objection", "objection": id})).await;
    assert_eq!((s, v["error"]["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("rejected")), "{v}");
    assert_eq!(w.get(&base, &w.physio).await.0, StatusCode::FORBIDDEN);
    let (s, _) = w.sharing(&jens, &patient, json!({"kind": "withdraw_objection", "objection": id})).await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(w.get(&base, &w.physio).await.0, StatusCode::OK);
}

async fn a_proxy_reads_but_never_writes(w: World) {
    let (patient, course) = w.patient_with_course().await;
    let jens = patient_login(&w, "jens", &patient, own).await;
    let mother = patient_login(&w, "mother", &patient, proxy).await;
    let base = format!("/api/patients/{patient}/courses/{course}");
    // Not a proxy until the patient names her.
    assert_eq!(w.get(&base, &mother).await.0, StatusCode::NOT_FOUND);
    let mother_id = w.app.store().user_by_login("mother").await.unwrap().unwrap().id;
    // Only the patient names a proxy: a team member cannot name anyone, themself least.
    let gp_id = w.app.store().user_by_login("gp").await.unwrap().unwrap().id;
    for user in [mother_id, gp_id] {
        let (s, v) =
            w.sharing(&w.gp, &patient, json!({"kind": "name_proxy", "user": user, "relationship": "læge"})).await;
        assert_eq!((s, v["error"]["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("rejected")), "{v}");
    }
    assert_eq!(w.get(&base, &mother).await.0, StatusCode::NOT_FOUND);
    let (s, _) =
        w.sharing(&jens, &patient, json!({"kind": "name_proxy", "user": mother_id, "relationship": "mor"})).await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(w.get(&base, &mother).await.0, StatusCode::OK);
    assert_eq!(w.get(&format!("/api/patients/{patient}/access-log"), &mother).await.0, StatusCode::OK);
    // The patient's log tells her reads from the patient's own: on the patient's behalf.
    let (_, log) = w.get(&format!("/api/patients/{patient}/access-log"), &jens).await;
    let hers: Vec<&Value> = log.as_array().unwrap().iter().filter(|e| e["who"] == "mother").collect();
    assert!(hers.iter().any(|e| e["what"] == "course"), "{log}");
    let permitted = hers.iter().filter(|e| e["outcome"] == "permitted");
    assert!(permitted.clone().count() >= 2 && permitted.clone().all(|e| e["purpose"] == "on_behalf"), "{log}");
    let (_, audit_events) = w.get(&format!("/fhir/AuditEvent?patient={patient}&_count=500"), &jens).await;
    let codes = audit_events.to_string();
    assert!(codes.contains("PWATRNY") && codes.contains("PATRQT"), "both kinds of read, told apart: {audit_events}");
    // Her page of the patient's log names the patient's own looks as the patient's.
    w.app.set_password("mother", "rigtig-kode-123").await.unwrap();
    let mut b = Browser::new(&w);
    assert_eq!(b.sign_in("mother", "rigtig-kode-123").await.0, StatusCode::SEE_OTHER);
    let (s, _, page) = b.send(Method::GET, "/me/access-log", None, None).await;
    assert_eq!(s, StatusCode::OK, "{page}");
    assert!(page.contains("Patienten selv") && !page.contains("Dig selv"), "{page}");
    assert!(page.contains("Du har selv set dataene"), "{page}");
    // The patient's pages speak to the patient; a proxy is told whose data they read, on
    // every page.
    let v = w.version_of_course(&patient, &course, &jens).await;
    let goal =
        json!({"expected_version": v, "change": {"kind": "set_goal", "goal_kind": "personal", "text": "Cykle igen"}});
    assert_eq!(w.post(&format!("{base}/events"), &jens, goal).await.0, StatusCode::CREATED);
    for page in [
        "/me/sharing".to_string(),
        "/me/access-log".into(),
        format!("/me/c/{course}/story"),
        format!("/me/c/{course}/progress"),
    ] {
        let (s, _, page) = b.send(Method::GET, &page, None, None).await;
        assert_eq!(s, StatusCode::OK, "{page}");
        assert!(page.contains("Du ser data for Jens Madsen som pårørende."), "{page}");
    }
    // The goal Jens set is his, agreed: his mother reads his answer, not her own.
    let (_, _, page) = b.send(Method::GET, &format!("/me/c/{course}/story"), None, None).await;
    assert!(page.contains("Cykle igen <span class=\"muted\">(Mit eget mål, aftalt med dig)"), "{page}");
    assert_eq!(w.post(&format!("{base}/events"), &mother, note(2, "x")).await.0, StatusCode::FORBIDDEN);
    let (s, _) = w.sharing(&mother, &patient, json!({"kind": "remove_proxy", "user": mother_id})).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "a proxy changes nothing");
    // Jens sees who reads along, by name, and takes her access back from his page.
    w.app.set_password("jens", "rigtig-kode-123").await.unwrap();
    let mut own_page = Browser::new(&w);
    assert_eq!(own_page.sign_in("jens", "rigtig-kode-123").await.0, StatusCode::SEE_OTHER);
    let (_, _, page) = own_page.send(Method::GET, "/me/sharing", None, None).await;
    assert!(page.contains("<strong>mother</strong>, mor") && page.contains("Fjern adgangen"), "{page}");
    let csrf = Browser::hidden_csrf(&page);
    let (_, current) = w.get(&format!("/api/patients/{patient}/sharing"), &jens).await;
    let post = format!("csrf={csrf}&version={}&action=remove_proxy&item={mother_id}", current["version"]);
    let (s, _, page) = own_page.send(Method::POST, "/me/sharing", Some(&post), None).await;
    assert_eq!(s, StatusCode::SEE_OTHER, "{page}");
    assert_eq!(w.get(&base, &mother).await.0, StatusCode::NOT_FOUND);
    let (_, _, page) = own_page.send(Method::GET, "/me/sharing", None, None).await;
    assert!(page.contains("Ingen pårørende kan se dine data."), "{page}");
}

async fn break_glass_opens_for_a_while_and_is_told(w: World) {
    let (patient, course) = w.patient_with_course().await;
    let jens = patient_login(&w, "jens", &patient, own).await;
    // The GP is the key worker: they will be told.
    let gp_id = w.app.store().user_by_login("gp").await.unwrap().unwrap().id;
    let v = w.version_of_course(&patient, &course, &w.gp).await;
    let (s, _) = w
        .post(
            &format!("/api/patients/{patient}/courses/{course}/events"),
            &w.gp,
            json!({"expected_version": v, "change": {"kind": "name_key_worker", "user": gp_id}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (doctor, _) = w.professional("er.doctor", Sector::Hospital, Profession::HospitalDoctor).await;
    let (caseworker, _) =
        w.professional("caseworker", Sector::MunicipalEmployment, Profession::JobcentreSocialWorker).await;
    let base = format!("/api/patients/{patient}/courses/{course}");
    assert_eq!(w.get(&base, &doctor).await.0, StatusCode::NOT_FOUND);
    let glass = format!("/api/patients/{patient}/break-glass");
    let (s, v) = w.post(&glass, &doctor, json!({"reason": "akut"})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "a reason in a sentence");
    // The same for a patient who does not exist: a short reason tells nothing.
    let nobody = "/api/patients/00000000-0000-4000-8000-000000000000/break-glass";
    let (s2, v2) = w.post(nobody, &doctor, json!({"reason": "akut"})).await;
    assert_eq!((s2, &v2["error"]["code"], &v2["error"]["message"]), (s, &v["error"]["code"], &v["error"]["message"]));
    let (s, _) = w.post(&glass, &caseworker, json!({"reason": "Borgeren er ikke mødt op til samtale"})).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "only health professionals may break the glass");
    let (s, v) = w.post(&glass, &doctor, json!({"reason": "Bevidstløs på skadestuen, behov for medicinliste"})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, c) = w.get(&base, &doctor).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(c["access"]["purpose"], "break_glass");
    assert_eq!(
        w.post(&format!("{base}/events"), &doctor, note(c["version"].as_u64().unwrap(), "x")).await.0,
        StatusCode::FORBIDDEN
    );
    // The patient and the key worker are told.
    let (_, notices) = w.get("/api/me/notices", &jens).await;
    assert_eq!(notices[0]["kind"], "break_glass");
    let (_, notices) = w.get("/api/me/notices", &w.gp).await;
    assert_eq!(notices[0]["kind"], "break_glass");
    assert_eq!(notices[0]["patient"], patient.as_str());
    // The access log flags it.
    let (_, log) = w.get(&format!("/api/patients/{patient}/access-log"), &jens).await;
    let flagged: Vec<&Value> = log.as_array().unwrap().iter().filter(|e| e["break_glass"] == true).collect();
    assert!(flagged.iter().any(|e| e["who"] == "er.doctor" && e["what"] == "course"), "{log}");
    // After four hours it is closed again.
    w.clock.advance(Duration::hours(4));
    assert_eq!(w.get(&base, &doctor).await.0, StatusCode::NOT_FOUND);
}

async fn the_access_log_shows_every_look_newest_first(w: World) {
    let (patient, course) = w.patient_with_course().await;
    let (jobcentre, org) =
        w.professional("birgitte", Sector::MunicipalEmployment, Profession::JobcentreSocialWorker).await;
    w.join(&patient, &course, &org).await;
    w.clock.advance(Duration::minutes(5));
    // One visit: the course, then its timeline and team, as one page would.
    for part in ["", "/timeline", "/team"] {
        w.get(&format!("/api/patients/{patient}/courses/{course}{part}"), &jobcentre).await;
    }
    w.clock.advance(Duration::minutes(5));
    // A professional who may not see the patient tries to register the same CPR number:
    // refused, naming nobody, and the attempt is on the patient's log, naming who tried.
    let (stranger, _) = w.professional("ukendt", Sector::PrivatePractice, Profession::Physiotherapist).await;
    let (s, v) = w.post("/api/patients", &stranger, json!({"cpr": "1204791437", "name": "Prøve"})).await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert!(!v.to_string().contains(&patient), "{v}");
    // And a look they may not take is denied, and on the log as such.
    assert_eq!(w.get(&format!("/api/patients/{patient}/courses/{course}"), &stranger).await.0, StatusCode::NOT_FOUND);
    let jens = patient_login(&w, "jens", &patient, own).await;
    let (s, log) = w.get(&format!("/api/patients/{patient}/access-log"), &jens).await;
    assert_eq!(s, StatusCode::OK);
    let log = log.as_array().unwrap();
    let probe = log
        .iter()
        .find(|e| e["who"] == "ukendt" && e["action"] == "create")
        .expect("the attempt to register is listed");
    assert_eq!(
        (&probe["action"], &probe["outcome"], &probe["what"]),
        (&json!("create"), &json!("refused"), &json!("patient registration"))
    );
    let times: Vec<&str> = log.iter().map(|e| e["at"].as_str().unwrap()).collect();
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(times, sorted, "newest first");
    let look = log
        .iter()
        .find(|e| e["who"] == "birgitte" && e["what"] == "course")
        .expect("the social worker's look is listed");
    assert_eq!(look["organisation"], "Org birgitte");
    assert_eq!(look["sector"], "municipal_employment");
    assert_eq!(look["purpose"], "treatment");
    assert_eq!(look["action"], "read");
    assert_eq!(look["what"], "course");
    // Exportable as CSV; no CPR number in it.
    let req = Request::get(format!("/api/patients/{patient}/access-log?format=csv"))
        .header("authorization", format!("Bearer {jens}"))
        .body(Body::empty())
        .unwrap();
    let res = w.router.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[header::CONTENT_TYPE], "text/csv; charset=utf-8");
    let csv = String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    assert!(csv.starts_with("time,who,profession,organisation,sector,action,purpose,outcome,what,break_glass\n"));
    assert!(
        csv.contains(
            ",birgitte,jobcentre_social_worker,Org birgitte,municipal_employment,read,treatment,permitted,course,false"
        ),
        "{csv}"
    );
    assert!(!csv.contains("1204791437"));
    assert_eq!(csv.matches(",birgitte,").count(), 3, "the export keeps every look: {csv}");
    // The page shows the social worker's three looks as one visit.
    w.app.set_password("jens", "rigtig-kode-123").await.unwrap();
    // A look for a message that is not there was not let through: not a save that failed.
    let missing = format!("/api/patients/{patient}/threads/{}", uuid_like());
    assert_eq!(w.get(&missing, &w.gp).await.0, StatusCode::NOT_FOUND);
    let mut b = Browser::new(&w);
    assert_eq!(b.sign_in("jens", "rigtig-kode-123").await.0, StatusCode::SEE_OTHER);
    let (s, _, page) = b.send(Method::GET, "/me/access-log", None, None).await;
    assert_eq!(s, StatusCode::OK, "{page}");
    assert!(page.contains("<td>Prøvede at se: en besked <span class=\"late\">(fik nej)</span>"), "{page}");
    assert_eq!(page.matches("<td>birgitte").count(), 1, "{page}");
    assert!(page.contains("Så: dit forløb, tidslinjen, dit team <span class=\"muted\">· 3 gange</span>"), "{page}");
    // A refused attempt reads as an attempt, and a denied one names no purpose it never had.
    assert!(page.contains("<td>Prøvede at oprette: dig som ny patient med dit CPR-nummer"), "{page}");
    // What the rules refused was not saved; only a look without access "got no".
    assert!(page.contains("selv om du allerede er oprettet <span class=\"late\">(blev ikke gemt)</span>"), "{page}");
    assert!(page.contains("<td>Prøvede at se: dit forløb <span class=\"late\">(fik nej)</span></td>\n<td>Havde ikke adgang til dine data</td>"), "{page}");
    // Emergency access is offered to health professionals only.
    w.app.set_password("birgitte", "rigtig-kode-123").await.unwrap();
    let mut caseworker = Browser::new(&w);
    assert_eq!(caseworker.sign_in("birgitte", "rigtig-kode-123").await.0, StatusCode::SEE_OTHER);
    let (_, _, search) = caseworker.send(Method::GET, "/patients", None, None).await;
    assert!(search.contains("<form") && !search.contains("action=\"/break-glass\""), "{search}");
    w.app.set_password("ukendt", "rigtig-kode-123").await.unwrap();
    let mut physio = Browser::new(&w);
    assert_eq!(physio.sign_in("ukendt", "rigtig-kode-123").await.0, StatusCode::SEE_OTHER);
    let (_, _, search) = physio.send(Method::GET, "/patients", None, None).await;
    assert!(search.contains("action=\"/break-glass\""), "{search}");
    // Professionals do not read the patient's access log.
    assert_eq!(w.get(&format!("/api/patients/{patient}/access-log"), &w.gp).await.0, StatusCode::FORBIDDEN);
}

/// A browser-like client: cookies kept between requests.
struct Browser<'a> {
    w: &'a World,
    cookies: std::collections::BTreeMap<String, String>,
}

impl<'a> Browser<'a> {
    fn new(w: &'a World) -> Self {
        Browser { w, cookies: Default::default() }
    }

    async fn send(
        &mut self,
        method: Method,
        uri: &str,
        form: Option<&str>,
        csrf_header: Option<&str>,
    ) -> (StatusCode, axum::http::HeaderMap, String) {
        let mut req = Request::builder().method(method).uri(uri);
        let cookie = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
        if !cookie.is_empty() {
            req = req.header(header::COOKIE, cookie);
        }
        if let Some(token) = csrf_header {
            req = req.header("x-csrf-token", token);
        }
        let body = match form {
            Some(f) => {
                req = req.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
                Body::from(f.to_string())
            }
            None => Body::empty(),
        };
        let res = self.w.router.clone().oneshot(req.body(body).unwrap()).await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        for set in headers.get_all(header::SET_COOKIE) {
            let set = set.to_str().unwrap();
            let (pair, _) = set.split_once(';').unwrap();
            let (k, v) = pair.split_once('=').unwrap();
            if v.is_empty() {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.into(), v.into());
            }
        }
        let body = String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
        (status, headers, body)
    }

    fn hidden_csrf(page: &str) -> String {
        let at = page.find("name=\"csrf\" value=\"").expect("a csrf field") + "name=\"csrf\" value=\"".len();
        page[at..].split('"').next().unwrap().to_string()
    }

    async fn sign_in(&mut self, login: &str, password: &str) -> (StatusCode, axum::http::HeaderMap, String) {
        let (_, _, page) = self.send(Method::GET, "/login", None, None).await;
        let csrf = Self::hidden_csrf(&page);
        self.send(Method::POST, "/login", Some(&format!("login={login}&password={password}&csrf={csrf}")), None).await
    }
}

async fn signing_in_with_sessions_and_csrf(w: World) {
    w.app.set_password("gp", "rigtig-kode-123").await.unwrap();
    let mut b = Browser::new(&w);
    let (s, h, page) = b.send(Method::GET, "/login", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(page.contains("Log ind") && page.contains("Adgangskode"), "Danish first");
    // A query that does not fit still gets the page.
    assert_eq!(b.send(Method::GET, "/login?lang=en&lang=da", None, None).await.0, StatusCode::OK);
    let csp = h[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"));
    // The sign-in form without its token is refused.
    let (s, _, _) = b.send(Method::POST, "/login", Some("login=gp&password=rigtig-kode-123&csrf=forged"), None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    let (s, _, page) = b.sign_in("gp", "forkert-kode").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(page.contains("Brugernavn eller adgangskode er forkert."));
    let (s, _, unknown) = b.sign_in("nobody", "forkert-kode").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(unknown.contains("Brugernavn eller adgangskode er forkert."), "an unknown login reads the same");

    let (s, h, _) = b.sign_in("gp", "rigtig-kode-123").await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let set: Vec<&str> = h.get_all(header::SET_COOKIE).iter().map(|v| v.to_str().unwrap()).collect();
    let session = set.iter().find(|c| c.starts_with("sammen_session=")).expect("a session cookie");
    for flag in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
        assert!(session.contains(flag), "{session}");
    }
    let (s, _, home) = b.send(Method::GET, "/", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(home.contains("Mette Holm"));
    let csrf = Browser::hidden_csrf(&home);

    // The API with the session: reads work; writes need the session's CSRF token.
    let (s, _, me) = b.send(Method::GET, "/api/me", None, None).await;
    assert_eq!(s, StatusCode::OK, "{me}");
    let (patient, _) = w.patient_with_course().await;
    let uri = format!("/api/patients/{patient}/break-glass");
    let (s, _, body) = b.send(Method::POST, &uri, None, None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(body.contains("\"csrf\""), "{body}");
    let (s, _, body) = b.send(Method::POST, &uri, None, Some("wrong")).await;
    assert!(body.contains("\"csrf\""), "{s} {body}");
    let trail = w.app.store().audit_page(0, 10_000).await.unwrap();
    assert!(
        trail.iter().any(|e| e.draft.object == "csrf" && e.draft.outcome.as_str() == "refused"),
        "the attempt is audited"
    );
    let (s, _, _) = b.send(Method::POST, &uri, None, Some(&csrf)).await;
    assert_ne!(s, StatusCode::FORBIDDEN, "the token lets the request through to the use case");

    // Sign-out needs the token too; afterwards the cookie is worth nothing.
    let old_session = b.cookies["sammen_session"].clone();
    let (s, h, page) = b.send(Method::POST, "/logout", Some("csrf=wrong"), None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(h[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/html"), "a page, not JSON: {page}");
    let (s, _, page) = b.send(Method::POST, "/logout", Some(&format!("csrf={csrf}")), None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(page.contains("Du er logget ud."));
    b.cookies.insert("sammen_session".into(), old_session);
    assert_eq!(b.send(Method::GET, "/api/me", None, None).await.0, StatusCode::UNAUTHORIZED);

    // A forged cookie, and a session past its eight hours.
    b.cookies.insert("sammen_session".into(), "0".repeat(64));
    assert_eq!(b.send(Method::GET, "/api/me", None, None).await.0, StatusCode::UNAUTHORIZED);
    let mut b = Browser::new(&w);
    assert_eq!(b.sign_in("gp", "rigtig-kode-123").await.0, StatusCode::SEE_OTHER);
    assert_eq!(b.send(Method::GET, "/api/me", None, None).await.0, StatusCode::OK);
    w.clock.advance(Duration::hours(8));
    assert_eq!(b.send(Method::GET, "/api/me", None, None).await.0, StatusCode::UNAUTHORIZED);
    let (_, _, page) = b.send(Method::GET, "/?lang=en", None, None).await;
    assert!(page.contains("Your session has ended"), "English beside Danish");
    // Failed sign-ins are on the audit trail, without any password.
    let trail = w.app.store().audit_page(0, 10_000).await.unwrap();
    assert!(trail.iter().any(|e| e.draft.action.as_str() == "sign_in" && e.draft.outcome.as_str() == "denied"));
}

async fn a_refused_form_says_why_in_the_readers_language(w: World) {
    w.app.set_password("gp", "rigtig-kode-123").await.unwrap();
    let (patient, course) = w.patient_with_course().await;
    let mut b = Browser::new(&w);
    assert_eq!(b.sign_in("gp", "rigtig-kode-123").await.0, StatusCode::SEE_OTHER);
    let form = format!("/p/{patient}/c/{course}/new/progress");
    let (s, _, page) = b.send(Method::GET, &form, None, None).await;
    assert_eq!(s, StatusCode::OK, "{page}");
    let csrf = Browser::hidden_csrf(&page);
    // Progress on a day to come is refused by the domain, which says why in English.
    let post = format!("csrf={csrf}&on=2030-01-01&pain=3&activity_1=G%C3%A5tur&score_1=4");
    let (s, _, page) = b.send(Method::POST, &form, Some(&post), None).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("Dato: fremskridt kan ikke registreres for en dag frem i tiden."), "{page}");
    assert!(!page.contains("progress cannot") && !page.contains("'on'"), "no English, no field's inner name");
    assert!(page.contains("value=\"Gåtur\""), "what was typed is still there");
    let (s, _, page) = b.send(Method::POST, &format!("{form}?lang=en"), Some(&post), None).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("Date: progress cannot be recorded for a future day."), "{page}");
    // What the form itself cannot mean is said as plainly, never as the JSON it becomes:
    // an activity without a number, a message to no one.
    let unrated = format!("csrf={csrf}&pain=3&activity_1=G%C3%A5tur");
    let (s, _, page) = b.send(Method::POST, &form, Some(&unrated), None).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("Aktiviteter: giv hver aktivitet, du skriver, et tal fra 0 til 10."), "{page}");
    let message = format!("/p/{patient}/c/{course}/new/message");
    let to_no_one = format!("csrf={csrf}&category=care_coordination&subject=Plan&text=Hej&data_category=plan");
    let (s, _, page) = b.send(Method::POST, &message, Some(&to_no_one), None).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert!(page.contains("Til: send beskeden til mindst én anden fagperson, en rolle eller hele teamet."), "{page}");
    assert!(!page.contains("JSON"), "{page}");
    // A referral's words for the patient written without its question are not dropped:
    // the handover is refused, saying what is missing, with the words still in the form.
    let handover = format!("/p/{patient}/c/{course}/new/handover");
    let part = format!(
        "csrf={csrf}&subject=course&to=role%7C{}%7Cfysioterapeut&reason=Stabil&reason_plain=Din+fysioterapeut+overtager",
        w.physio_org
    );
    let (s, _, page) = b.send(Method::POST, &handover, Some(&part), None).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert!(page.contains("Din fysioterapeut overtager") && page.contains("role=\"alert\""), "{page}");
    assert!(!page.contains("referral."), "the field is named by its label: {page}");
    // A date left empty or not a date is refused under its label, never as JSON.
    let step = format!("/p/{patient}/c/{course}/new/step");
    let undated = format!(
        "csrf={csrf}&title=Holdtr%C3%A6ning&step_kind=treatment_series&owner=role%7C{}%7Cfysioterapeut&due_by=&reason=R&reason_plain=R",
        w.physio_org
    );
    let (s, _, page) = b.send(Method::POST, &step, Some(&undated), None).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert!(page.contains("Senest: skal udfyldes.") && !page.contains("JSON"), "{page}");
    let far = format!(
        "csrf={csrf}&subject=course&to=role%7C{}%7Cfysioterapeut&reason=Stabil&respond_by=99999-01-01",
        w.physio_org
    );
    let (s, _, page) = b.send(Method::POST, &handover, Some(&far), None).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert!(page.contains("Svar senest: skriv en gyldig dato, fx 2026-03-15.") && !page.contains("JSON"), "{page}");
    let conference = format!("/p/{patient}/c/{course}/new/conference");
    let untimed = format!("csrf={csrf}&at=&place=Kommunen&agenda=Plan&patient_invited=no");
    let (s, _, page) = b.send(Method::POST, &conference, Some(&untimed), None).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert!(page.contains("Tidspunkt: skal udfyldes.") && !page.contains("JSON"), "{page}");
    // A field is named as its own form labels it: a goal's text is "Målet" there.
    let goal = format!("/p/{patient}/c/{course}/new/goal");
    let blank = format!("csrf={csrf}&goal_kind=functional&text=+");
    let (s, _, page) = b.send(Method::POST, &goal, Some(&blank), None).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert!(page.contains("Målet: ") && !page.contains("Tekst: "), "{page}");
    // A consent for every jobcentre is not offered, and refused if sent anyway.
    let consent = format!("/p/{patient}/c/{course}/new/consent");
    let (_, _, page) = b.send(Method::GET, &consent, None, None).await;
    assert!(page.contains("value=\"sector|hospital\"") && !page.contains("sector|municipal_employment"), "{page}");
    let expires = (w.app.now() + Duration::days(30)).date();
    let blanket = format!(
        "csrf={csrf}&recipient=sector%7Cmunicipal_employment&categories=plan&purpose=Job&method=written&expires_on={expires}"
    );
    let (s, _, page) = b.send(Method::POST, &consent, Some(&blanket), None).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert!(page.contains("Hvem må se: uden for sundhedsvæsenet nævner et samtykke ét sted"), "{page}");
    // Its lists start empty; a choice left unmade is asked for in the form's words.
    let unmade = format!("csrf={csrf}&recipient=&categories=plan&purpose=Job&method=&expires_on={expires}");
    let (s, _, page) = b.send(Method::POST, &consent, Some(&unmade), None).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert!(page.contains("Hvem må se: vælg, hvem der må se.") && !page.contains("JSON"), "{page}");
    let no_method = format!(
        "csrf={csrf}&recipient=org%7C{}&categories=plan&purpose=Job&method=&expires_on={expires}",
        w.physio_org
    );
    let (s, _, page) = b.send(Method::POST, &consent, Some(&no_method), None).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert!(page.contains("Hvordan blev det givet: vælg, hvordan patienten gav det."), "{page}");
    assert!(page.contains("value=\"Job\""), "what was typed is kept: {page}");
    // And on the patient's own pages: a consent for longer than a year is refused under
    // the name of the field the patient filled in, "Til og med".
    let (_, jobcentre) =
        w.professional("birgitte", Sector::MunicipalEmployment, Profession::JobcentreSocialWorker).await;
    patient_login(&w, "jens", &patient, own).await;
    w.app.set_password("jens", "rigtig-kode-123").await.unwrap();
    let mut jens = Browser::new(&w);
    assert_eq!(jens.sign_in("jens", "rigtig-kode-123").await.0, StatusCode::SEE_OTHER);
    let (_, _, page) = jens.send(Method::GET, "/me/sharing", None, None).await;
    let csrf = Browser::hidden_csrf(&page);
    let at = page.find("name=\"version\" value=\"").unwrap() + "name=\"version\" value=\"".len();
    let version = page[at..].split('"').next().unwrap().to_string();
    let too_long = (w.app.now() + Duration::days(400)).date();
    let give = format!(
        "csrf={csrf}&version={version}&action=give&org={jobcentre}&course={course}&categories=plan&purpose=Job&expires_on={too_long}"
    );
    let (s, _, page) = jens.send(Method::POST, "/me/sharing", Some(&give), None).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert!(page.contains("Til og med: ") && !page.contains("Udløber"), "{page}");
    // The progress page names its fields as it asks for them.
    let progress = format!("/me/c/{course}/progress");
    let (_, _, page) = jens.send(Method::GET, &progress, None, None).await;
    let at = page.find("name=\"version\" value=\"").unwrap() + "name=\"version\" value=\"".len();
    let version = page[at..].split('"').next().unwrap().to_string();
    let unrated = format!("csrf={csrf}&version={version}&pain=3&activity_1=G%C3%A5tur");
    let (s, _, page) = jens.send(Method::POST, &progress, Some(&unrated), None).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert!(page.contains("Ting du gerne vil kunne: giv hver aktivitet"), "{page}");
    // The API still answers in English, with the field's name for programs.
    let (_, read) = w.get(&format!("/api/patients/{patient}/courses/{course}"), &w.gp).await;
    let version = read["version"].as_u64().expect("a version");
    let (s, body) = w
        .post(
            &format!("/api/patients/{patient}/courses/{course}/events"),
            &w.gp,
            json!({"expected_version": version,
                   "change": {"kind": "record_progress", "on": "2030-01-01", "pain": 3, "activities": []}}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("'on'"), "{body}");
}

async fn a_refused_action_on_the_briefing_keeps_what_was_typed(w: World) {
    w.app.set_password("gp", "rigtig-kode-123").await.unwrap();
    let (patient, course) = w.patient_with_course().await;
    let base = format!("/api/patients/{patient}/courses/{course}");
    let join = json!({"kind": "join_care_team", "member": {"type": "organisation", "org": w.physio_org}, "role": "fysioterapi"});
    let gp_id = w.app.store().user_by_login("gp").await.unwrap().unwrap().id;
    for (token, c) in [
        (&w.gp, join),
        (&w.gp, json!({"kind": "name_key_worker", "user": gp_id})),
        (&w.gp, json!({"kind": "give_advice", "topic": "activity", "stance": "keep_active", "text": "Gå ture"})),
        (&w.physio, json!({"kind": "give_advice", "topic": "activity", "stance": "rest", "text": "Hvil"})),
    ] {
        let version = w.get(&base, &w.gp).await.1["version"].as_u64().unwrap();
        let body = json!({"expected_version": version, "change": c});
        let (s, v) = w.post(&format!("{base}/events"), token, body).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
    }
    let (_, read) = w.get(&base, &w.gp).await;
    let conflict = read["care"]["conflicts"][0]["id"].as_str().expect("a conflict").to_string();
    let version = read["version"].as_u64().unwrap();
    // The patient is told the team is agreeing, and shown neither side of it.
    patient_login(&w, "jens", &patient, own).await;
    w.app.set_password("jens", "rigtig-kode-123").await.unwrap();
    let mut jens = Browser::new(&w);
    assert_eq!(jens.sign_in("jens", "rigtig-kode-123").await.0, StatusCode::SEE_OTHER);
    let (_, _, page) = jens.send(Method::GET, &format!("/me/c/{course}"), None, None).await;
    assert!(page.contains("class=\"alert\"") && !page.contains("Gå ture") && !page.contains("Hvil<"), "{page}");

    let mut b = Browser::new(&w);
    assert_eq!(b.sign_in("gp", "rigtig-kode-123").await.0, StatusCode::SEE_OTHER);
    let briefing = format!("/p/{patient}/c/{course}");
    let (_, _, page) = b.send(Method::GET, &briefing, None, None).await;
    let csrf = Browser::hidden_csrf(&page);
    // Someone else changed the course after the page was read: the version is stale.
    let post = format!(
        "csrf={csrf}&version={}&action=resolve&item={conflict}&stance=keep_active&agreed_message=Hold+dig+i+gang%2C+hvil+kort",
        version - 1
    );
    let (s, _, page) = b.send(Method::POST, &format!("{briefing}/act"), Some(&post), None).await;
    assert_eq!(s, StatusCode::CONFLICT, "{page}");
    assert!(page.contains("id=\"act-error\"") && page.contains("En anden har ændret det samme imens"), "{page}");
    assert!(page.contains(">Hold dig i gang, hvil kort</textarea>"), "the typed message is kept: {page}");
    assert!(page.contains("href=\"#act-form\"") && page.contains("id=\"act-form\""), "the note points to the form");
    // With nothing typed, the note does not speak of what was typed.
    let bare = post.replace("Hold+dig+i+gang%2C+hvil+kort", "");
    let (s, _, page) = b.send(Method::POST, &format!("{briefing}/act"), Some(&bare), None).await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert!(page.contains("id=\"act-error\"") && !page.contains("href=\"#act-form\""), "{page}");
    assert_eq!(w.get(&base, &w.gp).await.1["version"].as_u64(), Some(version), "nothing was written");
    // With the page's own version it goes through.
    let post = post.replace(&format!("version={}", version - 1), &format!("version={version}"));
    let (s, _, _) = b.send(Method::POST, &format!("{briefing}/act"), Some(&post), None).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (_, read) = w.get(&base, &w.gp).await;
    assert_eq!(read["care"]["conflicts"][0]["resolution"]["agreed_message"], "Hold dig i gang, hvil kort");
    // The briefing shows the message beside the advice that holds.
    let (_, _, page) = b.send(Method::GET, &briefing, None, None).await;
    assert!(page.contains("Aftalt besked til patienten:</span> Hold dig i gang, hvil kort"), "{page}");
}

async fn locked_out_without_revealing_accounts(w: World) {
    w.app.set_password("gp", "rigtig-kode-123").await.unwrap();
    let mut b = Browser::new(&w);
    for _ in 0..5 {
        assert_eq!(b.sign_in("gp", "forkert-kode").await.0, StatusCode::UNAUTHORIZED);
    }
    let (s, _, locked) = b.sign_in("gp", "rigtig-kode-123").await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "locked even with the right password");
    assert!(locked.contains("For mange forsøg"));
    let (s, _, unknown) = b.sign_in("nobody", "forkert-kode").await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    let text = |page: &str| page.split("role=\"alert\">").nth(1).unwrap().split('<').next().unwrap().to_string();
    assert_eq!(text(&locked), text(&unknown), "the same words for an account that exists and one that does not");
    w.clock.advance(Duration::minutes(16));
    assert_eq!(b.sign_in("gp", "rigtig-kode-123").await.0, StatusCode::SEE_OTHER);
}

async fn organisation_admins_manage_only_their_own(w: World) {
    w.app.set_org_admin("gp", true).await.unwrap();
    let (s, v) = w
        .post(
            "/api/org/users",
            &w.gp,
            json!({"login": "ny.laege", "name": "Ny Læge", "profession": "general_practitioner"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (_, users) = w.get("/api/org/users", &w.gp).await;
    let logins: Vec<&str> = users.as_array().unwrap().iter().map(|u| u["login"].as_str().unwrap()).collect();
    assert_eq!(logins, ["gp", "ny.laege"]);
    let (s, v) = w.call(Method::POST, "/api/org/users/ny.laege/disable", Some(&w.gp), None).await;
    assert_eq!((s, v["disabled"].as_bool()), (StatusCode::OK, Some(true)));
    // Another organisation's user is out of reach, and looks like no one.
    assert_eq!(w.call(Method::POST, "/api/org/users/physio/disable", Some(&w.gp), None).await.0, StatusCode::NOT_FOUND);
    // A token cannot widen its own rights: no admin, no user management.
    assert_eq!(w.get("/api/org/users", &w.physio).await.0, StatusCode::FORBIDDEN);
    let (s, _) = w
        .post("/api/org/users", &w.physio, json!({"login": "x.y", "name": "X", "profession": "physiotherapist"}))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(w.app.store().user_by_login("x.y").await.unwrap().is_none());
    let trail = w.app.store().audit_page(0, 10_000).await.unwrap();
    assert!(trail.iter().any(|e| e.draft.object == "organisation/users" && e.draft.outcome.as_str() == "refused"));
}

/// A team member of one course does not learn of the patient's other courses.
async fn other_courses_stay_out_of_sight(w: World) {
    let (patient, course) = w.patient_with_course().await;
    let (_, second) = w
        .post(
            &format!("/api/patients/{patient}/courses"),
            &w.gp,
            json!({"title": "Psykose", "reason": "Hører stemmer", "started_on": "2026-02-10"}),
        )
        .await;
    w.join(&patient, &course, &w.physio_org.clone()).await;
    let (_, mine) = w.get(&format!("/api/patients/{patient}"), &w.physio).await;
    let listed: Vec<&str> = mine["courses"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(listed, [course.as_str()]);
    let (_, gp) = w.get(&format!("/api/patients/{patient}"), &w.gp).await;
    assert_eq!(gp["courses"].as_array().unwrap().len(), 2);
    assert_eq!(
        w.get(&format!("/api/patients/{patient}/courses/{}", second["id"].as_str().unwrap()), &w.physio).await.0,
        StatusCode::NOT_FOUND
    );
}

/// A goal the team agreed is the patient's only once they say yes to it too: their page
/// says so, and offers the yes; a proxy may not give it for them.
async fn the_patient_says_yes_to_the_teams_goal(w: World) {
    let (patient, course) = w.patient_with_course().await;
    let base = format!("/api/patients/{patient}/courses/{course}");
    let v = w.version_of_course(&patient, &course, &w.gp).await;
    let goal =
        json!({"expected_version": v, "change": {"kind": "set_goal", "goal_kind": "work", "text": "Fuld tid igen"}});
    let (s, r) = w.post(&format!("{base}/events"), &w.gp, goal).await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    let (_, c) = w.get(&base, &w.gp).await;
    let id = c["care"]["goals"][0]["id"].as_str().unwrap().to_string();
    let v = c["version"].as_u64().unwrap();
    let agree = json!({"expected_version": v, "change": {"kind": "agree_goal", "goal": id}});
    assert_eq!(w.post(&format!("{base}/events"), &w.gp, agree).await.0, StatusCode::CREATED);
    patient_login(&w, "jens", &patient, own).await;
    w.app.set_password("jens", "rigtig-kode-123").await.unwrap();
    let mut b = Browser::new(&w);
    assert_eq!(b.sign_in("jens", "rigtig-kode-123").await.0, StatusCode::SEE_OTHER);
    let story = format!("/me/c/{course}/story");
    let (_, _, page) = b.send(Method::GET, &story, None, None).await;
    assert!(page.contains("foreslået – du har ikke sagt ja endnu") && page.contains(">Jeg er enig</button>"), "{page}");
    let csrf = Browser::hidden_csrf(&page);
    let at = page.find("name=\"version\" value=\"").unwrap() + "name=\"version\" value=\"".len();
    let version = page[at..].split('"').next().unwrap().to_string();
    let yes = format!("csrf={csrf}&version={version}&what=agree&goal={id}");
    let (s, _, page) = b.send(Method::POST, &story, Some(&yes), None).await;
    assert_eq!(s, StatusCode::SEE_OTHER, "{page}");
    let (_, _, page) = b.send(Method::GET, &story, None, None).await;
    assert!(page.contains("aftalt med dig") && !page.contains(">Jeg er enig</button>"), "{page}");
    let jens_id = w.app.store().user_by_login("jens").await.unwrap().unwrap().id;
    let (_, c) = w.get(&base, &w.gp).await;
    assert!(c["care"]["goals"][0]["agreed_by"].as_array().unwrap().contains(&json!(jens_id)), "{c}");
    // A proxy reads it, and may not say yes for the patient.
    let mother = patient_login(&w, "mother", &patient, proxy).await;
    let mother_id = w.app.store().user_by_login("mother").await.unwrap().unwrap().id;
    let jens = w.app.issue_token("jens", None).await.unwrap().1;
    let (s, _) =
        w.sharing(&jens, &patient, json!({"kind": "name_proxy", "user": mother_id, "relationship": "mor"})).await;
    assert_eq!(s, StatusCode::CREATED);
    let v = c["version"].as_u64().unwrap();
    let agree = json!({"expected_version": v, "change": {"kind": "agree_goal", "goal": id}});
    assert_eq!(w.post(&format!("{base}/events"), &mother, agree).await.0, StatusCode::FORBIDDEN);
}

/// A handover nobody answered in time is offered again from the briefing, with what it
/// said filled in; the new one replaces it, on the briefing and on the worklist.
async fn an_expired_handover_is_proposed_again_from_the_briefing(w: World) {
    w.app.set_password("gp", "rigtig-kode-123").await.unwrap();
    let (patient, course) = w.patient_with_course().await;
    let events = format!("/api/patients/{patient}/courses/{course}/events");
    let version = w.version_of_course(&patient, &course, &w.gp).await;
    let to = json!({"type": "role", "org": w.physio_org, "role": "ryg og træning"});
    let change = json!({"kind": "propose_handover", "subject": {"type": "course"}, "to": to,
        "reason": "Stabil; træningen kan fortsætte hos jer", "respond_by": "2026-03-05", "referral": null});
    let (s, r) = w.post(&events, &w.gp, json!({"expected_version": version, "change": change})).await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    let first = r["events"][0]["item"].as_str().unwrap().to_string();
    let unanswered = |v: &Value| v["counts"]["unanswered_handover"].as_u64().unwrap_or(0);
    let mut b = Browser::new(&w);
    assert_eq!(b.sign_in("gp", "rigtig-kode-123").await.0, StatusCode::SEE_OTHER);
    let again = format!("/p/{patient}/c/{course}/new/handover?again={first}");
    let (_, _, page) = b.send(Method::GET, &format!("/p/{patient}/c/{course}"), None, None).await;
    assert!(!page.contains(&again), "not while it can still be answered: {page}");

    w.clock.advance(Duration::days(7));
    assert_eq!(unanswered(&w.get("/api/me/worklist", &w.gp).await.1), 1);
    // A week on, the session has ended: the GP signs in again.
    assert_eq!(b.sign_in("gp", "rigtig-kode-123").await.0, StatusCode::SEE_OTHER);
    let (_, _, page) = b.send(Method::GET, &format!("/p/{patient}/c/{course}"), None, None).await;
    assert!(
        page.contains("Udløbet uden svar") && page.contains(&format!("href=\"{again}\">Foreslå igen</a>")),
        "{page}"
    );
    let (_, briefing) = w.get(&format!("/api/patients/{patient}/courses/{course}/briefing"), &w.gp).await;
    assert_eq!(
        (&briefing["open_handovers"][0]["state"], &briefing["open_handovers"][0]["overdue"]),
        (&json!("expired"), &json!(true))
    );
    // The receiver can no longer answer it, and is told who can act.
    w.app.set_password("physio", "rigtig-kode-123").await.unwrap();
    let mut physio = Browser::new(&w);
    assert_eq!(physio.sign_in("physio", "rigtig-kode-123").await.0, StatusCode::SEE_OTHER);
    let (_, _, page) = physio.send(Method::GET, &format!("/p/{patient}/c/{course}"), None, None).await;
    assert!(
        page.contains("Afsenderen kan foreslå den igen eller trække den tilbage.") && !page.contains(&again),
        "{page}"
    );
    let (s, _, form) = b.send(Method::GET, &again, None, None).await;
    assert_eq!(s, StatusCode::OK, "{form}");
    assert!(form.contains(">Stabil; træningen kan fortsætte hos jer</textarea>"), "{form}");
    // The role was named otherwise than the form's default, and is offered as it was.
    let to_value = format!("role|{}|ryg og træning", w.physio_org);
    assert!(form.contains(&format!("<option value=\"{to_value}\" selected>")), "{form}");
    assert!(form.contains("<option value=\"course\" selected>"), "{form}");
    let me = w.app.store().user_by_login("gp").await.unwrap().unwrap().id;
    assert!(!form.contains(&format!("value=\"pro|{me}|")), "no handing over to oneself: {form}");

    let csrf = Browser::hidden_csrf(&form);
    let version = w.version_of_course(&patient, &course, &w.gp).await;
    let post = format!(
        "csrf={csrf}&version={version}&subject=course&to={}&reason=Stabil%3B+tr%C3%A6ningen+kan+forts%C3%A6tte+hos+jer&respond_by=",
        to_value.replace('|', "%7C").replace(' ', "+")
    );
    let (s, h, page) = b.send(Method::POST, &format!("/p/{patient}/c/{course}/new/handover"), Some(&post), None).await;
    assert_eq!(s, StatusCode::SEE_OTHER, "{page}");
    // Back on the briefing, told it was sent; the address says no more than that.
    let back = h[header::LOCATION].to_str().unwrap().to_string();
    assert_eq!(back, format!("/p/{patient}/c/{course}?done=sent"));
    let (_, _, page) = b.send(Method::GET, &back, None, None).await;
    assert!(page.contains("<p class=\"card ok\" role=\"status\">Sendt.</p>"), "{page}");
    let (_, _, page) = b.send(Method::GET, &format!("/p/{patient}/c/{course}?done=%3Cb%3E"), None, None).await;
    assert!(!page.contains("role=\"status\""), "only its own words are confirmed: {page}");
    let (_, briefing) = w.get(&format!("/api/patients/{patient}/courses/{course}/briefing"), &w.gp).await;
    let open = briefing["open_handovers"].as_array().unwrap();
    assert_eq!(open.len(), 1, "{briefing}");
    assert_ne!(open[0]["id"], first.as_str());
    assert_eq!(open[0]["state"], "proposed");
    assert_eq!(open[0]["to"], to);
    assert_eq!(unanswered(&w.get("/api/me/worklist", &w.gp).await.1), 0, "the old one waits on no one");
    let (_, course_now) = w.get(&format!("/api/patients/{patient}/courses/{course}"), &w.gp).await;
    let old = course_now["care"]["handovers"].as_array().unwrap().iter().find(|h| h["id"] == first.as_str()).cloned();
    assert_eq!(old.unwrap()["state"], "withdrawn");

    // A step handed over and finished since: proposing again leaves its subject to choose,
    // rather than the list's first choice (the whole course).
    let gp_org = w.app.store().user_by_login("gp").await.unwrap().unwrap().org().unwrap().to_string();
    let plan = json!({"kind": "plan_step", "step_kind": "follow_up", "title": "Opfølgning",
        "owner": {"type": "role", "org": gp_org, "role": "egen læge"}, "due_from": null, "due_by": "2026-04-30",
        "reason": "R", "reason_plain": "R", "what_to_expect": "", "if_it_does_not_help": ""});
    let change = |change: Value, version: u64| json!({"expected_version": version, "change": change});
    let version = w.version_of_course(&patient, &course, &w.gp).await;
    let (_, r) = w.post(&events, &w.gp, change(plan, version)).await;
    let step = r["events"][0]["item"].as_str().unwrap().to_string();
    let hand = json!({"kind": "propose_handover", "subject": {"type": "step", "step": step}, "to": to,
        "reason": "Træning", "respond_by": null, "referral": null});
    let version = w.version_of_course(&patient, &course, &w.gp).await;
    let (_, r) = w.post(&events, &w.gp, change(hand, version)).await;
    let handed = r["events"][0]["item"].as_str().unwrap().to_string();
    w.clock.advance(Duration::days(15));
    let done = json!({"kind": "change_step_status", "step": step, "status": "done", "note": ""});
    let version = w.version_of_course(&patient, &course, &w.gp).await;
    assert_eq!(w.post(&events, &w.gp, change(done, version)).await.0, StatusCode::CREATED);
    assert_eq!(b.sign_in("gp", "rigtig-kode-123").await.0, StatusCode::SEE_OTHER);
    let (_, _, form) =
        b.send(Method::GET, &format!("/p/{patient}/c/{course}/new/handover?again={handed}"), None, None).await;
    let subject = &form[form.find("id=\"f-subject\"").unwrap()..];
    let subject = &subject[..subject.find("</select>").unwrap()];
    assert!(subject.contains("<option value=\"\"></option>") && !subject.contains("selected"), "{subject}");
    assert!(form.contains(">Træning</textarea>"), "the rest is still filled in: {form}");
}

/// A jobcentre caseworker's forms offer work advice and sick leave, not medicine or a
/// hospital stay; sent anyway, they are refused in the form's words.
async fn a_caseworker_is_offered_only_what_a_caseworker_may_record(w: World) {
    let (patient, course) = w.patient_with_course().await;
    let (_, jobcentre) =
        w.professional("birgitte", Sector::MunicipalEmployment, Profession::JobcentreSocialWorker).await;
    w.join(&patient, &course, &jobcentre).await;
    w.app.set_password("birgitte", "rigtig-kode-123").await.unwrap();
    let mut b = Browser::new(&w);
    assert_eq!(b.sign_in("birgitte", "rigtig-kode-123").await.0, StatusCode::SEE_OTHER);
    let advice = format!("/p/{patient}/c/{course}/new/advice");
    let (s, _, page) = b.send(Method::GET, &advice, None, None).await;
    assert_eq!(s, StatusCode::OK, "{page}");
    assert!(page.contains("value=\"work|stay_at_work\"") && !page.contains("sleep_medicine"), "{page}");
    let csrf = Browser::hidden_csrf(&page);
    let version = w.version_of_course(&patient, &course, &w.gp).await;
    let post = format!("csrf={csrf}&version={version}&advice=sleep_medicine%7Ctaper&text=Stop");
    let (s, _, page) = b.send(Method::POST, &advice, Some(&post), None).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert!(
        page.contains("Emne og holdning: råd om behandling, medicin eller undersøgelser gives af sundhedspersoner."),
        "{page}"
    );
    let episode = format!("/p/{patient}/c/{course}/new/episode");
    let (_, _, page) = b.send(Method::GET, &episode, None, None).await;
    assert!(page.contains("value=\"sick_leave_start\"") && !page.contains("value=\"admission\""), "{page}");
    let post = format!("csrf={csrf}&version={version}&episode_kind=admission&org={jobcentre}&on=2026-03-01");
    let (s, _, page) = b.send(Method::POST, &episode, Some(&post), None).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert!(page.contains("et ophold eller besøg på et hospital skrives ind af sundhedspersoner"), "{page}");
    assert_eq!(w.version_of_course(&patient, &course, &w.gp).await, version, "nothing was written");
    // A social worker records no episode at all: there is no such form for them.
    let (_, social) = w.professional("sofie", Sector::MunicipalSocial, Profession::SocialPsychiatryWorker).await;
    w.join(&patient, &course, &social).await;
    w.app.set_password("sofie", "rigtig-kode-123").await.unwrap();
    let mut sofie = Browser::new(&w);
    assert_eq!(sofie.sign_in("sofie", "rigtig-kode-123").await.0, StatusCode::SEE_OTHER);
    let (s, _, page) = sofie.send(Method::GET, &episode, None, None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(page.contains("href=\"?lang=en\""), "the error page offers English too: {page}");
    let (_, _, page) = sofie.send(Method::GET, &format!("/p/{patient}/c/{course}"), None, None).await;
    assert!(!page.contains("/new/episode") && page.contains("/new/advice"), "{page}");
}

/// An id of the right shape that names nothing.
fn uuid_like() -> String {
    "0b7e4a52-9c1d-4f3e-8a6b-2d5c7e9f1a3b".to_string()
}

/// A reply about medicine is filed as medicine unless the writer says otherwise: the kind
/// decides who may read it.
async fn a_reply_is_of_the_threads_kind_by_default(w: World) {
    let (patient, course) = w.patient_with_course().await;
    w.join(&patient, &course, &w.physio_org.clone()).await;
    let message = json!({"category": "medication", "subject": "Smertestillende", "text": "Tager han stadig tramadol?",
        "to": [{"type": "role", "org": w.physio_org, "role": "fysioterapeut"}], "data_category": "medication"});
    let (s, v) = w.post(&format!("/api/patients/{patient}/courses/{course}/threads"), &w.gp, message).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let thread = v["id"].as_str().unwrap();
    w.app.set_password("physio", "rigtig-kode-123").await.unwrap();
    let mut b = Browser::new(&w);
    assert_eq!(b.sign_in("physio", "rigtig-kode-123").await.0, StatusCode::SEE_OTHER);
    let (s, _, page) = b.send(Method::GET, &format!("/p/{patient}/threads/{thread}"), None, None).await;
    assert_eq!(s, StatusCode::OK, "{page}");
    assert!(page.contains("<option value=\"medication\" selected>"), "{page}");
    assert!(!page.contains("<option value=\"messages\" selected>"), "{page}");
    // Whose thread and whose timeline it is, said at the top: a notice can lead here.
    assert!(page.contains("<span class=\"sub\">Jens Madsen</span></h1>"), "{page}");
    let (_, _, page) = b.send(Method::GET, &format!("/p/{patient}/c/{course}/timeline"), None, None).await;
    assert!(page.contains("<span class=\"sub\">Jens Madsen · Lændesmerter</span></h1>"), "{page}");
}
