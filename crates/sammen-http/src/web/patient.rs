//! The patient's own pages (and, read-only, their proxy's): my course in plain words,
//! my story and goals, my progress, who may see what, and who has looked.

use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use minijinja::context;
use serde_json::json;
use std::collections::{BTreeMap, HashSet};

use sammen_app::briefing::TimelineView;
use sammen_app::AppError;
use sammen_domain::clock::danish_day;
use sammen_domain::decide::{CourseChange, SharingChange};
use sammen_domain::directory::UserKind;
use sammen_domain::ids::{CourseId, PatientId};
use sammen_domain::vocab::DataCategory;
use sammen_domain::DomainError;

use super::{advice, render, see_other_done, svg, Web, WebError};
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/me/c/{course}", get(course_page))
        .route("/me/c/{course}/story", get(story_page).post(story_submit))
        .route("/me/c/{course}/progress", get(progress_page).post(progress_submit))
        .route("/me/sharing", get(sharing_page).post(sharing_submit))
        .route("/me/access-log", get(access_log_page))
}

type Fields = Vec<(String, String)>;

fn field<'a>(f: &'a Fields, name: &str) -> &'a str {
    f.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or("")
}

/// A refused form: the message, the status, and what the person typed, so the page
/// shows it again and nothing is lost.
struct Refused {
    message: String,
    status: StatusCode,
    posted: Fields,
}

impl Refused {
    /// The page's context for a form shown again: `error`, and `posted` (what was typed
    /// in each field, by name; for ticked boxes see [`Refused::all`]).
    fn context(refused: &Option<Refused>) -> (Option<&str>, BTreeMap<&str, &str>, StatusCode) {
        match refused {
            Some(r) => {
                let mut posted = BTreeMap::new();
                for (k, v) in &r.posted {
                    posted.entry(k.as_str()).or_insert(v.as_str());
                }
                (Some(r.message.as_str()), posted, r.status)
            }
            None => (None, BTreeMap::new(), StatusCode::OK),
        }
    }

    /// Every value posted under a name (the ticked boxes of a group).
    fn all<'a>(refused: &'a Option<Refused>, name: &str) -> Vec<&'a str> {
        refused.iter().flat_map(|r| r.posted.iter()).filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect()
    }
}

/// What became of a form: done (back to the page, post/redirect/get), or refused.
enum Outcome {
    Done(Response),
    Refused(Refused),
}

/// Sorts a change's result into an [`Outcome`]; anything but a refusal of the change
/// itself (forbidden, not found, internal) is an error page.
///
/// `labels` names the fields the page labels its own way: the domain's name of the field
/// and the key of the page's label in the translations.
fn outcome(
    web: &Web,
    result: Result<(), AppError>,
    back: &str,
    posted: Fields,
    labels: &[(&str, &str)],
) -> Result<Outcome, WebError> {
    match result {
        Ok(()) => Ok(Outcome::Done(see_other_done(back, "saved"))),
        Err(e @ AppError::Domain(_)) => {
            let own =
                |field: &str| labels.iter().find(|(f, _)| *f == field).map(|(_, key)| render::text(web.lang, key));
            let err = web.err_on(e, &own);
            Ok(Outcome::Refused(Refused { message: err.message, status: err.status, posted }))
        }
        Err(e) => Err(web.err(e)),
    }
}

/// Reads a change from the form's JSON shape and applies it at the form's version.
async fn apply_course_change(
    state: &AppState,
    web: &Web,
    (p, c): (PatientId, CourseId),
    f: &Fields,
    change: serde_json::Value,
    refusal: DomainError,
) -> Result<(), AppError> {
    let change = serde_json::from_value::<CourseChange>(change).map_err(|_| AppError::from(refusal))?;
    let version = field(f, "version").parse().unwrap_or(0);
    state.sammen.change_course(&web.actor, p, c, version, &change).await.map(|_| ())
}

/// The patient whose record this person reads: their own, or the one they are proxy for.
fn whose(web: &Web) -> Result<PatientId, WebError> {
    match web.actor.user.kind {
        UserKind::Patient { patient } | UserKind::Proxy { patient } => Ok(patient),
        _ => Err(web.err(AppError::Forbidden)),
    }
}

fn writes(web: &Web) -> bool {
    matches!(web.actor.user.kind, UserKind::Patient { .. })
}

