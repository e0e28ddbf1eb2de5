//! The browser's way in: `/login`, `/logout` and a signed-in home page. Pages are
//! rendered by templates that escape by default; every string comes from the
//! translation files (Danish first, English beside it).
//!
//! Cookies: `sammen_session` holds the session secret (HttpOnly, Secure,
//! SameSite=Strict). Forms are protected against cross-site requests: the sign-in form
//! by a double-submit token (`sammen_login_csrf` cookie and hidden field), every form
//! of a signed-in user by the session's own CSRF token.

use axum::extract::{ConnectInfo, Form, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use minijinja::Environment;
use serde::Deserialize;
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::OnceLock;

use sammen_app::identity::{csrf_matches, secrets_match, SESSION_LIFETIME};
use sammen_app::AppError;

use crate::{AppState, Problem};

pub const SESSION_COOKIE: &str = "sammen_session";
const LOGIN_CSRF_COOKIE: &str = "sammen_login_csrf";
const LANG_COOKIE: &str = "sammen_lang";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/static/sammen.css", get(stylesheet))
}

fn templates() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        for (name, source) in [
            ("base.html", include_str!("../templates/base.html")),
            ("login.html", include_str!("../templates/login.html")),
            ("home.html", include_str!("../templates/home.html")),
        ] {
            env.add_template(name, source).expect("templates parse");
        }
        env
    })
}

/// The translation table for a language: Danish unless English was chosen.
fn strings(lang: &str) -> &'static Value {
    static DA: OnceLock<Value> = OnceLock::new();
    static EN: OnceLock<Value> = OnceLock::new();
    if lang == "en" {
        EN.get_or_init(|| serde_json::from_str(include_str!("../i18n/en.json")).expect("en.json parses"))
    } else {
        DA.get_or_init(|| serde_json::from_str(include_str!("../i18n/da.json")).expect("da.json parses"))
    }
}

fn text(lang: &str, key: &str) -> String {
    strings(lang)[key].as_str().unwrap_or(key).to_string()
}

fn render(name: &str, ctx: minijinja::Value) -> Result<Html<String>, Problem> {
    templates()
        .get_template(name)
        .and_then(|t| t.render(ctx))
        .map(Html)
        .map_err(|e| AppError::Internal(format!("rendering {name}: {e}")).into())
}

/// Reads one cookie from the request.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
        .filter(|v| !v.is_empty())
}

pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    cookie(headers, SESSION_COOKIE)
}

pub fn csrf_problem() -> Problem {
    Problem::new(
        StatusCode::FORBIDDEN,
        "csrf",
        "The request did not carry this session's form token (X-CSRF-Token). Reload the page and try again.",
    )
}

fn set_cookie(name: &str, value: &str, max_age: i64) -> (header::HeaderName, HeaderValue) {
    let v = format!("{name}={value}; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age={max_age}");
    (header::SET_COOKIE, HeaderValue::from_str(&v).unwrap_or(HeaderValue::from_static("")))
}

#[derive(Deserialize)]
struct LangQuery {
    lang: Option<String>,
}

/// The language: an explicit choice (remembered in a cookie), else the remembered
/// choice, else Danish. Danish comes first whatever the browser says.
fn language(headers: &HeaderMap, chosen: Option<&str>) -> &'static str {
    let pick = |s: &str| if s.starts_with("en") { "en" } else { "da" };
    match chosen {
        Some(c) => pick(c),
        None => cookie(headers, LANG_COOKIE).map(|c| pick(&c)).unwrap_or("da"),
    }
}

async fn stylesheet() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], include_str!("../static/sammen.css"))
}

fn login_form(
    lang: &str,
    login: &str,
    error: Option<String>,
    notice: Option<String>,
    status: StatusCode,
) -> Result<Response, Problem> {
    let csrf = sammen_app::ids::secret_hex();
    let page = render(
        "login.html",
        minijinja::context! { t => strings(lang), csrf => &csrf, login => login, error => error, notice => notice },
    )?;
    let mut res = (status, page).into_response();
    let (k, v) = set_cookie(LOGIN_CSRF_COOKIE, &csrf, 3600);
    res.headers_mut().append(k, v);
    let (k, v) = set_cookie(LANG_COOKIE, lang, 365 * 24 * 3600);
    res.headers_mut().append(k, v);
    Ok(res)
}

