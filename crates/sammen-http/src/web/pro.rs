//! The professional's workspace: the worklist (the home page), finding a patient among
//! those one may see, the briefing before a visit, the timeline, threads of messages,
//! and the forms that change a course. Every read and write goes through the same use
//! cases as the JSON API, so the policy and the audit trail see the pages exactly as
//! they see any other client.

use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use minijinja::context;
use serde::Serialize;
use serde_json::{json, Map, Value as Json};
use std::collections::BTreeMap;
use time::Date;

use sammen_app::AppError;
use sammen_domain::care::{advice_topics, Handover, HandoverSubject, Owner};
use sammen_domain::clock::danish_day;
use sammen_domain::cpr::Cpr;
use sammen_domain::decide::CourseChange;
use sammen_domain::directory::{Organisation, User};
use sammen_domain::event::TeamMember;
use sammen_domain::ids::{CourseId, ItemId, OrgId, PatientId, ThreadId, UserId};
use sammen_domain::messaging::{NewThread, Reply};
use sammen_domain::projection::CourseState;
use sammen_domain::vocab::{DataCategory, LegalDomain, Sector};
use sammen_domain::worklist::WorkKind;
use sammen_domain::DomainError;

use super::render::{rfc3339, role_label, text};
use super::{advice, see_other, see_other_done, svg, Web, WebError};
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/patients", get(search_page).post(search))
        .route("/break-glass", post(break_glass))
        .route("/p/{patient}", get(patient_page))
        .route("/p/{patient}/c/{course}", get(briefing))
        .route("/p/{patient}/c/{course}/timeline", get(timeline))
        .route("/p/{patient}/c/{course}/new/{form}", get(form_page).post(form_submit))
        .route("/p/{patient}/c/{course}/act", post(act))
        .route("/p/{patient}/threads/{thread}", get(thread_page).post(reply))
}

/// A posted form: every field as text, repeated fields (checkboxes) as lists.
type Fields = Vec<(String, String)>;

fn field<'a>(f: &'a Fields, name: &str) -> &'a str {
    f.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or("")
}

fn fields_all(f: &Fields, name: &str) -> Vec<String> {
    f.iter().filter(|(k, _)| k == name).map(|(_, v)| v.clone()).collect()
}

fn opt(s: &str) -> Json {
    let s = s.trim();
    if s.is_empty() {
        Json::Null
    } else {
        json!(s)
    }
}

fn ids(web: &Web, patient: &str, course: &str) -> Result<(PatientId, CourseId), WebError> {
    let p = PatientId::parse(patient).map_err(|e| web.err(e.into()))?;
    let c = CourseId::parse(course).map_err(|e| web.err(e.into()))?;
    Ok((p, c))
}

fn professional(web: &Web) -> Result<(), WebError> {
    if web.is_professional() {
        Ok(())
    } else {
        Err(web.err(AppError::Forbidden))
    }
}

/// An owner written as a form value: `role|<org>|<role>` or `pro|<user>|<org>`.
fn owner_value(o: &Owner) -> String {
    match o {
        Owner::Role { org, role } => format!("role|{org}|{role}"),
        Owner::Professional { user, org } => format!("pro|{user}|{org}"),
    }
}

/// An owner as the forms' lists name one: "role, place" or "name, place".
fn owner_label(o: &Owner, orgs: &[Organisation], staff: &[User], lang: &str) -> String {
    let place = |org: OrgId| orgs.iter().find(|o| o.id == org).map(|o| o.name.as_str()).unwrap_or("");
    match o {
        Owner::Role { org, role } => format!("{}, {}", role_label(role, lang), place(*org)),
        Owner::Professional { user, org } => {
            format!("{}, {}", staff.iter().find(|u| u.id == *user).map(|u| u.name.as_str()).unwrap_or(""), place(*org))
        }
    }
}

fn owner_json(value: &str) -> Json {
    let mut parts = value.splitn(3, '|');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("role"), Some(org), Some(role)) => json!({"type": "role", "org": org, "role": role}),
        (Some("pro"), Some(user), Some(org)) => json!({"type": "professional", "user": user, "org": org}),
        _ => json!({"type": "unknown"}),
    }
}

#[derive(Serialize)]
struct Choice {
    value: String,
    label: String,
}

/// Who can own a step on this course: each organisation on the team (as its role) and
/// each of their professionals.
fn owner_choices(course: &CourseState, orgs: &[Organisation], staff: &[User], lang: &str) -> Vec<Choice> {
    let choice = |o: Owner| Choice { value: owner_value(&o), label: owner_label(&o, orgs, staff, lang) };
    let mut out = Vec::new();
    for m in &course.team {
        match m.member {
            TeamMember::Organisation { org } => {
                out.push(choice(Owner::Role { org, role: m.role.clone() }));
                for u in staff.iter().filter(|u| u.org() == Some(org)) {
                    out.push(choice(Owner::Professional { user: u.id, org }));
                }
            }
            TeamMember::Professional { user, org } => out.push(choice(Owner::Professional { user, org })),
        }
    }
    out.dedup_by(|a, b| a.value == b.value);
    out
}

