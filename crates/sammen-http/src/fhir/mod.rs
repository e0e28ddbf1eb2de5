//! HL7 FHIR R4 (4.0.1) under `/fhir`, over the same use cases, policy and audit trail
//! as the JSON API: a FHIR read of a patient's data is a read of the course through
//! `Sammen`, so it is asked of the policy, filtered and audited like any other.
//!
//! `GET /fhir/metadata` is public, as the standard expects; everything else needs a
//! bearer token. Errors are OperationOutcomes. Answers are `application/fhir+json`.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, RawQuery};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

use sammen_app::{Actor, AppError};

use crate::{AppState, Problem};

mod bundle;
mod capability;
mod clinical;
mod create;
mod create_care;
mod create_message;
mod elements;
mod history;
pub mod resources;
mod search;
mod update;
mod workflow;

pub use bundle::bundle;

pub const FHIR_JSON: &str = "application/fhir+json";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", axum::routing::post(bundle::bundle))
        .route("/metadata", get(capability::metadata))
        .route("/Patient/{id}/$everything", get(search::everything))
        .route("/{kind}", get(search::search_type).post(create::create))
        .route("/{kind}/_search", axum::routing::post(search::search_posted))
        .route("/{kind}/{id}", get(search::read).put(update::update))
        .route("/{kind}/{id}/_history", get(history::history))
        .route("/{kind}/{id}/_history/{version}", get(history::vread))
        .fallback(unknown_address)
        .method_not_allowed_fallback(method_not_allowed)
}

async fn unknown_address() -> FhirError {
    FhirError::new(StatusCode::NOT_FOUND, "not-supported", "There is no FHIR interaction at this address.")
}

/// An address Sammen serves, asked with a method it does not take there (a DELETE,
/// a PATCH): an OperationOutcome, as every other refusal, beside the `Allow` header.
async fn method_not_allowed(method: axum::http::Method) -> FhirError {
    FhirError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "not-supported",
        format!("Sammen does not take {method} at this address; the Allow header says what it takes."),
    )
}

/// The resource types Sammen maps, and what each supports.
pub struct Kind {
    pub name: &'static str,
    /// Search parameters besides the common ones (`_id`, `_count`).
    pub params: &'static [(&'static str, &'static str)],
    /// Belongs to a patient's record (searchable by `patient`/`subject`).
    pub in_record: bool,
    pub create: bool,
}

/// The types `PUT` updates (a patient's name, a step's or a handover's or a goal's
/// status; see [`update`]).
pub const UPDATED: &[&str] = &["Patient", "Task", "Goal"];

pub const KINDS: &[Kind] = &[
    // `identifier` on Patient is a CPR number: POST Patient/_search only, never in an address.
    Kind { name: "Patient", params: &[("identifier", "token")], in_record: true, create: true },
    Kind { name: "CarePlan", params: &[("status", "token"), ("date", "date")], in_record: true, create: true },
    Kind {
        name: "Goal",
        params: &[("lifecycle-status", "token"), ("category", "token")],
        in_record: true,
        create: true,
    },
    // Steps of the plan, and handovers (code handover-*), each with its owner.
    Kind { name: "Task", params: &[("status", "token"), ("code", "token")], in_record: true, create: false },
    // Referrals: handovers that carry one.
    Kind { name: "ServiceRequest", params: &[("status", "token")], in_record: true, create: true },
    // Messages in the course's threads, as the reader may see them.
    Kind {
        name: "Communication",
        params: &[("status", "token"), ("category", "token")],
        in_record: true,
        create: true,
    },
    Kind { name: "Condition", params: &[("category", "token")], in_record: true, create: true },
    Kind { name: "EpisodeOfCare", params: &[("status", "token"), ("date", "date")], in_record: true, create: true },
    Kind { name: "Encounter", params: &[("status", "token"), ("date", "date")], in_record: true, create: true },
    Kind { name: "QuestionnaireResponse", params: &[("status", "token")], in_record: true, create: true },
    Kind { name: "CareTeam", params: &[("status", "token")], in_record: true, create: false },
    Kind { name: "Consent", params: &[("status", "token")], in_record: true, create: false },
    // The patient's access log: only the patient (or their proxy) reads it.
    Kind { name: "AuditEvent", params: &[], in_record: true, create: false },
    Kind {
        name: "Observation",
        params: &[("code", "token"), ("date", "date"), ("category", "token")],
        in_record: true,
        create: true,
    },
    Kind { name: "Organization", params: &[("identifier", "token")], in_record: false, create: false },
    Kind { name: "Practitioner", params: &[], in_record: false, create: false },
    // Professionals in their organisations, and organisation roles, with how to reach them.
    Kind { name: "PractitionerRole", params: &[], in_record: false, create: false },
];

