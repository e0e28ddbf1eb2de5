//! Messages, the worklist and how to reach people, as JSON under `/api`.
//!
//! Files travel inside the message's JSON as base64 (`attachments: [{"filename",
//! "content_type", "data"}]`), so a message and its files are one request and one
//! write: either all of it is stored or none of it.

use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::Value;

use sammen_app::contact::CareTeamView;
use sammen_app::messages::{Preview, ThreadList, ThreadView, Upload};
use sammen_app::worklist::WorklistView;
use sammen_domain::contact::ContactRoute;
use sammen_domain::ids::{ItemId, ThreadId};
use sammen_domain::messaging::{NewThread, Reply};

use super::{ids, patient_id, ApiJson, ApiQuery, Authenticated};
use crate::problem::from_value;
use crate::{AppState, Problem};

/// The largest message request: its text and files, base64-encoded.
pub const MAX_MESSAGE_BYTES: usize = 8 * 1024 * 1024;

pub fn routes() -> Router<AppState> {
    let messages = Router::new()
        .route("/patients/{patient}/courses/{course}/threads", get(list_threads).post(start_thread))
        .route("/patients/{patient}/threads/{thread}/replies", post(reply))
        .layer(DefaultBodyLimit::max(MAX_MESSAGE_BYTES));
    Router::new()
        .merge(messages)
        .route("/patients/{patient}/courses/{course}/threads/preview", post(preview))
        .route("/patients/{patient}/courses/{course}/team", get(care_team))
        .route("/patients/{patient}/threads/{thread}", get(read_thread))
        .route("/patients/{patient}/threads/{thread}/forward", post(forward))
        .route("/patients/{patient}/threads/{thread}/attachments/{attachment}", get(attachment))
        .route("/me/worklist", get(worklist))
        .route("/me/contact-routes", get(my_routes).put(set_my_routes))
        .route("/org/contact-routes/{role}", put(set_role_routes))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UploadBody {
    filename: String,
    content_type: String,
    /// The file's bytes, base64 (standard alphabet, with padding).
    data: String,
}

/// Takes `attachments` out of a message body and decodes them; the rest is the message.
fn split_attachments(mut body: Value) -> Result<(Value, Vec<Upload>), Problem> {
    let files = match body.as_object_mut().and_then(|o| o.remove("attachments")) {
        Some(v) => from_value::<Vec<UploadBody>>(v)?,
        None => Vec::new(),
    };
    let mut uploads = Vec::new();
    for f in files {
        let bytes = base64::engine::general_purpose::STANDARD.decode(f.data.trim()).map_err(|_| {
            Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_field",
                "The field 'attachments.data' is not valid: it must be the file's bytes in base64.",
            )
        })?;
        uploads.push(Upload { filename: f.filename, content_type: f.content_type, bytes });
    }
    Ok((body, uploads))
}

fn thread_id(text: &str) -> Result<ThreadId, Problem> {
    Ok(ThreadId::parse(text)?)
}

/// 201 for a new message, 200 when the same client message id was sent before.
fn created(view: ThreadView, new: bool) -> (StatusCode, Json<ThreadView>) {
    (if new { StatusCode::CREATED } else { StatusCode::OK }, Json(view))
}

async fn list_threads(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path((patient, course)): Path<(String, String)>,
) -> Result<Json<ThreadList>, Problem> {
    let (p, c) = ids(&patient, &course)?;
    Ok(Json(state.sammen.threads(&actor, p, c).await?))
}

async fn start_thread(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path((patient, course)): Path<(String, String)>,
    ApiJson(body): ApiJson<Value>,
) -> Result<(StatusCode, Json<ThreadView>), Problem> {
    let (p, c) = ids(&patient, &course)?;
    let (body, uploads) = split_attachments(body)?;
    let cmd: NewThread = from_value(body)?;
    let (view, new) = state.sammen.start_thread(&actor, p, c, &cmd, &uploads).await?;
    Ok(created(view, new))
}