/// Any organisation (as a role) and any professional but `me`, for a handover or referral
/// that may go to someone new (the domain refuses one to oneself).
fn everyone(orgs: &[Organisation], staff: &[User], role: &str, me: UserId) -> Vec<Choice> {
    let mut out = Vec::new();
    for o in orgs {
        out.push(Choice { value: owner_value(&Owner::Role { org: o.id, role: role.into() }), label: o.name.clone() });
        for u in staff.iter().filter(|u| u.org() == Some(o.id) && u.id != me) {
            out.push(Choice {
                value: owner_value(&Owner::Professional { user: u.id, org: o.id }),
                label: format!("{}, {}", u.name, o.name),
            });
        }
    }
    out
}

fn vocab(lang: &str, group: &str, values: &[&str]) -> Vec<Choice> {
    values.iter().map(|v| Choice { value: v.to_string(), label: text(lang, &format!("vocab.{group}.{v}")) }).collect()
}

// ---- the worklist ------------------------------------------------------------------

pub async fn worklist(State(state): State<AppState>, web: Web) -> Result<Response, WebError> {
    let view = state.sammen.worklist(&web.actor, 20).await.map_err(|e| web.err(e))?;
    let notices = state.sammen.notices(&web.actor).await.map_err(|e| web.err(e))?;
    let line = |i: &sammen_app::worklist::WorkEntry| {
        let href = match i.thread {
            Some(t) => format!("/p/{}/threads/{t}", i.patient),
            None => format!("/p/{}/c/{}", i.patient, i.course),
        };
        // A conflict is named by its topic; the reader sees the topic's words.
        let title = match i.kind {
            WorkKind::AdviceConflict => advice::topic(&i.title, web.lang),
            _ => i.title.clone(),
        };
        context! { patient_name => &i.patient_name, title => title, href => href, due => i.due.map(|d| d.to_string()),
        overdue => i.overdue, since => rfc3339(i.since) }
    };
    let mut groups = Vec::new();
    for kind in WorkKind::ALL {
        let items: Vec<_> = view.items.iter().filter(|i| i.kind == *kind).map(line).collect();
        let count = view.counts.get(kind).copied().unwrap_or(0);
        groups.push(context! { kind => kind.as_str(), count => count, items => items });
    }
    let total: usize = view.counts.values().sum();
    let notices: Vec<_> = notices
        .iter()
        .take(10)
        .map(|n| {
            let parts: Vec<&str> = n.object.split('/').collect();
            let href = match parts.as_slice() {
                ["course", _, "thread", t] => format!("/p/{}/threads/{t}", n.patient),
                ["course", c, ..] => format!("/p/{}/c/{c}", n.patient),
                _ => format!("/p/{}", n.patient),
            };
            context! { kind => &n.kind, at => rfc3339(n.at), href => href }
        })
        .collect();
    web.page("pro/worklist.html", context! { groups => groups, total => total, notices => notices, page => "worklist" })
}

// ---- finding a patient -------------------------------------------------------------

/// Emergency access is for health professionals only (the policy lets no one else open
/// it); the search page offers it to no one else.
fn offers_break_glass(web: &Web) -> bool {
    web.actor.org.as_ref().is_some_and(|o| o.sector.legal_domain() == LegalDomain::Health)
}

async fn search_page(web: Web) -> Result<Response, WebError> {
    professional(&web)?;
    web.page("pro/search.html", context! { page => "search", break_glass => offers_break_glass(&web) })
}

async fn search(State(state): State<AppState>, web: Web, Form(f): Form<Fields>) -> Result<Response, WebError> {
    professional(&web)?;
    web.check_csrf(&state, field(&f, "csrf")).await?;
    let query = field(&f, "query").trim().to_string();
    // A CPR number finds exactly that patient; anything else searches names.
    let digits: String = query.chars().filter(|c| c.is_ascii_digit()).collect();
    let result = if digits.len() == 10 && query.chars().all(|c| c.is_ascii_digit() || c == '-' || c == ' ') {
        match Cpr::parse(&digits) {
            Ok(cpr) => match state.sammen.find_patient_by_cpr(&web.actor, &cpr).await {
                Ok(p) => Ok(vec![sammen_app::PatientHit { id: p.id, name: p.name }]),
                Err(AppError::NotFound(_)) => Ok(Vec::new()),
                Err(e) => Err(e),
            },
            Err(e) => Err(e.into()),
        }
    } else {
        state.sammen.search_patients_by_name(&web.actor, &query).await
    };
    match result {
        Ok(hits) => web.page(
            "pro/search.html",
            context! { page => "search", searched => true, hits => hits, break_glass => offers_break_glass(&web) },
        ),
        Err(AppError::Domain(e)) => {
            let error = web.err(AppError::Domain(e)).message;
            web.page(
                "pro/search.html",
                context! { page => "search", error => error, break_glass => offers_break_glass(&web) },
            )
        }
        Err(e) => Err(web.err(e)),
    }
}

async fn break_glass(State(state): State<AppState>, web: Web, Form(f): Form<Fields>) -> Result<Response, WebError> {
    professional(&web)?;
    web.check_csrf(&state, field(&f, "csrf")).await?;
    let cpr = Cpr::parse(field(&f, "cpr")).map_err(|e| web.err(e.into()));
    let opened = match cpr {
        Ok(cpr) => {
            state.sammen.open_break_glass_by_cpr(&web.actor, &cpr, field(&f, "reason")).await.map_err(|e| web.err(e))
        }
        Err(e) => Err(e),
    };
    match opened {
        Ok((patient, _)) => Ok(see_other(&format!("/p/{patient}"))),
        Err(e) if e.status == StatusCode::UNPROCESSABLE_ENTITY || e.status == StatusCode::NOT_FOUND => web.page(
            "pro/search.html",
            context! { page => "search", break_glass_error => e.message, break_glass => true },
        ),
        Err(e) => Err(e),
    }
}

