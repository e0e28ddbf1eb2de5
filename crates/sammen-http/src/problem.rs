//! Errors as HTTP responses: one JSON shape, `{"error": {"code", "message",
//! "request_id"}}`, with a stable code and a message a person can act on. Internal
//! errors are logged with the request id and never shown. No message ever carries a
//! CPR number, a name or health data: JSON parse errors are reduced to field names.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use sammen_app::AppError;
use sammen_domain::DomainError;

/// An error on its way out. The request-id middleware turns it into the JSON body.
#[derive(Debug, Clone)]
pub struct Problem {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Detail for the server log only (internal errors).
    pub internal: Option<String>,
}

impl Problem {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Problem { status, code, message: message.into(), internal: None }
    }
}

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    code: &'a str,
    message: &'a str,
    request_id: &'a str,
}

impl Problem {
    pub fn into_response_with(self, request_id: &str) -> Response {
        if let Some(detail) = &self.internal {
            tracing::error!(request_id, detail = %detail, "internal error");
        }
        let body = serde_json::to_vec(&Body { error: Inner { code: self.code, message: &self.message, request_id } })
            .unwrap_or_default();
        let mut res = (self.status, body).into_response();
        res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if self.status == StatusCode::UNAUTHORIZED {
            res.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        res
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        // The middleware finds the problem in the extensions and writes the body.
        let mut res = self.status.into_response();
        res.extensions_mut().insert(self);
        res
    }
}

impl From<AppError> for Problem {
    fn from(e: AppError) -> Self {
        let status = match &e {
            AppError::Domain(d) => match d {
                DomainError::NotFound { .. } => StatusCode::NOT_FOUND,
                DomainError::Conflict { .. } => StatusCode::CONFLICT,
                DomainError::InvalidId { .. } => StatusCode::BAD_REQUEST,
                _ => StatusCode::UNPROCESSABLE_ENTITY,
            },
            AppError::Unauthenticated | AppError::WrongCredentials => StatusCode::UNAUTHORIZED,
            AppError::LockedOut { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::Objected => StatusCode::FORBIDDEN,
            AppError::Forbidden => StatusCode::FORBIDDEN,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Duplicate(_) => StatusCode::CONFLICT,
            AppError::CourseNotNamed { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let internal = match &e {
            AppError::Internal(detail) => Some(detail.clone()),
            _ => None,
        };
        Problem { status, code: e.code(), message: e.to_string(), internal }
    }
}

impl From<DomainError> for Problem {
    fn from(e: DomainError) -> Self {
        AppError::from(e).into()
    }
}

impl From<JsonRejection> for Problem {
    fn from(r: JsonRejection) -> Self {
        match r {
            JsonRejection::MissingJsonContentType(_) => Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Send the body as JSON, with the header Content-Type: application/json.",
            ),
            JsonRejection::JsonSyntaxError(e) => Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid_json",
                format!("The body is not valid JSON{}.", location(&e.body_text())),
            ),
            JsonRejection::JsonDataError(e) => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_request",
                format!("The JSON does not fit this request: {}.", describe_data_error(&e.body_text())),
            ),
            JsonRejection::BytesRejection(_) => Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!(
                    "The body is too large: at most {} KiB, or {} MiB for a message with files.",
                    crate::MAX_BODY_BYTES / 1024,
                    crate::api::MAX_MESSAGE_BYTES / (1024 * 1024)
                ),
            ),
            _ => Problem::new(StatusCode::BAD_REQUEST, "invalid_json", "The body could not be read as JSON."),
        }
    }
}

impl From<PathRejection> for Problem {
    fn from(_: PathRejection) -> Self {
        Problem::new(StatusCode::BAD_REQUEST, "invalid_id", "An id in the address is not valid.")
    }
}

impl From<QueryRejection> for Problem {
    fn from(_: QueryRejection) -> Self {
        Problem::new(StatusCode::BAD_REQUEST, "invalid_query", "The query string is not valid for this request.")
    }
}

/// Decodes a JSON value into a request type, with the same value-free messages as a
/// body that does not fit.
pub fn from_value<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> Result<T, Problem> {
    serde_json::from_value(value).map_err(|e| {
        Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
            format!("The JSON does not fit this request: {}.", describe_data_error(&e.to_string())),
        )
    })
}

/// " at line L, column C", from serde's message, or nothing.
fn location(text: &str) -> String {
    match text.rfind(" at line ") {
        Some(i) => text[i..].replace(" at line ", " (at line ").to_string() + ")",
        None => String::new(),
    }
}

/// Reduces serde's message to what is safe to show: field names and the expected
/// shape, never the value that was sent (which might be a CPR number).
fn describe_data_error(text: &str) -> String {
    // axum prefixes "Failed to deserialize the JSON body into the target type: path: ".
    let text = text.rsplit_once("target type: ").map(|(_, t)| t).unwrap_or(text);
    let (path, message) = match text.split_once(": ") {
        Some((p, m)) if !p.contains(' ') || p.contains('.') => (Some(p), m),
        _ => (None, text),
    };
    let message = message.split(" at line ").next().unwrap_or(message);
    let expected = message.split_once("expected ").map(|(_, e)| format!("; expected {e}")).unwrap_or_default();
    let what = if message.starts_with("missing field") || message.starts_with("The ") {
        message.to_string()
    } else if message.starts_with("unknown field") {
        format!("an unknown field{expected}")
    } else if message.starts_with("unknown variant") {
        format!("an unknown kind{expected}")
    } else if message.starts_with("invalid") {
        format!("a value has the wrong type or format{expected}")
    } else {
        "the fields do not match what this request expects".to_string()
    };
    match path {
        Some(p) if p != "." => format!("{p}: {what}"),
        _ => what,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_errors_never_echo_values() {
        let cases = [
            ("Failed to deserialize the JSON body into the target type: cpr: invalid type: integer `101801234`, expected a string at line 1 column 19", "cpr: a value has the wrong type or format; expected a string"),
            ("Failed to deserialize the JSON body into the target type: change.kind: unknown variant `0101801234`, expected one of `record_entry`, `close_course` at line 1 column 40", "change.kind: an unknown kind; expected one of `record_entry`, `close_course`"),
            ("Failed to deserialize the JSON body into the target type: missing field `name` at line 1 column 2", "missing field `name`"),
            ("Failed to deserialize the JSON body into the target type: cpr: The CPR number is not valid: the first six digits are not a valid date. at line 1 column 20", "cpr: The CPR number is not valid: the first six digits are not a valid date."),
        ];
        for (input, want) in cases {
            let got = describe_data_error(input);
            assert_eq!(got, want);
            assert!(!got.contains("0101801234") && !got.contains("101801234"));
        }
    }
}