async fn preview(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path((patient, course)): Path<(String, String)>,
    ApiJson(cmd): ApiJson<NewThread>,
) -> Result<Json<Preview>, Problem> {
    let (p, c) = ids(&patient, &course)?;
    Ok(Json(state.sammen.preview_thread(&actor, p, c, &cmd).await?))
}

async fn read_thread(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path((patient, thread)): Path<(String, String)>,
) -> Result<Json<ThreadView>, Problem> {
    Ok(Json(state.sammen.read_thread(&actor, patient_id(&patient)?, thread_id(&thread)?).await?))
}

async fn reply(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path((patient, thread)): Path<(String, String)>,
    ApiJson(body): ApiJson<Value>,
) -> Result<(StatusCode, Json<ThreadView>), Problem> {
    let (body, uploads) = split_attachments(body)?;
    let cmd: Reply = from_value(body)?;
    let (view, new) = state.sammen.reply(&actor, patient_id(&patient)?, thread_id(&thread)?, &cmd, &uploads).await?;
    Ok(created(view, new))
}

async fn forward(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path((patient, thread)): Path<(String, String)>,
    ApiJson(cmd): ApiJson<NewThread>,
) -> Result<(StatusCode, Json<ThreadView>), Problem> {
    let view = state.sammen.forward_thread(&actor, patient_id(&patient)?, thread_id(&thread)?, &cmd).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

async fn attachment(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path((patient, thread, attachment)): Path<(String, String, String)>,
) -> Result<Response, Problem> {
    let attachment = ItemId::parse(&attachment)?;
    let (filename, content_type, bytes) =
        state.sammen.attachment(&actor, patient_id(&patient)?, thread_id(&thread)?, attachment).await?;
    let mut res = bytes.into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&content_type).unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    // Always a download, never rendered in Sammen's own origin.
    if let Ok(v) = HeaderValue::from_str(&content_disposition(&filename)) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(res)
}

/// `attachment` with the file's name: a plain ASCII one for old clients, and the real
/// name in UTF-8 (RFC 6266, RFC 8187), so "røntgensvar.pdf" keeps its ø.
fn content_disposition(filename: &str) -> String {
    let ascii: String =
        filename.chars().map(|c| if c.is_ascii_alphanumeric() || ".-_".contains(c) { c } else { '_' }).collect();
    let mut utf8 = String::with_capacity(filename.len());
    for b in filename.bytes() {
        // RFC 8187's attr-char, the rest %-encoded.
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            utf8.push(b as char);
        } else {
            utf8.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{utf8}")
}

async fn care_team(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path((patient, course)): Path<(String, String)>,
) -> Result<Json<CareTeamView>, Problem> {
    let (p, c) = ids(&patient, &course)?;
    Ok(Json(state.sammen.care_team_view(&actor, p, c).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WorklistQuery {
    limit: Option<usize>,
}

async fn worklist(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiQuery(q): ApiQuery<WorklistQuery>,
) -> Result<Json<WorklistView>, Problem> {
    let limit = q.limit.unwrap_or(20);
    if !(1..=500).contains(&limit) {
        // Not bent to fit: a limit of 0 answered with one item.
        return Err(sammen_domain::DomainError::field("limit", "from 1 to 500").into());
    }
    Ok(Json(state.sammen.worklist(&actor, limit).await?))
}

async fn my_routes(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
) -> Result<Json<Vec<ContactRoute>>, Problem> {
    let holder = sammen_domain::contact::RouteHolder::Professional { user: actor.user.id };
    Ok(Json(state.sammen.contact_routes(&holder).await?))
}

async fn set_my_routes(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiJson(routes): ApiJson<Vec<ContactRoute>>,
) -> Result<Json<Vec<ContactRoute>>, Problem> {
    Ok(Json(state.sammen.set_my_contact_routes(&actor, routes).await?))
}

async fn set_role_routes(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(role): Path<String>,
    ApiJson(routes): ApiJson<Vec<ContactRoute>>,
) -> Result<Json<Vec<ContactRoute>>, Problem> {
    Ok(Json(state.sammen.set_role_contact_routes(&actor, &role, routes).await?))
}