async fn patient_page(
    State(state): State<AppState>,
    web: Web,
    Path(patient): Path<String>,
) -> Result<Response, WebError> {
    professional(&web)?;
    let id = PatientId::parse(&patient).map_err(|e| web.err(e.into()))?;
    let view = state.sammen.patient(&web.actor, id).await.map_err(|e| web.err(e))?;
    web.page("pro/patient.html", context! { patient => view, page => "search" })
}

// ---- the briefing and the timeline -------------------------------------------------

async fn briefing(
    State(state): State<AppState>,
    web: Web,
    Path((patient, course)): Path<(String, String)>,
) -> Result<Response, WebError> {
    professional(&web)?;
    briefing_page(&state, &web, &patient, &course, None).await
}

/// The briefing; with `refused`, a small action that was refused: why, and what was
/// typed into it, so the form shows it again rather than losing it.
async fn briefing_page(
    state: &AppState,
    web: &Web,
    patient: &str,
    course: &str,
    refused: Option<Json>,
) -> Result<Response, WebError> {
    let (p, c) = ids(web, patient, course)?;
    let s = &state.sammen;
    let b = s.briefing(&web.actor, p, c).await.map_err(|e| web.err(e))?;
    let team = s.care_team_view(&web.actor, p, c).await.map_err(|e| web.err(e))?;
    let threads = s.threads(&web.actor, p, c).await.map_err(|e| web.err(e))?;
    let chart = svg::progress_chart(&b.briefing.progress, web.lang);
    let topics: BTreeMap<String, (String, BTreeMap<String, String>)> = advice_topics()
        .iter()
        .map(|t| {
            let label = if web.lang == "en" { &t.en } else { &t.da };
            let stances = t
                .stances
                .iter()
                .map(|s| (s.id.clone(), if web.lang == "en" { s.en.clone() } else { s.da.clone() }))
                .collect();
            (t.id.clone(), (label.clone(), stances))
        })
        .collect();
    // The message the team agreed, shown once per topic: beside the first advice in force
    // that holds the agreed stance.
    let br = &b.briefing;
    let agreed_on: BTreeMap<String, &sammen_domain::care::AdviceConflict> = br
        .agreed_advice
        .iter()
        .filter_map(|c| {
            let stance = &c.resolution.as_ref()?.stance;
            let a = br.advice.iter().find(|a| a.topic == c.topic && a.stance == *stance)?;
            Some((a.id.to_string(), c))
        })
        .collect();
    let me = web.actor.user.id.to_string();
    let my_org = web.actor.user.org().map(|o| o.to_string()).unwrap_or_default();
    // Whether something was typed and its form is still on the page (someone may have
    // answered the handover or resolved the conflict meanwhile), so the note can point
    // to it. Only forms with text keep it: declining, resolving, receiving a letter.
    let refused = refused.map(|mut r| {
        let typed = ["reason", "agreed_message", "title", "text"].iter().any(|n| r["typed"][n] != "");
        let item = r["item"].as_str().unwrap_or_default().to_string();
        let is = |id: &dyn std::fmt::Display| id.to_string() == item;
        let br = &b.briefing;
        let listed = match r["action"].as_str() {
            Some("decline") => br
                .open_handovers
                .iter()
                .any(|h| is(&h.handover.id) && h.handover.state == sammen_domain::care::HandoverState::Proposed),
            Some("resolve") => br.conflicts.iter().any(|c| is(&c.id)),
            Some("receive_letter") => br.missing_letters.iter().any(|l| is(&l.id)),
            _ => false,
        };
        r["in_form"] = json!(typed && listed);
        r
    });
    web.page(
        "pro/briefing.html",
        context! {
            page => "course", patient => patient, course => course, b => b, team => team,
            threads => threads, chart => chart, topics => topics, me_id => me, my_org => my_org,
            my_domain => web.actor.domain(), refused => refused, agreed_on => agreed_on,
        },
    )
}

async fn timeline(
    State(state): State<AppState>,
    web: Web,
    Path((patient, course)): Path<(String, String)>,
) -> Result<Response, WebError> {
    let (p, c) = ids(&web, &patient, &course)?;
    let mut view = state.sammen.timeline(&web.actor, p, c).await.map_err(|e| web.err(e))?;
    advice::localise_timeline(&mut view, web.lang);
    let picture = svg::timeline(&view, danish_day(state.sammen.now()), web.lang);
    web.page(
        "pro/timeline.html",
        context! { page => "course", patient => patient, course => course, view => view, picture => picture },
    )
}

// ---- threads -------------------------------------------------------------------------

/// Names of organisations and professionals by id, for who wrote what.
async fn names(state: &AppState, web: &Web) -> Result<BTreeMap<String, String>, WebError> {
    let (orgs, staff) = state.sammen.listing().await.map_err(|e| web.err(e))?;
    let mut names: BTreeMap<String, String> = orgs.into_iter().map(|o| (o.id.to_string(), o.name)).collect();
    names.extend(staff.into_iter().map(|u| (u.id.to_string(), u.name)));
    Ok(names)
}