pub fn kind(name: &str) -> Result<&'static Kind, FhirError> {
    KINDS.iter().find(|k| k.name == name).ok_or_else(|| {
        FhirError::new(
            StatusCode::NOT_FOUND,
            "not-supported",
            "Sammen does not serve this resource type; GET /fhir/metadata lists those it does.",
        )
    })
}

/// An error as an OperationOutcome. Its text never names a patient or their data.
#[derive(Debug)]
pub struct FhirError {
    pub status: StatusCode,
    pub code: &'static str,
    pub text: String,
    internal: Option<String>,
}

impl FhirError {
    pub fn new(status: StatusCode, code: &'static str, text: impl Into<String>) -> Self {
        FhirError { status, code, text: text.into(), internal: None }
    }

    pub fn invalid(text: impl Into<String>) -> Self {
        FhirError::new(StatusCode::BAD_REQUEST, "invalid", text)
    }
}

impl From<Problem> for FhirError {
    fn from(p: Problem) -> Self {
        let code = match p.status {
            StatusCode::UNAUTHORIZED => "login",
            StatusCode::FORBIDDEN => "forbidden",
            StatusCode::NOT_FOUND => "not-found",
            StatusCode::CONFLICT | StatusCode::PRECONDITION_FAILED => "conflict",
            StatusCode::UNPROCESSABLE_ENTITY => "business-rule",
            StatusCode::BAD_REQUEST => "invalid",
            _ => "exception",
        };
        FhirError { status: p.status, code, text: p.message, internal: p.internal }
    }
}

impl From<AppError> for FhirError {
    fn from(e: AppError) -> Self {
        Problem::from(e).into()
    }
}

pub fn outcome(severity: &str, code: &str, text: &str) -> Value {
    json!({
        "resourceType": "OperationOutcome",
        "issue": [{ "severity": severity, "code": code, "diagnostics": text }],
    })
}

impl IntoResponse for FhirError {
    fn into_response(self) -> Response {
        if let Some(detail) = &self.internal {
            tracing::error!(detail = %detail, "internal error in the FHIR API");
        }
        let mut res = fhir_json(self.status, &outcome("error", self.code, &self.text));
        if self.status == StatusCode::UNAUTHORIZED {
            res.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        res
    }
}

pub fn fhir_json(status: StatusCode, body: &Value) -> Response {
    let mut res = (status, serde_json::to_vec(body).unwrap_or_default()).into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/fhir+json; charset=utf-8"));
    res
}

/// A resource as it stands, with its version beside it: `ETag` from `meta.versionId` and
/// `Last-Modified` from `meta.lastUpdated`, as reads, vreads and writes answer.
pub fn resource_answer(status: StatusCode, r: &Value) -> Response {
    with_version(fhir_json(status, r), r)
}

fn with_version(mut res: Response, r: &Value) -> Response {
    if let Some(Ok(etag)) = r["meta"]["versionId"].as_str().map(|v| format!("W/\"{v}\"").parse()) {
        res.headers_mut().insert(header::ETAG, etag);
    }
    if let Some(Ok(at)) = r["meta"]["lastUpdated"].as_str().and_then(http_date).map(|d| d.parse()) {
        res.headers_mut().insert(header::LAST_MODIFIED, at);
    }
    res
}

/// An instant as HTTP writes it (RFC 9110, IMF-fixdate): `Tue, 24 Nov 2026 09:30:00 GMT`.
fn http_date(rfc3339: &str) -> Option<String> {
    use time::format_description::well_known::Rfc3339;
    let at = time::OffsetDateTime::parse(rfc3339, &Rfc3339).ok()?.to_offset(time::UtcOffset::UTC);
    let fmt = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    at.format(&fmt).ok()
}

/// What a client asks a create or an update to answer with, in `Prefer: return=...`
/// (FHIR R4 http.html, "Managing Return Content"): the resource as stored (the default),
/// the status and headers alone (a system that imports in bulk has no use for the echo),
/// or an OperationOutcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReturnPreference {
    Representation,
    Minimal,
    OperationOutcome,
}