/// For a proxy, the name of the patient whose pages she reads (the banner that says so);
/// for the patient, nothing.
async fn proxy_of(state: &AppState, web: &Web, p: PatientId) -> Result<Option<String>, WebError> {
    if writes(web) {
        return Ok(None);
    }
    Ok(Some(state.sammen.patient(&web.actor, p).await.map_err(|e| web.err(e))?.name))
}

fn course_id(web: &Web, course: &str) -> Result<CourseId, WebError> {
    CourseId::parse(course).map_err(|e| web.err(e.into()))
}

/// The home page for a patient: their first open course (or a note that there is none).
pub async fn my_course(State(state): State<AppState>, web: Web) -> Result<Response, WebError> {
    let p = whose(&web)?;
    let me = state.sammen.patient(&web.actor, p).await.map_err(|e| web.err(e))?;
    let first =
        me.courses.iter().find(|c| c.status == sammen_domain::projection::CourseStatus::Open).or(me.courses.first());
    match first {
        Some(c) => course_view(&state, &web, c.id).await,
        None => {
            let notices = news(&state, &web).await?;
            web.page(
                "patient/course.html",
                context! { page => "course", no_course => true, name => me.name, notices => notices, writes => writes(&web) },
            )
        }
    }
}

async fn course_page(
    State(state): State<AppState>,
    web: Web,
    Path(course): Path<String>,
) -> Result<Response, WebError> {
    let c = course_id(&web, &course)?;
    course_view(&state, &web, c).await
}

/// My course: what has happened and where, what happens now and next and why, who my
/// key worker is and how to reach them, and what happens if a step does not help.
async fn course_view(state: &AppState, web: &Web, c: CourseId) -> Result<Response, WebError> {
    let p = whose(web)?;
    let s = &state.sammen;
    let me = s.patient(&web.actor, p).await.map_err(|e| web.err(e))?;
    let course = s.read_course(&web.actor, p, c).await.map_err(|e| web.err(e))?;
    let mut timeline = s.timeline(&web.actor, p, c).await.map_err(|e| web.err(e))?;
    // Advice the team still disagrees on is not the patient's to sort out: the advice
    // section says the team is agreeing, and the timeline does not show both sides.
    timeline.items.retain(|i| !(i.kind == "advice" && i.status == "in_conflict"));
    advice::localise_timeline(&mut timeline, web.lang);
    plain_handover_titles(&mut timeline, web.lang);
    let team = s.care_team_view(&web.actor, p, c).await.map_err(|e| web.err(e))?;
    let today = danish_day(s.now());
    let care = &course.course.care;
    let now_steps: Vec<_> = care.steps.iter().filter(|st| st.is_current(today)).collect();
    let next_steps: Vec<_> = care.steps.iter().filter(|st| !st.status.is_final() && !st.is_current(today)).collect();
    // Agreed messages where the team disagreed; otherwise the advice in force, one per topic.
    let label = |topic: &str, stance: &str| advice::label(topic, stance, web.lang);
    let open: HashSet<&str> =
        care.conflicts.iter().filter(|c| c.resolution.is_none()).map(|c| c.topic.as_str()).collect();
    let mut topics_shown = HashSet::new();
    let mut advice = Vec::new();
    for c in care.conflicts.iter().rev() {
        let Some(r) = &c.resolution else { continue };
        if open.contains(c.topic.as_str()) || !topics_shown.insert(c.topic.clone()) {
            continue;
        }
        if let Some((topic, stance)) = label(&c.topic, &r.stance) {
            advice.push(context! { topic => topic, stance => stance, text => &r.agreed_message, agreed => true });
        }
    }
    for a in care.advice.iter().rev() {
        let in_force = a.state == sammen_domain::care::AdviceState::InForce;
        if !in_force || open.contains(a.topic.as_str()) || !topics_shown.insert(a.topic.clone()) {
            continue;
        }
        if let Some((topic, stance)) = label(&a.topic, &a.stance) {
            advice.push(context! { topic => topic, stance => stance, text => &a.text, agreed => false });
        }
    }
    let conferences: Vec<_> = care.conferences.iter().filter(|c| c.patient_invited && c.minutes.is_none()).collect();
    let picture = svg::timeline(&timeline, today, web.lang);
    let notices = news(state, web).await?;
    web.page(
        "patient/course.html",
        context! {
            page => "course", name => me.name, courses => me.courses, course => course, view => timeline,
            picture => picture, team => team, now_steps => now_steps, next_steps => next_steps, advice => advice,
            open_conflicts => !open.is_empty(), conferences => conferences, notices => notices,
            writes => writes(web), today => today.to_string(),
        },
    )
}