async fn thread_view(
    state: &AppState,
    web: &Web,
    patient: &str,
    thread: &str,
    error: Option<String>,
    text: &str,
) -> Result<Response, WebError> {
    let p = PatientId::parse(patient).map_err(|e| web.err(e.into()))?;
    let t = ThreadId::parse(thread).map_err(|e| web.err(e.into()))?;
    let view = state.sammen.read_thread(&web.actor, p, t).await.map_err(|e| web.err(e))?;
    let categories = vocab(web.lang, "category", &category_values());
    web.page(
        "pro/thread.html",
        context! { page => "course", patient => patient, thread => view, categories => categories,
        names => names(state, web).await?, client_id => sammen_app::ids::secret_hex(),
        error => error, text => text },
    )
}

async fn thread_page(
    State(state): State<AppState>,
    web: Web,
    Path((patient, thread)): Path<(String, String)>,
) -> Result<Response, WebError> {
    thread_view(&state, &web, &patient, &thread, None, "").await
}

async fn reply(
    State(state): State<AppState>,
    web: Web,
    Path((patient, thread)): Path<(String, String)>,
    Form(f): Form<Fields>,
) -> Result<Response, WebError> {
    web.check_csrf(&state, field(&f, "csrf")).await?;
    let p = PatientId::parse(&patient).map_err(|e| web.err(e.into()))?;
    let t = ThreadId::parse(&thread).map_err(|e| web.err(e.into()))?;
    let cmd = Reply {
        text: field(&f, "text").to_string(),
        data_category: field(&f, "data_category").parse().unwrap_or(DataCategory::Messages),
        references: Vec::new(),
        corrects: None,
        answer_by: None,
        client_id: Some(field(&f, "client_id").to_string()).filter(|c| !c.is_empty()),
    };
    match state.sammen.reply(&web.actor, p, t, &cmd, &[]).await {
        Ok(_) => Ok(see_other_done(&format!("/p/{patient}/threads/{thread}"), "sent")),
        Err(e @ AppError::Domain(_)) => {
            let error = web.err(e);
            let page = thread_view(&state, &web, &patient, &thread, Some(error.message), &cmd.text).await?;
            Ok(with_status(page, error.status))
        }
        Err(e) => Err(web.err(e)),
    }
}

fn with_status(mut res: Response, status: StatusCode) -> Response {
    *res.status_mut() = status;
    res
}

fn category_values() -> Vec<&'static str> {
    DataCategory::ALL.iter().filter(|c| **c != DataCategory::Identity).map(|c| c.as_str()).collect()
}

// ---- forms that change a course ------------------------------------------------------

/// One field of a form, as the generic form template draws it.
#[derive(Serialize)]
struct FieldSpec {
    name: &'static str,
    label: String,
    kind: &'static str,
    required: bool,
    /// A required choice with no default: the list starts empty, so nothing is chosen
    /// for the reader by being first (who may see, how a consent was given).
    pick: bool,
    hint: Option<String>,
    choices: Vec<Choice>,
    value: String,
    values: Vec<String>,
}

fn spec(lang: &str, form: &str, name: &'static str, kind: &'static str, required: bool) -> FieldSpec {
    let hint_key = format!("forms.{form}.{name}_hint");
    let hint = Some(text(lang, &hint_key)).filter(|h| *h != hint_key);
    FieldSpec {
        name,
        label: text(lang, &format!("forms.{form}.{name}")),
        kind,
        required,
        pick: false,
        hint,
        choices: Vec::new(),
        value: String::new(),
        values: Vec::new(),
    }
}

fn with_choices(mut f: FieldSpec, choices: Vec<Choice>) -> FieldSpec {
    f.choices = choices;
    f
}

/// A choice the reader must make themself: see [`FieldSpec::pick`].
fn to_pick(mut f: FieldSpec) -> FieldSpec {
    f.pick = true;
    f
}

const FORMS: &[&str] =
    &["goal", "step", "advice", "episode", "progress", "handover", "message", "consent", "conference"];