impl ReturnPreference {
    /// The preference in the request's `Prefer` headers; an unknown one is the default,
    /// as a preference may be ignored.
    pub fn of(headers: &HeaderMap) -> ReturnPreference {
        let asked = headers
            .get_all("prefer")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(&[',', ';'][..]))
            .find_map(|p| p.trim().strip_prefix("return="));
        match asked.map(|v| v.trim_matches('"')) {
            Some("minimal") => ReturnPreference::Minimal,
            Some("OperationOutcome") => ReturnPreference::OperationOutcome,
            _ => ReturnPreference::Representation,
        }
    }

    /// The OperationOutcome a successful write (answered with `status`) answers with
    /// when one is asked for.
    pub fn outcome_of(status: StatusCode, r: &Value) -> Value {
        let what = if status == StatusCode::CREATED { "Created" } else { "Stored" };
        let kind = r["resourceType"].as_str().unwrap_or("resource");
        let id = r["id"].as_str().unwrap_or("");
        let version = r["meta"]["versionId"].as_str().unwrap_or("");
        outcome("information", "informational", &format!("{what} {kind}/{id}, version {version}."))
    }
}

/// Where a write's answer goes: to the client, in the form its `Prefer` asks for, or
/// back to the Bundle whose entry it was, as the resource itself (the Bundle answers for
/// it in the form the Bundle's `Prefer` asks for).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyTo {
    Client(ReturnPreference),
    Bundle,
}

/// The answer to a create or an update, with the resource's version in `ETag` and
/// `Last-Modified` in every form, and `Location` after a create.
pub fn written(status: StatusCode, r: Value, location: Option<&str>, reply: ReplyTo) -> Response {
    let res = match reply {
        ReplyTo::Client(ReturnPreference::Representation) => fhir_json(status, &r),
        ReplyTo::Client(ReturnPreference::Minimal) | ReplyTo::Bundle => status.into_response(),
        ReplyTo::Client(ReturnPreference::OperationOutcome) => {
            fhir_json(status, &ReturnPreference::outcome_of(status, &r))
        }
    };
    let mut res = with_version(res, &r);
    if let Some(Ok(l)) = location.map(str::parse) {
        res.headers_mut().insert(header::LOCATION, l);
    }
    if reply == ReplyTo::Bundle {
        res.extensions_mut().insert(EntryResource(r));
    }
    res
}

/// The caller, from `Authorization: Bearer <token>` only: other systems, not browsers.
pub struct Caller(pub Actor);

/// The caller of a Bundle, handed to each of its entries (a request extension, which
/// only the server itself can set), so the token is checked once per Bundle, not once
/// per entry.
#[derive(Clone)]
pub struct BundleCaller(pub Actor);

impl FromRequestParts<AppState> for Caller {
    type Rejection = FhirError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, FhirError> {
        if let Some(BundleCaller(actor)) = parts.extensions.get::<BundleCaller>() {
            return Ok(Caller(actor.clone()));
        }
        let secret =
            crate::api::bearer_token(&parts.headers).ok_or_else(|| FhirError::from(AppError::Unauthenticated))?;
        Ok(Caller(state.sammen.authenticate_token(secret).await?))
    }
}

/// The base address links are built on: the address the client used, so a client that
/// follows `next` links stays on the server it spoke to. Both headers come from the
/// client (or a proxy), so only a scheme of `http` or `https` and a plain host name or
/// address with a port are used; anything else gives `http://localhost`, never a link
/// with a script or another path in it.
pub fn base_url(headers: &HeaderMap) -> String {
    let plain_host = |h: &&str| {
        !h.is_empty() && h.len() <= 255 && h.chars().all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
    };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).filter(plain_host).unwrap_or("localhost");
    let proto = headers.get("x-forwarded-proto").and_then(|h| h.to_str().ok());
    let proto = proto.filter(|p| matches!(*p, "http" | "https")).unwrap_or("http");
    format!("{proto}://{host}/fhir")
}