/// A referral's question and a handover's reason are written for the professional who
/// receives them ("vurdering af radikulopati efter tolv uger i primærsektoren"). The
/// patient's timeline names where it went instead; the referral's reason in plain words
/// stays beside it.
fn plain_handover_titles(view: &mut TimelineView, lang: &str) {
    let no_place = render::text(lang, "timeline.no_place");
    let sent_to = render::text(lang, "timeline.sent_to");
    for item in view.items.iter_mut().filter(|i| matches!(i.kind, "referral" | "handover")) {
        let place = item.org.and_then(|o| view.names.get(&o.to_string())).unwrap_or(&no_place);
        item.title = sent_to.replace("{place}", place);
    }
}

/// What Sammen told the patient (or their proxy) in the last 30 days, newest first:
/// someone used emergency access, or someone on the team changed who may see for them.
/// Each links to the page that shows it (`/me/<page>`).
async fn news(state: &AppState, web: &Web) -> Result<Vec<minijinja::Value>, WebError> {
    let p = whose(web)?;
    let since = state.sammen.now() - time::Duration::days(30);
    let notices = state.sammen.notices(&web.actor).await.map_err(|e| web.err(e))?;
    // A proxy may be a patient too, or proxy for several: only this patient's news here.
    // One line per kind, at its newest, with how many times: the page it links to shows
    // each, and the same sentence twice would read as a mistake.
    struct Line<'a> {
        kind: &'a str,
        at: time::OffsetDateTime,
        page: &'static str,
        times: usize,
    }
    let mut lines: Vec<Line> = Vec::new();
    for n in notices.iter().filter(|n| n.patient == p && n.at >= since) {
        let page = match n.kind.as_str() {
            "break_glass" => "access-log",
            "sharing_recorded" => "sharing",
            _ => continue,
        };
        match lines.iter_mut().find(|l| l.kind == n.kind) {
            Some(line) => {
                line.at = line.at.max(n.at);
                line.times += 1;
            }
            None => lines.push(Line { kind: &n.kind, at: n.at, page, times: 1 }),
        }
    }
    lines.sort_by_key(|line| std::cmp::Reverse(line.at));
    Ok(lines
        .into_iter()
        .map(|l| context! { kind => l.kind, at => super::render::rfc3339(l.at), page => l.page, times => l.times })
        .collect())
}

async fn story_page(State(state): State<AppState>, web: Web, Path(course): Path<String>) -> Result<Response, WebError> {
    let c = course_id(&web, &course)?;
    story_view(&state, &web, c, None).await
}

async fn story_view(state: &AppState, web: &Web, c: CourseId, refused: Option<Refused>) -> Result<Response, WebError> {
    let (error, posted, status) = Refused::context(&refused);
    let p = whose(web)?;
    let course = state.sammen.read_course(&web.actor, p, c).await.map_err(|e| web.err(e))?;
    // Whether the patient has said yes to each goal, whoever reads.
    let agreed = state.sammen.goals_the_patient_agreed(&course).await.map_err(|e| web.err(e))?;
    web.page_as(
        "patient/story.html",
        context! {
            page => "story", course => course, writes => writes(web), error => error, posted => posted,
            agreed_by_patient => agreed, proxy_of => proxy_of(state, web, p).await?,
        },
        status,
    )
}

async fn story_submit(
    State(state): State<AppState>,
    web: Web,
    Path(course): Path<String>,
    Form(f): Form<Fields>,
) -> Result<Response, WebError> {
    web.check_csrf(&state, field(&f, "csrf")).await?;
    let (p, c) = (whose(&web)?, course_id(&web, &course)?);
    let change = if field(&f, "what") == "goal" {
        json!({"kind": "set_goal", "goal_kind": "personal", "text": field(&f, "goal")})
    } else if field(&f, "what") == "agree" {
        json!({"kind": "agree_goal", "goal": field(&f, "goal")})
    } else {
        json!({"kind": "write_story", "story": {"history": field(&f, "history"), "tried": field(&f, "tried"),
            "what_matters": field(&f, "what_matters"), "preferences": field(&f, "preferences"),
            "practical_needs": field(&f, "practical_needs")}})
    };
    let result =
        apply_course_change(&state, &web, (p, c), &f, change, DomainError::field("story", "the form does not fit"))
            .await;
    let labels = [("text", "patient.story.new_goal")];
    match outcome(&web, result, &format!("/me/c/{course}/story"), f, &labels)? {
        Outcome::Done(r) => Ok(r),
        Outcome::Refused(r) => story_view(&state, &web, c, Some(r)).await,
    }
}