/// The fields of each form.
/// `me` is the reader and `domain` their legal domain: clinical advice and hospital stays
/// are offered to health professionals only, and a handover to anyone but oneself, as
/// the domain allows.
fn form_fields(
    form: &str,
    lang: &str,
    (me, domain): (UserId, LegalDomain),
    course: &CourseState,
    orgs: &[Organisation],
    staff: &[User],
) -> Vec<FieldSpec> {
    let s = |name, kind, required| spec(lang, form, name, kind, required);
    let owners = || owner_choices(course, orgs, staff, lang);
    match form {
        "goal" => vec![
            with_choices(
                s("goal_kind", "select", true),
                vocab(lang, "goal_kind", &["clinical", "functional", "work", "recovery"]),
            ),
            s("text", "textarea", true),
        ],
        "step" => vec![
            s("title", "text", true),
            with_choices(
                s("step_kind", "select", true),
                vocab(
                    lang,
                    "step_kind",
                    &["assessment", "treatment_series", "rehabilitation", "follow_up", "meeting", "test"],
                ),
            ),
            with_choices(s("owner", "select", true), owners()),
            s("due_from", "date", false),
            s("due_by", "date", true),
            s("reason", "textarea", true),
            s("reason_plain", "textarea", true),
            s("what_to_expect", "textarea", false),
            s("if_it_does_not_help", "textarea", false),
        ],
        "advice" => vec![
            with_choices(
                s("advice", "select", true),
                advice_topics()
                    .iter()
                    .filter(|t| !t.clinical || domain == LegalDomain::Health)
                    .flat_map(|t| {
                        t.stances.iter().map(move |st| Choice {
                            value: format!("{}|{}", t.id, st.id),
                            label: if lang == "en" {
                                format!("{}: {}", t.en, st.en)
                            } else {
                                format!("{}: {}", t.da, st.da)
                            },
                        })
                    })
                    .collect(),
            ),
            s("text", "textarea", false),
        ],
        "episode" => vec![
            with_choices(
                s("episode_kind", "select", true),
                vocab(
                    lang,
                    "episode_kind",
                    match domain {
                        LegalDomain::Health => &[
                            "admission",
                            "leave",
                            "discharge",
                            "outpatient_start",
                            "outpatient_end",
                            "sick_leave_start",
                            "sick_leave_end",
                        ],
                        LegalDomain::Employment => &["sick_leave_start", "sick_leave_end"],
                        LegalDomain::Social => &[],
                    },
                ),
            ),
            with_choices(
                s("org", "select", true),
                orgs.iter().map(|o| Choice { value: o.id.to_string(), label: o.name.clone() }).collect(),
            ),
            s("on", "date", true),
            s("note", "textarea", false),
        ],
        "progress" => {
            // Left empty, the day is today.
            let mut v = vec![s("on", "date", false), s("pain", "number", false)];
            for name in ["activity_1", "score_1", "activity_2", "score_2", "activity_3", "score_3"] {
                v.push(s(name, if name.starts_with("score") { "number" } else { "text" }, false));
            }
            v
        }
        "handover" => {
            let mut subjects =
                vec![Choice { value: "course".into(), label: text(lang, "forms.handover.whole_course") }];
            if course.key_worker.is_some() {
                subjects
                    .push(Choice { value: "key_worker".into(), label: text(lang, "forms.handover.key_worker_role") });
            }
            for st in course.care.steps.iter().filter(|s| !s.status.is_final()) {
                subjects.push(Choice { value: format!("step|{}", st.id), label: st.title.clone() });
            }
            vec![
                with_choices(s("subject", "select", true), subjects),
                with_choices(
                    s("to", "select", true),
                    everyone(orgs, staff, &text(lang, "forms.handover.default_role"), me),
                ),
                s("reason", "textarea", true),
                s("respond_by", "date", false),
                s("question", "textarea", false),
                s("findings", "textarea", false),
                s("tried", "textarea", false),
                s("red_flags_checked", "textarea", false),
                s("reason_plain", "textarea", false),
                s("told_to_expect", "textarea", false),
            ]
        }
        "message" => {
            let mut to = vec![Choice { value: "care_team".into(), label: text(lang, "forms.message.whole_team") }];
            to.extend(owners());
            vec![
                with_choices(s("to", "select", true), to),
                with_choices(
                    s("category", "select", true),
                    vocab(
                        lang,
                        "thread_category",
                        &[
                            "care_coordination",
                            "regarding_referral",
                            "discharge",
                            "medication",
                            "psychiatry_social",
                            "other",
                        ],
                    ),
                ),
                s("topic", "text", false),
                s("subject", "text", true),
                s("text", "textarea", true),
                with_choices(s("data_category", "select", true), vocab(lang, "category", &category_values())),
                s("answer_by", "date", false),
            ]
        }
        "consent" => {
            let mut recipients: Vec<Choice> =
                orgs.iter().map(|o| Choice { value: format!("org|{}", o.id), label: o.name.clone() }).collect();
            // "Every place of a kind" only within health care: outside it a consent names
            // one place (the domain refuses a blanket one).
            for sector in Sector::ALL.iter().filter(|s| s.legal_domain() == LegalDomain::Health) {
                recipients.push(Choice {
                    value: format!("sector|{}", sector.as_str()),
                    label: text(lang, &format!("vocab.sector_all.{}", sector.as_str())),
                });
            }
            vec![
                to_pick(with_choices(s("recipient", "select", true), recipients)),
                with_choices(s("categories", "checkboxes", true), vocab(lang, "category", &category_values())),
                s("purpose", "text", true),
                to_pick(with_choices(s("method", "select", true), vocab(lang, "consent_method", &["written", "oral"]))),
                s("expires_on", "date", true),
            ]
        }
        "conference" => vec![
            s("at", "datetime-local", true),
            s("place", "text", true),
            s("agenda", "textarea", true),
            with_choices(s("participants", "checkboxes", true), owners()),
            with_choices(s("patient_invited", "select", true), vocab(lang, "yes_no", &["no", "yes"])),
        ],
        _ => Vec::new(),
    }
}

fn fill(mut fields: Vec<FieldSpec>, posted: &Fields) -> Vec<FieldSpec> {
    for f in &mut fields {
        f.value = field(posted, f.name).to_string();
        f.values = fields_all(posted, f.name);
    }
    fields
}