/// The error for a code element Sammen needs (a status, an intent): "required" when it
/// is missing, but "must be a code" when it is there as a number, a list or an object,
/// so the client looks for the right mistake.
pub fn needed(v: &Value, resource_type: &str, element: &str) -> FhirError {
    match v.get(element) {
        None | Some(Value::Null) => FhirError::invalid(format!("{resource_type}.{element} is required.")),
        Some(_) => FhirError::invalid(format!("{resource_type}.{element} must be a code: text, such as \"active\".")),
    }
}

/// A request body as a FHIR JSON resource: the right content type and valid JSON.
pub fn resource_body(headers: &HeaderMap, body: &Bytes) -> Result<Value, FhirError> {
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let mime = ct.split(';').next().unwrap_or("").trim();
    if mime != FHIR_JSON && mime != "application/json" {
        return Err(FhirError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "not-supported",
            "Send the resource as application/fhir+json or application/json.",
        ));
    }
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        FhirError::invalid(format!("The body is not valid JSON (line {}, column {}).", e.line(), e.column()))
    })?;
    if !v.is_object() {
        return Err(FhirError::invalid("The body must be a JSON object: one FHIR resource."));
    }
    Ok(v)
}

/// A resource passed between a Bundle and the handler of one of its entries as it is,
/// in a request or response extension (which only the server itself can set): the
/// entry's resource on the way in, the resource stored on the way out. Written out and
/// read in again at each step, it cost a Bundle four JSON passes per entry.
#[derive(Clone)]
pub(super) struct EntryResource(pub(super) Value);

/// What a create or an update was sent: a Bundle entry's resource, as the Bundle read it,
/// or the request's body, read as a resource only when the handler asks (after it has
/// checked the address).
pub enum Sent {
    Entry(Value),
    Body(Bytes),
}

impl Sent {
    /// The resource (one JSON object, sent as FHIR JSON or plain JSON), and where the
    /// write's answer goes.
    pub fn resource(self, headers: &HeaderMap) -> Result<(Value, ReplyTo), FhirError> {
        match self {
            Sent::Entry(resource) => Ok((resource, ReplyTo::Bundle)),
            Sent::Body(body) => Ok((resource_body(headers, &body)?, ReplyTo::Client(ReturnPreference::of(headers)))),
        }
    }
}

impl FromRequest<AppState> for Sent {
    type Rejection = FhirError;
    async fn from_request(mut req: axum::extract::Request, state: &AppState) -> Result<Self, FhirError> {
        if let Some(EntryResource(resource)) = req.extensions_mut().remove::<EntryResource>() {
            return Ok(Sent::Entry(resource));
        }
        let body = Bytes::from_request(req, state).await.map_err(|rejected| {
            let code = if rejected.status() == StatusCode::PAYLOAD_TOO_LARGE { "too-costly" } else { "invalid" };
            FhirError::new(rejected.status(), code, rejected.body_text())
        })?;
        Ok(Sent::Body(body))
    }
}

pub type Params = Vec<(String, String)>;

pub fn params(raw: RawQuery) -> Result<Params, FhirError> {
    let q = raw.0.unwrap_or_default();
    let mut out = Vec::new();
    for pair in q.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        out.push((decode(k)?, decode(v)?));
    }
    Ok(out)
}

fn decode(s: &str) -> Result<String, FhirError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let h = std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok());
                out.push(h.ok_or_else(|| FhirError::invalid("The query has a malformed %-escape."))?);
                i += 2;
            }
            b'%' => return Err(FhirError::invalid("The query has a malformed %-escape.")),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| FhirError::invalid("The query is not UTF-8."))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(host: &str, proto: Option<&str>) -> String {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, host.parse().unwrap());
        if let Some(p) = proto {
            h.insert("x-forwarded-proto", p.parse().unwrap());
        }
        base_url(&h)
    }

    #[test]
    fn links_are_built_only_on_a_plain_host_and_scheme() {
        assert_eq!(base("sammen.example:8443", Some("https")), "https://sammen.example:8443/fhir");
        assert_eq!(base("127.0.0.1:8080", None), "http://127.0.0.1:8080/fhir");
        assert_eq!(base("[::1]:8080", Some("http")), "http://[::1]:8080/fhir");
        assert_eq!(base("evil.example", Some("javascript:alert(1)//")), "http://evil.example/fhir");
        assert_eq!(base("evil.example/x?y", None), "http://localhost/fhir");
        assert_eq!(base("a@b", Some("https")), "https://localhost/fhir");
    }
}