async fn login_page(headers: HeaderMap, Query(q): Query<LangQuery>) -> Result<Response, Problem> {
    let lang = language(&headers, q.lang.as_deref());
    login_form(lang, "", None, None, StatusCode::OK)
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    login: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
}

async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientAddr(client): ClientAddr,
    Form(form): Form<LoginForm>,
) -> Result<Response, Problem> {
    let lang = language(&headers, None);
    let expected = cookie(&headers, LOGIN_CSRF_COOKIE).unwrap_or_default();
    let csrf_ok = !expected.is_empty() && secrets_match(&expected, &form.csrf);
    if !csrf_ok {
        return login_form(lang, &form.login, Some(text(lang, "form_expired")), None, StatusCode::FORBIDDEN);
    }
    match state.sammen.sign_in(&form.login, &form.password, &client).await {
        Ok((_, secret)) => {
            let mut res = Redirect::to("/").into_response();
            let (k, v) = set_cookie(SESSION_COOKIE, &secret, SESSION_LIFETIME.whole_seconds());
            res.headers_mut().append(k, v);
            let (k, v) = set_cookie(LOGIN_CSRF_COOKIE, "", 0);
            res.headers_mut().append(k, v);
            Ok(res)
        }
        Err(e @ (AppError::WrongCredentials | AppError::LockedOut { .. })) => {
            let status = if matches!(e, AppError::LockedOut { .. }) {
                StatusCode::TOO_MANY_REQUESTS
            } else {
                StatusCode::UNAUTHORIZED
            };
            let message = match (&e, lang) {
                (AppError::WrongCredentials, "da") => "Brugernavn eller adgangskode er forkert.".to_string(),
                (AppError::LockedOut { minutes }, "da") => {
                    format!("For mange forsøg. Vent {minutes} minutter, og prøv igen.")
                }
                _ => e.to_string(),
            };
            login_form(lang, &form.login, Some(message), None, status)
        }
        Err(e) => Err(e.into()),
    }
}

async fn home(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<LangQuery>,
) -> Result<Response, Problem> {
    let lang = language(&headers, q.lang.as_deref());
    let Some(secret) = session_cookie(&headers) else {
        return Ok(Redirect::to("/login").into_response());
    };
    let (actor, session) = match state.sammen.authenticate_session(&secret).await {
        Ok(found) => found,
        Err(AppError::Unauthenticated) => {
            return login_form(lang, "", None, Some(text(lang, "session_expired")), StatusCode::OK)
        }
        Err(e) => return Err(e.into()),
    };
    let page = render(
        "home.html",
        minijinja::context! {
            t => strings(lang),
            name => &actor.user.name,
            profession => actor.user.profession().map(|p| p.to_string()),
            organisation => actor.org.as_ref().map(|o| o.name.clone()),
            csrf => &session.csrf_token,
        },
    )?;
    let mut res = page.into_response();
    if q.lang.is_some() {
        let (k, v) = set_cookie(LANG_COOKIE, lang, 365 * 24 * 3600);
        res.headers_mut().append(k, v);
    }
    Ok(res)
}

#[derive(Deserialize)]
struct LogoutForm {
    #[serde(default)]
    csrf: String,
}

async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<LogoutForm>,
) -> Result<Response, Problem> {
    let lang = language(&headers, None);
    let Some(secret) = session_cookie(&headers) else {
        return Ok(Redirect::to("/login").into_response());
    };
    if let Ok((_, session)) = state.sammen.authenticate_session(&secret).await {
        if !csrf_matches(&session, &form.csrf) {
            return Err(csrf_problem());
        }
        state.sammen.sign_out(&secret).await?;
    }
    let mut res = login_form(lang, "", None, Some(text(lang, "signed_out")), StatusCode::OK)?;
    let (k, v) = set_cookie(SESSION_COOKIE, "", 0);
    res.headers_mut().append(k, v);
    Ok(res)
}

/// The client's address, for counting failed sign-ins; "unknown" in-process.
struct ClientAddr(String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        let addr = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(a)| a.ip().to_string());
        Ok(ClientAddr(addr.unwrap_or_else(|| "unknown".into())))
    }
}
