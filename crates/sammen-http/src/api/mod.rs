//! The JSON API under `/api`. Every route needs a bearer token; every patient read
//! and write goes through a use case on `Sammen`, which asks the policy and audits.
//! CPR numbers travel only in request bodies, never in addresses.

use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use time::Date;

use sammen_app::sharing::{access_log_csv, AccessLogEntry, SharingView};
use sammen_app::{Actor, AppError, CourseView, HistoryView, PatientView};
use sammen_domain::cpr::Cpr;
use sammen_domain::decide::{CourseChange, OpenCourse, SharingChange};
use sammen_domain::event::NewEvent;
use sammen_domain::ids::{CourseId, ItemId, PatientId};
use sammen_domain::sharing::BreakGlass;
use sammen_domain::vocab::Profession;

use crate::{AppState, Problem};

mod messages;
pub use messages::MAX_MESSAGE_BYTES;

pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(messages::routes())
        .route("/me", get(me))
        .route("/patients", post(register_patient))
        .route("/patients/search", post(search_patient))
        .route("/patients/{patient}", get(read_patient))
        .route("/patients/{patient}/identity", put(correct_identity))
        .route("/patients/{patient}/courses", post(open_course))
        .route("/patients/{patient}/courses/{course}", get(read_course))
        .route("/patients/{patient}/courses/{course}/events", post(change_course))
        .route("/patients/{patient}/courses/{course}/history", get(course_history))
        .route("/patients/{patient}/courses/{course}/briefing", get(briefing))
        .route("/patients/{patient}/courses/{course}/timeline", get(timeline))
        .route("/advice-topics", get(advice_topics))
        .route("/patients/{patient}/sharing", get(sharing).post(change_sharing))
        .route("/patients/{patient}/break-glass", post(break_glass))
        .route("/patients/{patient}/access-log", get(access_log))
        .route("/me/notices", get(notices))
        .route("/org/users", get(org_users).post(org_add_user))
        .route("/org/users/{login}/disable", post(org_disable_user))
        .route("/org/users/{login}/enable", post(org_enable_user))
}

/// JSON in, with our own errors for every way the body can be wrong.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = Problem;
    async fn from_request(req: Request, state: &S) -> Result<Self, Problem> {
        let Json(value) = Json::<T>::from_request(req, state).await?;
        Ok(ApiJson(value))
    }
}

/// A query string, with our own error when it does not fit.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = Problem;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        let Query(value) = Query::<T>::from_request_parts(parts, state).await?;
        Ok(ApiQuery(value))
    }
}

/// The signed-in caller: from `Authorization: Bearer <token>` (systems, scripts), or
/// from the session cookie (a browser). A browser's state-changing request must carry
/// the session's CSRF token in `X-CSRF-Token`.
pub struct Authenticated(pub Actor);

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = Problem;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        if let Some(secret) = bearer_token(&parts.headers) {
            return Ok(Authenticated(state.sammen.authenticate_token(secret).await?));
        }
        let Some(cookie) = crate::web::session_cookie(&parts.headers) else {
            return Err(AppError::Unauthenticated.into());
        };
        let (actor, session) = state.sammen.authenticate_session(&cookie).await?;
        if !parts.method.is_safe() {
            let submitted = parts.headers.get("x-csrf-token").and_then(|v| v.to_str().ok()).unwrap_or("");
            if !sammen_app::identity::csrf_matches(&session, submitted) {
                state.sammen.record_refusal(&actor, "csrf").await?;
                return Err(crate::web::csrf_problem());
            }
        }
        Ok(Authenticated(actor))
    }
}