async fn progress_page(
    State(state): State<AppState>,
    web: Web,
    Path(course): Path<String>,
) -> Result<Response, WebError> {
    let c = course_id(&web, &course)?;
    progress_view(&state, &web, c, None).await
}

async fn progress_view(
    state: &AppState,
    web: &Web,
    c: CourseId,
    refused: Option<Refused>,
) -> Result<Response, WebError> {
    let (error, posted, status) = Refused::context(&refused);
    let p = whose(web)?;
    let b = state.sammen.read_course(&web.actor, p, c).await.map_err(|e| web.err(e))?;
    let mut trend: Vec<sammen_domain::briefing::Trend> = b
        .course
        .care
        .measurements
        .iter()
        .map(|m| sammen_domain::briefing::Trend { on: m.on, pain: m.pain, psfs: m.psfs() })
        .collect();
    trend.sort_by_key(|t| t.on);
    let chart = svg::progress_chart(&trend, web.lang);
    // The activities the patient named last time, so they rate the same ones again.
    let activities: Vec<String> = b
        .course
        .care
        .measurements
        .iter()
        .max_by_key(|m| m.on)
        .map(|m| m.activities.iter().map(|a| a.activity.clone()).collect())
        .unwrap_or_default();
    web.page_as(
        "patient/progress.html",
        context! { page => "progress", course => b, chart => chart, for_patient => true, activities => activities,
        today => danish_day(state.sammen.now()).to_string(), writes => writes(web), error => error, posted => posted,
        proxy_of => proxy_of(state, web, p).await? },
        status,
    )
}

async fn progress_submit(
    State(state): State<AppState>,
    web: Web,
    Path(course): Path<String>,
    Form(f): Form<Fields>,
) -> Result<Response, WebError> {
    web.check_csrf(&state, field(&f, "csrf")).await?;
    let (p, c) = (whose(&web)?, course_id(&web, &course)?);
    let result = match super::progress::read(&f, 5) {
        Ok((pain, activities)) => {
            let change = json!({"kind": "record_progress", "on": danish_day(state.sammen.now()).to_string(),
                "pain": pain, "activities": activities});
            let refusal = DomainError::field("pain", "give numbers from 0 to 10");
            apply_course_change(&state, &web, (p, c), &f, change, refusal).await
        }
        Err(refused) => Err(refused.into()),
    };
    // A refusal names the field as this page asks for it ("Ting du gerne vil kunne").
    let labels = [("activities", "patient.progress.activities"), ("pain", "patient.progress.pain")];
    match outcome(&web, result, &format!("/me/c/{course}/progress"), f, &labels)? {
        Outcome::Done(r) => Ok(r),
        Outcome::Refused(r) => progress_view(&state, &web, c, Some(r)).await,
    }
}

async fn sharing_page(State(state): State<AppState>, web: Web) -> Result<Response, WebError> {
    sharing_view(&state, &web, None).await
}