async fn form_context(
    state: &AppState,
    web: &Web,
    p: PatientId,
    c: CourseId,
    form: &str,
) -> Result<(CourseState, Vec<FieldSpec>), WebError> {
    // No episode is a social worker's to record (the domain's rule): no form for it.
    let not_theirs = form == "episode" && web.actor.domain() == LegalDomain::Social;
    if !FORMS.contains(&form) || not_theirs {
        return Err(web.err(AppError::NotFound("form")));
    }
    let view = state.sammen.read_course(&web.actor, p, c).await.map_err(|e| web.err(e))?;
    let (orgs, staff) = state.sammen.listing().await.map_err(|e| web.err(e))?;
    let fields = form_fields(form, web.lang, (web.actor.user.id, web.actor.domain()), &view.course, &orgs, &staff);
    Ok((view.course, fields))
}

#[derive(serde::Deserialize)]
struct FormQuery {
    /// On the handover form: the handover, left unanswered, that this one proposes again.
    again: Option<String>,
}

/// What a handover said, as its form's fields, to propose it again; its answer date is
/// left for the new one to set.
fn handover_fields(h: &Handover) -> Fields {
    let subject = match h.subject {
        HandoverSubject::Course => "course".to_string(),
        HandoverSubject::KeyWorker => "key_worker".to_string(),
        HandoverSubject::Step { step } => format!("step|{step}"),
    };
    let mut f =
        vec![("subject".into(), subject), ("to".into(), owner_value(&h.to)), ("reason".into(), h.reason.clone())];
    if let Some(r) = &h.referral {
        for (name, value) in [
            ("question", &r.question),
            ("findings", &r.findings),
            ("tried", &r.tried),
            ("red_flags_checked", &r.red_flags_checked),
            ("reason_plain", &r.reason_plain),
            ("told_to_expect", &r.told_to_expect),
        ] {
            f.push((name.into(), value.clone()));
        }
    }
    f
}

async fn form_page(
    State(state): State<AppState>,
    web: Web,
    Path((patient, course, form)): Path<(String, String, String)>,
    Query(query): Query<FormQuery>,
) -> Result<Response, WebError> {
    professional(&web)?;
    let (p, c) = ids(&web, &patient, &course)?;
    let (state_now, mut fields) = form_context(&state, &web, p, c, &form).await?;
    let again = query.again.as_deref().and_then(|id| ItemId::parse(id).ok());
    if let Some(h) = again.and_then(|id| state_now.care.handover(id)).filter(|_| form == "handover") {
        // A role named otherwise than the form's default is offered as it was.
        let to = owner_value(&h.to);
        if let Some(f) = fields.iter_mut().find(|f| f.name == "to" && !f.choices.iter().any(|c| c.value == to)) {
            let (orgs, staff) = state.sammen.listing().await.map_err(|e| web.err(e))?;
            f.choices.push(Choice { label: owner_label(&h.to, &orgs, &staff, web.lang), value: to });
        }
        fields = fill(fields, &handover_fields(h));
        // A step finished since, or a key worker no longer there: the subject is chosen
        // anew, not left to the list's first choice.
        let gone = |f: &FieldSpec| f.name == "subject" && !f.choices.iter().any(|c| c.value == f.value);
        if let Some(f) = fields.iter_mut().find(|f| gone(f)) {
            f.value.clear();
            f.pick = true;
        }
    }
    web.page(
        "pro/form.html",
        context! { page => "course", patient => patient, course => course, form => form, fields => fields,
        version => state_now.version, title => state_now.title, client_id => sammen_app::ids::secret_hex() },
    )
}

/// Turns a posted form into the change (or message, or consent) it asks for.
fn change_of(form: &str, f: &Fields, today: Date) -> Result<Json, DomainError> {
    let v = |n: &str| field(f, n).trim().to_string();
    Ok(match form {
        "goal" => json!({"kind": "set_goal", "goal_kind": v("goal_kind"), "text": v("text")}),
        "step" => json!({"kind": "plan_step", "step_kind": v("step_kind"), "title": v("title"),
            "owner": owner_json(&v("owner")), "due_from": opt(&v("due_from")), "due_by": v("due_by"),
            "reason": v("reason"), "reason_plain": v("reason_plain"), "what_to_expect": v("what_to_expect"),
            "if_it_does_not_help": v("if_it_does_not_help")}),
        "advice" => {
            let advice = v("advice");
            let (topic, stance) = advice.split_once('|').unwrap_or(("", ""));
            json!({"kind": "give_advice", "topic": topic, "stance": stance, "text": v("text")})
        }
        "episode" => json!({"kind": "record_episode", "episode_kind": v("episode_kind"), "org": v("org"),
            "on": v("on"), "note": v("note")}),
        "progress" => {
            let (pain, activities) = super::progress::read(f, 3)?;
            json!({"kind": "record_progress", "on": if v("on").is_empty() { today.to_string() } else { v("on") },
                "pain": pain, "activities": activities})
        }
        "handover" => {
            let subject = v("subject");
            let subject = match subject.split_once('|') {
                Some(("step", id)) => json!({"type": "step", "step": id}),
                _ if subject == "key_worker" => json!({"type": "key_worker"}),
                _ => json!({"type": "course"}),
            };
            // A referral if any of its parts is written: a part written without the rest is
            // refused, naming what is missing, rather than dropped without a word.
            let parts = ["question", "findings", "tried", "red_flags_checked", "reason_plain", "told_to_expect"];
            let referral = if parts.iter().all(|p| v(p).is_empty()) {
                Json::Null
            } else {
                json!({"question": v("question"), "findings": v("findings"), "tried": v("tried"),
                    "red_flags_checked": v("red_flags_checked"), "reason_plain": v("reason_plain"),
                    "told_to_expect": v("told_to_expect")})
            };
            json!({"kind": "propose_handover", "subject": subject, "to": owner_json(&v("to")), "reason": v("reason"),
                "respond_by": opt(&v("respond_by")), "referral": referral})
        }
        "conference" => {
            let at = v("at");
            // A datetime-local value is Danish wall time without an offset.
            let at = time::PrimitiveDateTime::parse(&at, DATETIME_LOCAL)
                .map(|naive| {
                    let guess = naive.assume_utc();
                    naive.assume_offset(sammen_domain::clock::danish_offset(guess))
                })
                .ok()
                .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
                .unwrap_or(at);
            let participants: Vec<Json> = fields_all(f, "participants").iter().map(|p| owner_json(p)).collect();
            json!({"kind": "schedule_conference", "at": at, "place": v("place"), "agenda": v("agenda"),
                "participants": participants, "patient_invited": v("patient_invited") == "yes"})
        }
        _ => json!({}),
    })
}