/// The secret of `Authorization: Bearer <token>`, if there is one.
pub(crate) fn bearer_token(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

fn patient_id(text: &str) -> Result<PatientId, Problem> {
    Ok(PatientId::parse(text)?)
}

fn ids(patient: &str, course: &str) -> Result<(PatientId, CourseId), Problem> {
    Ok((patient_id(patient)?, CourseId::parse(course)?))
}

#[derive(Serialize)]
struct Me {
    user: sammen_domain::ids::UserId,
    login: String,
    name: String,
    profession: Option<sammen_domain::vocab::Profession>,
    organisation: Option<OrgView>,
    purpose: sammen_domain::vocab::Purpose,
    org_admin: bool,
}

#[derive(Serialize)]
struct OrgView {
    id: sammen_domain::ids::OrgId,
    name: String,
    sector: sammen_domain::vocab::Sector,
    legal_domain: sammen_domain::vocab::LegalDomain,
}

async fn me(Authenticated(actor): Authenticated) -> Json<Me> {
    Json(Me {
        user: actor.user.id,
        login: actor.user.login.clone(),
        name: actor.user.name.clone(),
        profession: actor.user.profession(),
        organisation: actor.org.as_ref().map(|o| OrgView {
            id: o.id,
            name: o.name.clone(),
            sector: o.sector,
            legal_domain: o.legal_domain(),
        }),
        purpose: actor.purpose,
        org_admin: actor.user.org_admin,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterPatient {
    cpr: Cpr,
    name: String,
}

async fn register_patient(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiJson(body): ApiJson<RegisterPatient>,
) -> Result<(StatusCode, Json<PatientView>), Problem> {
    let view = state.sammen.register_patient(&actor, body.cpr, &body.name).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchPatient {
    cpr: Cpr,
}

async fn search_patient(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiJson(body): ApiJson<SearchPatient>,
) -> Result<Json<PatientView>, Problem> {
    Ok(Json(state.sammen.find_patient_by_cpr(&actor, &body.cpr).await?))
}

async fn read_patient(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(patient): Path<String>,
) -> Result<Json<PatientView>, Problem> {
    Ok(Json(state.sammen.patient(&actor, patient_id(&patient)?).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CorrectIdentity {
    expected_version: u64,
    name: String,
    reason: String,
}

async fn correct_identity(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(patient): Path<String>,
    ApiJson(body): ApiJson<CorrectIdentity>,
) -> Result<Json<PatientView>, Problem> {
    let id = patient_id(&patient)?;
    Ok(Json(state.sammen.correct_identity(&actor, id, body.expected_version, &body.name, &body.reason).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OpenCourseBody {
    title: String,
    reason: String,
    started_on: Date,
}

async fn open_course(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(patient): Path<String>,
    ApiJson(body): ApiJson<OpenCourseBody>,
) -> Result<(StatusCode, Json<CourseView>), Problem> {
    let cmd = OpenCourse { title: body.title, reason: body.reason, started_on: body.started_on };
    let course = state.sammen.open_course(&actor, patient_id(&patient)?, &cmd).await?;
    Ok((StatusCode::CREATED, Json(course)))
}

async fn read_course(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path((patient, course)): Path<(String, String)>,
) -> Result<Json<CourseView>, Problem> {
    let (p, c) = ids(&patient, &course)?;
    Ok(Json(state.sammen.read_course(&actor, p, c).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangeBody {
    /// The course version the client saw.
    expected_version: u64,
    change: CourseChange,
}

#[derive(Serialize)]
struct Changed {
    course: CourseView,
    /// The events the change appended (one, or a conference's minutes with the goals
    /// and steps they decided).
    events: Vec<NewEvent>,
}

async fn change_course(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path((patient, course)): Path<(String, String)>,
    ApiJson(body): ApiJson<ChangeBody>,
) -> Result<(StatusCode, Json<Changed>), Problem> {
    let (p, c) = ids(&patient, &course)?;
    let (course, events) = state.sammen.change_course(&actor, p, c, body.expected_version, &body.change).await?;
    Ok((StatusCode::CREATED, Json(Changed { course, events })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HistoryQuery {
    item: Option<String>,
}

async fn course_history(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path((patient, course)): Path<(String, String)>,
    ApiQuery(q): ApiQuery<HistoryQuery>,
) -> Result<Json<HistoryView>, Problem> {
    let (p, c) = ids(&patient, &course)?;
    let item = q.item.as_deref().map(ItemId::parse).transpose()?;
    Ok(Json(state.sammen.course_history(&actor, p, c, item).await?))
}

async fn sharing(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(patient): Path<String>,
) -> Result<Json<SharingView>, Problem> {
    Ok(Json(state.sammen.sharing(&actor, patient_id(&patient)?).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SharingBody {
    /// The patient record's version the client saw.
    expected_version: u64,
    change: SharingChange,
}

async fn change_sharing(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(patient): Path<String>,
    ApiJson(body): ApiJson<SharingBody>,
) -> Result<(StatusCode, Json<SharingView>), Problem> {
    let view = state.sammen.change_sharing(&actor, patient_id(&patient)?, body.expected_version, &body.change).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BreakGlassBody {
    reason: String,
}

async fn break_glass(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(patient): Path<String>,
    ApiJson(body): ApiJson<BreakGlassBody>,
) -> Result<(StatusCode, Json<BreakGlass>), Problem> {
    let opened = state.sammen.open_break_glass(&actor, patient_id(&patient)?, &body.reason).await?;
    Ok((StatusCode::CREATED, Json(opened)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccessLogQuery {
    format: Option<String>,
    limit: Option<u32>,
}

/// The patient's access log as JSON, or as CSV for export (`?format=csv`).
async fn access_log(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(patient): Path<String>,
    ApiQuery(q): ApiQuery<AccessLogQuery>,
) -> Result<axum::response::Response, Problem> {
    use axum::response::IntoResponse;
    let limit = q.limit.unwrap_or(1_000).min(10_000);
    let log: Vec<AccessLogEntry> = state.sammen.access_log(&actor, patient_id(&patient)?, limit).await?;
    match q.format.as_deref() {
        None | Some("json") => Ok(Json(log).into_response()),
        Some("csv") => Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (header::CONTENT_DISPOSITION, "attachment; filename=\"access-log.csv\""),
            ],
            access_log_csv(&log),
        )
            .into_response()),
        Some(_) => Err(Problem::new(StatusCode::BAD_REQUEST, "invalid_query", "The format must be json or csv.")),
    }
}

#[derive(Serialize)]
struct NoticeView {
    #[serde(with = "time::serde::rfc3339")]
    at: time::OffsetDateTime,
    kind: String,
    patient: PatientId,
}

async fn notices(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
) -> Result<Json<Vec<NoticeView>>, Problem> {
    let notices = state.sammen.notices(&actor).await?;
    Ok(Json(notices.into_iter().map(|n| NoticeView { at: n.at, kind: n.kind, patient: n.patient }).collect()))
}

#[derive(Serialize)]
struct OrgUser {
    login: String,
    name: String,
    profession: Option<Profession>,
    disabled: bool,
    org_admin: bool,
}

impl From<sammen_domain::directory::User> for OrgUser {
    fn from(u: sammen_domain::directory::User) -> Self {
        OrgUser {
            profession: u.profession(),
            login: u.login,
            name: u.name,
            disabled: u.disabled,
            org_admin: u.org_admin,
        }
    }
}

async fn org_users(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
) -> Result<Json<Vec<OrgUser>>, Problem> {
    Ok(Json(state.sammen.org_users(&actor).await?.into_iter().map(OrgUser::from).collect()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewOrgUser {
    login: String,
    name: String,
    profession: Profession,
}

async fn org_add_user(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiJson(body): ApiJson<NewOrgUser>,
) -> Result<(StatusCode, Json<OrgUser>), Problem> {
    let user = state.sammen.org_add_user(&actor, &body.login, &body.name, body.profession).await?;
    Ok((StatusCode::CREATED, Json(user.into())))
}

async fn org_disable_user(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(login): Path<String>,
) -> Result<Json<OrgUser>, Problem> {
    Ok(Json(state.sammen.org_set_disabled(&actor, &login, true).await?.into()))
}

async fn org_enable_user(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(login): Path<String>,
) -> Result<Json<OrgUser>, Problem> {
    Ok(Json(state.sammen.org_set_disabled(&actor, &login, false).await?.into()))
}

async fn briefing(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path((patient, course)): Path<(String, String)>,
) -> Result<Json<sammen_app::briefing::BriefingView>, Problem> {
    let (p, c) = ids(&patient, &course)?;
    Ok(Json(state.sammen.briefing(&actor, p, c).await?))
}

async fn timeline(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path((patient, course)): Path<(String, String)>,
) -> Result<Json<sammen_app::briefing::TimelineView>, Problem> {
    let (p, c) = ids(&patient, &course)?;
    Ok(Json(state.sammen.timeline(&actor, p, c).await?))
}

/// The advice topics and stances (from the data file), for forms and clients.
async fn advice_topics(Authenticated(_): Authenticated) -> Json<&'static [sammen_domain::care::Topic]> {
    Json(sammen_domain::care::advice_topics())
}