async fn sharing_view(state: &AppState, web: &Web, refused: Option<Refused>) -> Result<Response, WebError> {
    let (error, posted, status) = Refused::context(&refused);
    let p = whose(web)?;
    let s = &state.sammen;
    let view = s.sharing(&web.actor, p).await.map_err(|e| web.err(e))?;
    let me = s.patient(&web.actor, p).await.map_err(|e| web.err(e))?;
    // Every organisation, and every professional, those who have left too: a consent
    // names who recorded it.
    let dir = s.shared_directory().await.map_err(|e| web.err(e))?;
    let orgs = &dir.orgs;
    let org_names: std::collections::BTreeMap<String, String> =
        orgs.iter().map(|o| (o.id.to_string(), o.name.clone())).collect();
    let org_sectors: std::collections::BTreeMap<String, &str> =
        orgs.iter().map(|o| (o.id.to_string(), o.sector.as_str())).collect();
    let staff: Vec<_> = dir.users.iter().filter(|u| u.org().is_some()).collect();
    let people: std::collections::BTreeMap<String, String> =
        staff.iter().map(|u| (u.id.to_string(), u.name.clone())).collect();
    // Where each professional works now, for a consent recorded before the place it was
    // recorded at was kept with it (`recorded_in`). One recorded by someone at the very
    // place it lets see is pointed out to the patient.
    let workplace: std::collections::BTreeMap<String, String> =
        staff.iter().filter_map(|u| Some((u.id.to_string(), u.org()?.to_string()))).collect();
    let categories: Vec<&str> =
        DataCategory::ALL.iter().filter(|c| **c != DataCategory::Identity).map(|c| c.as_str()).collect();
    // The patient sees by name who reads along for them; a relative is not shown the
    // others' names.
    let relatives: std::collections::BTreeMap<String, String> = dir
        .users
        .iter()
        .filter(|u| writes(web) && matches!(u.kind, UserKind::Proxy { patient } if patient == p))
        .map(|u| (u.id.to_string(), u.name.clone()))
        .collect();
    web.page_as(
        "patient/sharing.html",
        context! { page => "sharing", sharing => view, name => me.name, courses => me.courses, orgs => orgs, org_names => org_names,
        people => people, workplace => workplace, org_sectors => org_sectors, categories => categories, writes => writes(web), error => error, posted => posted,
                   relatives => relatives,
                   ticked => Refused::all(&refused, "categories"),
        // The longest any consent may run; the domain holds one outside health care to a year.
        max_day => danish_day(s.now() + sammen_domain::sharing::MAX_CONSENT - time::Duration::days(1)).to_string(),
        today => danish_day(s.now()).to_string() },
        status,
    )
}

async fn sharing_submit(State(state): State<AppState>, web: Web, Form(f): Form<Fields>) -> Result<Response, WebError> {
    web.check_csrf(&state, field(&f, "csrf")).await?;
    let p = whose(&web)?;
    let v = |n: &str| field(&f, n).trim().to_string();
    let categories: Vec<String> = f.iter().filter(|(k, _)| k == "categories").map(|(_, v)| v.clone()).collect();
    let change = match v("action").as_str() {
        "give" => json!({"kind": "give_consent", "recipient": {"type": "organisation", "org": v("org")},
            "categories": categories, "purpose": v("purpose"), "course": v("course"), "given_by": {"type": "patient"},
            "method": "written", "expires_at": super::render::end_of_danish_day(&v("expires_on"))}),
        "withdraw" => json!({"kind": "withdraw_consent", "consent": v("item"), "reason": ""}),
        "object" => json!({"kind": "record_objection", "target": {"type": "organisation", "org": v("org")}}),
        "unobject" => json!({"kind": "withdraw_objection", "objection": v("item"), "reason": ""}),
        "remove_proxy" => json!({"kind": "remove_proxy", "user": v("item")}),
        _ => json!({}),
    };
    let result = match serde_json::from_value::<SharingChange>(change) {
        Ok(change) => {
            let version = v("version").parse().unwrap_or(0);
            state.sammen.change_sharing(&web.actor, p, version, &change).await.map(|_| ())
        }
        Err(_) => Err(DomainError::field("consent", "fill in every field").into()),
    };
    let labels = [
        ("recipient", "patient.sharing.who"),
        ("categories", "patient.sharing.what"),
        ("purpose", "patient.sharing.purpose"),
        ("expires_at", "patient.sharing.expires"),
    ];
    match outcome(&web, result, "/me/sharing", f, &labels)? {
        Outcome::Done(r) => Ok(r),
        Outcome::Refused(r) => sharing_view(&state, &web, Some(r)).await,
    }
}

async fn access_log_page(State(state): State<AppState>, web: Web) -> Result<Response, WebError> {
    let p = whose(&web)?;
    let log = state.sammen.access_log(&web.actor, p, 500).await.map_err(|e| web.err(e))?;
    // The reader's own looks would bury everyone else's; they are counted, not listed.
    let (own, others): (Vec<_>, Vec<_>) = log.into_iter().partition(|e| e.by_reader);
    // A proxy reads the patient's log: "yourself" and "on your behalf" would speak to the
    // wrong person, so their page names the patient and the proxy in the third person.
    let proxy = matches!(web.actor.user.kind, UserKind::Proxy { .. });
    let looks = others.len();
    web.page(
        "patient/access_log.html",
        context! {
            page => "access_log", log => sammen_app::sharing::visits(others), looks => looks,
            own_looks => own.len(), proxy => proxy, proxy_of => proxy_of(&state, &web, p).await?,
        },
    )
}