fn message_of(f: &Fields) -> Json {
    let v = |n: &str| field(f, n).trim().to_string();
    // No one chosen: no recipients, which the domain refuses in words ("to"), not a
    // recipient of a kind no one knows.
    let to = match v("to").as_str() {
        "" => json!([]),
        "care_team" => json!([{"type": "care_team"}]),
        other => json!([owner_json(other)]),
    };
    let mut m = Map::new();
    m.insert("category".into(), json!(v("category")));
    m.insert("topic".into(), opt(&v("topic")));
    m.insert("subject".into(), json!(v("subject")));
    m.insert("to".into(), to);
    m.insert("text".into(), json!(v("text")));
    m.insert("data_category".into(), json!(v("data_category")));
    m.insert("answer_by".into(), opt(&v("answer_by")));
    m.insert("client_id".into(), opt(&v("client_id")));
    Json::Object(m)
}

/// Reads the consent form. Its two lists start empty, so a choice left unmade is refused
/// here in the form's words, not as the JSON it would become.
fn consent_of(f: &Fields, course: CourseId) -> Result<Json, DomainError> {
    let v = |n: &str| field(f, n).trim().to_string();
    let recipient = match v("recipient").split_once('|') {
        Some(("org", id)) => json!({"type": "organisation", "org": id}),
        Some(("sector", s)) => json!({"type": "sector", "sector": s}),
        _ => return Err(DomainError::field("recipient", "choose who may see")),
    };
    let method = v("method");
    if !["written", "oral"].contains(&method.as_str()) {
        return Err(DomainError::field("method", "choose how the patient gave it"));
    }
    let expires = super::render::end_of_danish_day(&v("expires_on"));
    Ok(json!({"kind": "give_consent", "recipient": recipient, "categories": fields_all(f, "categories"),
        "purpose": v("purpose"), "course": course, "given_by": {"type": "patient"}, "method": method,
        "expires_at": expires}))
}

/// Decodes form-made JSON into a command; a mismatch is the reader's input, told in
/// the same words as the API's.
fn decode<T: serde::de::DeserializeOwned>(web: &Web, value: Json) -> Result<T, WebError> {
    crate::problem::from_value(value).map_err(|p| WebError { status: p.status, message: p.message, lang: web.lang })
}

async fn form_submit(
    State(state): State<AppState>,
    web: Web,
    Path((patient, course, form)): Path<(String, String, String)>,
    Form(f): Form<Fields>,
) -> Result<Response, WebError> {
    professional(&web)?;
    web.check_csrf(&state, field(&f, "csrf")).await?;
    let (p, c) = ids(&web, &patient, &course)?;
    let (current, fields) = form_context(&state, &web, p, c, &form).await?;
    let s = &state.sammen;
    let today = danish_day(s.now());
    let mut preview = None;
    // A refusal names a field by this form's label where it has its own ("Målet").
    let own = &|field: &str| super::refusal::form_label(web.lang, &form, field);
    let result: Result<(), WebError> = async {
        check_dates(&fields, &f).map_err(|e| web.err_on(e.into(), own))?;
        match form.as_str() {
            "message" => {
                let cmd: NewThread = decode(&web, message_of(&f))?;
                if field(&f, "action") == "preview" {
                    let said = s.preview_thread(&web.actor, p, c, &cmd).await.map_err(|e| web.err_on(e, own))?;
                    preview = Some(preview_in(web.lang, &said));
                    return Ok(());
                }
                s.start_thread(&web.actor, p, c, &cmd, &[]).await.map(|_| ()).map_err(|e| web.err_on(e, own))
            }
            "consent" => {
                let change = consent_of(&f, c).map_err(|e| web.err_on(e.into(), own))?;
                let change: sammen_domain::decide::SharingChange = decode(&web, change)?;
                let version = s.sharing(&web.actor, p).await.map_err(|e| web.err_on(e, own))?.version;
                s.change_sharing(&web.actor, p, version, &change).await.map(|_| ()).map_err(|e| web.err_on(e, own))
            }
            _ => {
                let change = change_of(&form, &f, today).map_err(|e| web.err_on(e.into(), own))?;
                let change: CourseChange = decode(&web, change)?;
                let version = field(&f, "version").parse().unwrap_or(current.version);
                s.change_course(&web.actor, p, c, version, &change).await.map(|_| ()).map_err(|e| web.err_on(e, own))
            }
        }
    }
    .await;
    match result {
        Ok(()) if preview.is_none() => {
            let what = if matches!(form.as_str(), "message" | "handover") { "sent" } else { "saved" };
            Ok(see_other_done(&format!("/p/{patient}/c/{course}"), what))
        }
        Ok(()) => web.page(
            "pro/form.html",
            context! { page => "course", patient => patient, course => course, form => form, fields => fill(fields, &f),
            version => current.version, title => current.title, preview => preview,
            client_id => field(&f, "client_id") },
        ),
        Err(e)
            if e.status.is_client_error() && e.status != StatusCode::FORBIDDEN && e.status != StatusCode::NOT_FOUND =>
        {
            let page = web.page(
                "pro/form.html",
                context! { page => "course", patient => patient, course => course, form => form, fields => fill(fields, &f),
                           version => current.version, title => current.title, error => e.message,
                           client_id => field(&f, "client_id") },
            )?;
            Ok(with_status(page, e.status))
        }
        Err(e) => Err(e),
    }
}

