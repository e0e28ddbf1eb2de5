//! Sammen over HTTP. The only crate that knows HTTP: it turns requests into use-case
//! calls on [`sammen_app::Sammen`] and results into responses. No handler touches
//! storage or decides access itself.

mod api;
pub mod fhir;
mod problem;
pub mod web;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, HeaderName, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::net::TcpListener;

use sammen_app::Sammen;

pub use problem::Problem;

/// The largest request body accepted.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

#[derive(Clone)]
pub struct AppState {
    pub sammen: Sammen,
    request_ids: Arc<RequestIds>,
}

impl AppState {
    pub fn new(sammen: Sammen) -> Self {
        AppState { sammen, request_ids: Arc::new(RequestIds::new()) }
    }
}

/// Request ids: a per-process random prefix and a counter. Opaque, unique, cheap.
struct RequestIds {
    prefix: String,
    next: AtomicU64,
}

impl RequestIds {
    fn new() -> Self {
        RequestIds { prefix: sammen_app::ids::secret_hex()[..8].to_string(), next: AtomicU64::new(1) }
    }
    fn next(&self) -> String {
        format!("{}-{:x}", self.prefix, self.next.fetch_add(1, Ordering::Relaxed))
    }
}

/// The request id of the current request, for handlers that log.
#[derive(Clone)]
pub struct RequestId(pub String);

/// The whole HTTP application.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .nest("/api", api::routes())
        .nest("/fhir", fhir::routes())
        // Clients post Bundles to the base with a trailing slash.
        .route("/fhir/", axum::routing::post(fhir::bundle))
        .merge(web::routes())
        .route_layer(middleware::from_fn(record_route))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(state.clone(), finish))
        .with_state(state)
}

/// Hands the matched route template to [`finish`], which runs outside the router.
async fn record_route(req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().cloned();
    let mut res = next.run(req).await;
    if let Some(route) = route {
        res.extensions_mut().insert(route);
    }
    res
}

/// Gives every request an id, renders problems with it, and sets the headers every
/// response carries: nothing about a patient may be cached or sniffed.
///
/// The access log names the route template (`/api/patients/{patient}`), never the
/// address itself, and nothing from the body.
async fn finish(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let id = state.request_ids.next();
    let started = std::time::Instant::now();
    let method = req.method().clone();
    req.extensions_mut().insert(RequestId(id.clone()));
    let mut res = next.run(req).await;
    let route = res
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "(no route)".to_string());
    tracing::info!(
        request_id = %id,
        %method,
        route,
        status = res.status().as_u16(),
        ms = format_args!("{:.3}", started.elapsed().as_secs_f64() * 1000.0),
        "request"
    );
    if let Some(problem) = res.extensions_mut().remove::<Problem>() {
        res = problem.into_response_with(&id);
    }
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&id) {
        h.insert(HeaderName::from_static("x-request-id"), v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    res
}

/// Nothing at this address: a page for a browser (it asks for HTML), else the API's JSON.
async fn not_found(uri: axum::http::Uri, headers: axum::http::HeaderMap) -> Response {
    let wants_page = headers.get(header::ACCEPT).and_then(|a| a.to_str().ok()).is_some_and(|a| a.contains("text/html"));
    if wants_page && !uri.path().starts_with("/api/") {
        return web::no_such_page(&headers);
    }
    Problem::new(axum::http::StatusCode::NOT_FOUND, "no_route", "There is nothing at this address.").into_response()
}

/// Liveness and what the server runs on. Public: it says nothing about patients.
async fn healthz(State(state): State<AppState>) -> Result<Json<serde_json::Value>, Problem> {
    let store = state.sammen.store();
    let schema = store.schema_version().await.map_err(sammen_app::AppError::from)?;
    Ok(Json(json!({
        "status": "ok",
        "engine": store.engine().to_string(),
        "schema_version": schema,
        "version": env!("CARGO_PKG_VERSION"),
    })))
}

/// Serves until `shutdown` completes, then finishes the requests in flight (so a
/// write that started is committed and audited) before returning.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let service = app(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, service).with_graceful_shutdown(shutdown).await
}