/// What a `datetime-local` field posts: Danish wall time without an offset.
const DATETIME_LOCAL: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]");

/// The form's dates and times, read before the form becomes JSON: a date left empty or
/// not a date (a browser without a date picker, a year of five digits) is refused under
/// the field's label, not as JSON that does not fit.
fn check_dates(fields: &[FieldSpec], f: &Fields) -> Result<(), DomainError> {
    for spec in fields.iter().filter(|s| matches!(s.kind, "date" | "datetime-local")) {
        let value = field(f, spec.name).trim();
        if value.is_empty() {
            if spec.required {
                return Err(DomainError::field(spec.name, "it must not be empty"));
            }
            continue;
        }
        let day = time::macros::format_description!("[year]-[month]-[day]");
        if spec.kind == "date" && Date::parse(value, day).is_err() {
            return Err(DomainError::field(spec.name, "write a valid date, e.g. 2026-03-15"));
        }
        if spec.kind == "datetime-local" && time::PrimitiveDateTime::parse(value, DATETIME_LOCAL).is_err() {
            return Err(DomainError::field(spec.name, "write a valid date and time"));
        }
    }
    Ok(())
}

/// A message's preview with why a recipient would not get it in the reader's language.
fn preview_in(lang: &str, preview: &sammen_app::messages::Preview) -> Json {
    let mut out = json!(preview);
    for (i, r) in preview.recipients.iter().enumerate() {
        if let Some(reason) = &r.reason {
            out["recipients"][i]["reason"] = json!(super::refusal::reason_in(lang, reason));
        }
    }
    out
}

/// The small actions on the briefing page: agree to a goal, change a step's status,
/// answer a handover, resolve an advice conflict, mark a letter received.
async fn act(
    State(state): State<AppState>,
    web: Web,
    Path((patient, course)): Path<(String, String)>,
    Form(f): Form<Fields>,
) -> Result<Response, WebError> {
    professional(&web)?;
    web.check_csrf(&state, field(&f, "csrf")).await?;
    let (p, c) = ids(&web, &patient, &course)?;
    let v = |n: &str| field(&f, n).trim().to_string();
    let change = match v("action").as_str() {
        "agree_goal" => json!({"kind": "agree_goal", "goal": v("item")}),
        "step_status" => {
            json!({"kind": "change_step_status", "step": v("item"), "status": v("status"), "note": v("note")})
        }
        "acknowledge" => json!({"kind": "acknowledge_handover", "handover": v("item")}),
        "accept" => json!({"kind": "accept_handover", "handover": v("item")}),
        "decline" => json!({"kind": "decline_handover", "handover": v("item"), "reason": v("reason")}),
        "withdraw" => json!({"kind": "withdraw_handover", "handover": v("item"), "reason": v("reason")}),
        "resolve" => {
            let choice = v("stance");
            json!({"kind": "resolve_advice_conflict", "conflict": v("item"), "stance": choice, "agreed_message": v("agreed_message")})
        }
        "receive_letter" => {
            json!({"kind": "receive_letter", "letter": v("item"), "title": v("title"), "text": v("text")})
        }
        _ => return Err(web.err(DomainError::field("action", "not a known action").into())),
    };
    let change: CourseChange = decode(&web, change)?;
    let version = v("version").parse().map_err(|_| web.err(DomainError::field("version", "missing").into()))?;
    match state.sammen.change_course(&web.actor, p, c, version, &change).await {
        Ok(_) => Ok(see_other_done(&format!("/p/{patient}/c/{course}"), "saved")),
        Err(e) => {
            let e = web.err(e);
            if !e.status.is_client_error() || e.status == StatusCode::FORBIDDEN || e.status == StatusCode::NOT_FOUND {
                return Err(e);
            }
            let typed: Map<String, Json> = ["reason", "stance", "agreed_message", "title", "text"]
                .iter()
                .map(|n| (n.to_string(), json!(v(n))))
                .collect();
            let refused = json!({"action": v("action"), "item": v("item"), "message": e.message, "typed": typed});
            let page = briefing_page(&state, &web, &patient, &course, Some(refused)).await?;
            Ok(with_status(page, e.status))
        }
    }
}
