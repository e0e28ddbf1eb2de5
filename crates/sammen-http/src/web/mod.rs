//! The pages: sign-in, a workspace for professionals, and a plain-language view for
//! patients and their proxies. Server-rendered from templates that escape by default;
//! every core flow works without JavaScript (there is none); every string comes from
//! the translation files, Danish first.
//!
//! Cookies: `sammen_session` holds the session secret (HttpOnly, Secure,
//! SameSite=Strict). Every form carries the session's CSRF token (the sign-in form a
//! double-submit token), checked before anything else. No health data is ever in an
//! address: patients and courses appear only as opaque ids, and searches are posted.

mod advice;
mod cards;
mod patient;
mod pro;
mod progress;
mod refusal;
pub mod render;
mod svg;

use axum::extract::{ConnectInfo, Form, FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use minijinja::{context, Value};
use serde::Deserialize;
use std::net::SocketAddr;

use sammen_app::identity::{csrf_matches, secrets_match, SESSION_LIFETIME};
use sammen_app::{Actor, AppError};
use sammen_domain::directory::UserKind;
use sammen_store::Session;

use crate::{AppState, Problem};
use render::{render, strings, text};

pub const SESSION_COOKIE: &str = "sammen_session";
const LOGIN_CSRF_COOKIE: &str = "sammen_login_csrf";
const LANG_COOKIE: &str = "sammen_lang";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/language", post(set_language))
        .route("/static/sammen.css", get(stylesheet))
        .merge(pro::routes())
        .merge(patient::routes())
        .merge(cards::routes())
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
    /// After a form went through: what to confirm (see [`done`]).
    done: Option<String>,
}

/// What a page may confirm after a form went through (`?done=saved`): a word from this
/// list, never anything the form held.
fn done(asked: Option<&str>) -> Option<&'static str> {
    ["saved", "sent"].into_iter().find(|d| Some(*d) == asked)
}

/// Where a form that went through sends the reader: back to `url`, saying so.
pub fn see_other_done(url: &str, what: &'static str) -> Response {
    let join = if url.contains('?') { '&' } else { '?' };
    see_other(&format!("{url}{join}done={what}"))
}

/// The language a page offers to switch to.
fn other_language(lang: &str) -> &'static str {
    if lang == "da" {
        "en"
    } else {
        "da"
    }
}

fn pick(s: &str) -> &'static str {
    if s.starts_with("en") {
        "en"
    } else {
        "da"
    }
}

/// The language before sign-in: an explicit choice, else the remembered one, else
/// Danish, whatever the browser says.
/// The page for an address with nothing at it, in the browser's chosen language: a
/// person who mistyped an address gets a page, not the API's JSON.
pub fn no_such_page(headers: &HeaderMap) -> Response {
    let lang = language(headers, None);
    WebError { status: StatusCode::NOT_FOUND, message: text(lang, "errors.no_route"), lang }.into_response()
}

fn language(headers: &HeaderMap, chosen: Option<&str>) -> &'static str {
    match chosen {
        Some(c) => pick(c),
        None => cookie(headers, LANG_COOKIE).map(|c| pick(&c)).unwrap_or("da"),
    }
}

async fn stylesheet() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "max-age=3600")],
        include_str!("../../static/sammen.css"),
    )
}

/// The signed-in person on a page: who they are, their session (for the CSRF token) and
/// their language. Without a valid session, pages send them to sign in.
pub struct Web {
    pub actor: Actor,
    pub session: Session,
    pub lang: &'static str,
    /// The path of this page, for forms that come back to it (never carries health data).
    pub here: String,
    /// A form that went through, to confirm at the top of the page.
    pub done: Option<&'static str>,
}

impl Web {
    /// The context every page gets: the strings, the language, who is signed in.
    pub fn context(&self, extra: Value) -> Value {
        let kind = match self.actor.user.kind {
            UserKind::Professional { .. } => "professional",
            UserKind::Patient { .. } => "patient",
            UserKind::Proxy { .. } => "proxy",
            UserKind::Operator => "operator",
        };
        let base = context! {
            t => strings(self.lang),
            lang => self.lang,
            other_lang => other_language(self.lang),
            csrf => &self.session.csrf_token,
            here => &self.here,
            done => self.done,
            me => context! {
                name => &self.actor.user.name,
                kind => kind,
                profession => self.actor.user.profession().map(|p| p.to_string()),
                organisation => self.actor.org.as_ref().map(|o| o.name.clone()),
            },
        };
        context! { ..extra, ..base }
    }

    pub fn page(&self, template: &str, extra: Value) -> Result<Response, WebError> {
        let html = render(template, self.context(extra)).map_err(|p| WebError::page(p, self.lang))?;
        Ok(Html(html).into_response())
    }

    /// A page with another status than 200: a form shown again with its error.
    pub fn page_as(&self, template: &str, extra: Value, status: StatusCode) -> Result<Response, WebError> {
        let mut page = self.page(template, extra)?;
        *page.status_mut() = status;
        Ok(page)
    }

    pub fn is_professional(&self) -> bool {
        matches!(self.actor.user.kind, UserKind::Professional { .. })
    }

    /// Checks a form's CSRF token against the session's.
    pub async fn check_csrf(&self, state: &AppState, submitted: &str) -> Result<(), WebError> {
        if csrf_matches(&self.session, submitted) {
            return Ok(());
        }
        state.sammen.record_refusal(&self.actor, "csrf").await.map_err(|e| WebError::app(e, self.lang))?;
        Err(WebError::csrf(self.lang))
    }

    pub fn err(&self, e: AppError) -> WebError {
        WebError::app(e, self.lang)
    }

    /// As [`Web::err`], on a form that labels some fields its own way (see
    /// [`refusal::say_on`]).
    pub fn err_on(&self, e: AppError, own_label: &dyn Fn(&str) -> Option<String>) -> WebError {
        WebError::app_on(e, self.lang, own_label)
    }
}

impl FromRequestParts<AppState> for Web {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let query = Query::<LangQuery>::try_from_uri(&parts.uri).ok().map(|q| q.0);
        let chosen = query.as_ref().and_then(|q| q.lang.clone());
        let done = done(query.as_ref().and_then(|q| q.done.as_deref()));
        let fallback = language(&parts.headers, chosen.as_deref());
        let Some(secret) = session_cookie(&parts.headers) else {
            return Err(Redirect::to("/login").into_response());
        };
        match state.sammen.authenticate_session(&secret).await {
            Ok((actor, session)) => {
                let lang = actor.user.language.as_deref().map(pick).unwrap_or(fallback);
                Ok(Web { actor, session, lang, here: parts.uri.path().to_string(), done })
            }
            Err(AppError::Unauthenticated) => {
                let notice = Some(text(fallback, "login.session_expired"));
                Err(login_form(fallback, "", None, notice, StatusCode::OK).unwrap_or_else(|e| e.into_response()))
            }
            Err(e) => Err(WebError::app(e, fallback).into_response()),
        }
    }
}

/// An error as a page a person can act on: a translated message, the right status, and
/// nothing from inside Sammen.
#[derive(Debug)]
pub struct WebError {
    pub status: StatusCode,
    pub message: String,
    pub lang: &'static str,
}

impl WebError {
    /// A form that did not carry its session's token.
    fn csrf(lang: &'static str) -> Self {
        WebError { status: StatusCode::FORBIDDEN, message: text(lang, "errors.csrf"), lang }
    }

    pub fn app(e: AppError, lang: &'static str) -> Self {
        Self::app_on(e, lang, &|_| None)
    }

    /// As [`WebError::app`], naming a refused field by `own_label` where it gives one.
    fn app_on(e: AppError, lang: &'static str, own_label: &dyn Fn(&str) -> Option<String>) -> Self {
        // A refusal of the domain's is said in the reader's language, with its details.
        if let AppError::Domain(d) = &e {
            if let Some(message) = refusal::say_on(lang, d, own_label) {
                return WebError { status: Problem::from(e).status, message, lang };
            }
        }
        Self::page(Problem::from(e), lang)
    }

    fn page(p: Problem, lang: &'static str) -> Self {
        if let Some(detail) = &p.internal {
            tracing::error!(detail = %detail, "internal error on a page");
        }
        // Our own messages are English; the page says it in the reader's language when
        // there is a translation for the code, and falls back to the message.
        let key = format!("errors.{}", p.code);
        let translated = text(lang, &key);
        let message = if translated == key { p.message } else { translated };
        WebError { status: p.status, message, lang }
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let ctx = context! { t => strings(self.lang), lang => self.lang, other_lang => other_language(self.lang),
        message => self.message, status => self.status.as_u16() };
        let html = render("error.html", ctx).unwrap_or_else(|_| "Sammen".to_string());
        (self.status, Html(html)).into_response()
    }
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
        context! { t => strings(lang), lang => lang, other_lang => other_language(lang),
        csrf => &csrf, login => login, error => error, notice => notice },
    )?;
    let mut res = (status, Html(page)).into_response();
    let (k, v) = set_cookie(LOGIN_CSRF_COOKIE, &csrf, 3600);
    res.headers_mut().append(k, v);
    let (k, v) = set_cookie(LANG_COOKIE, lang, 365 * 24 * 3600);
    res.headers_mut().append(k, v);
    Ok(res)
}

async fn login_page(headers: HeaderMap, uri: axum::http::Uri) -> Result<Response, Problem> {
    // A query that does not fit (lang twice) is no reason to refuse the sign-in page.
    let q = Query::<LangQuery>::try_from_uri(&uri).map(|q| q.0.lang).ok().flatten();
    let lang = language(&headers, q.as_deref());
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
        return login_form(lang, &form.login, Some(text(lang, "login.form_expired")), None, StatusCode::FORBIDDEN);
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
            let (status, message) = match e {
                AppError::LockedOut { minutes } => {
                    (StatusCode::TOO_MANY_REQUESTS, render::count(&text(lang, "login.locked_out"), minutes))
                }
                _ => (StatusCode::UNAUTHORIZED, text(lang, "login.wrong")),
            };
            login_form(lang, &form.login, Some(message), None, status)
        }
        Err(e) => Err(e.into()),
    }
}

/// The home page: the worklist for a professional, "my course" for a patient or proxy.
async fn home(state: State<AppState>, web: Web) -> Result<Response, WebError> {
    match web.actor.user.kind {
        UserKind::Professional { .. } => pro::worklist(state, web).await,
        UserKind::Patient { .. } | UserKind::Proxy { .. } => patient::my_course(state, web).await,
        UserKind::Operator => web.page("operator.html", context! {}),
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Result<Response, Problem> {
    let lang = language(&headers, None);
    let Some(secret) = session_cookie(&headers) else {
        return Ok(Redirect::to("/login").into_response());
    };
    if let Ok((_, session)) = state.sammen.authenticate_session(&secret).await {
        if !csrf_matches(&session, &form.csrf) {
            // A page, as the browser that posted the form expects, not the API's JSON.
            return Ok(WebError::csrf(lang).into_response());
        }
        state.sammen.sign_out(&secret).await?;
    }
    let mut res = login_form(lang, "", None, Some(text(lang, "login.signed_out")), StatusCode::OK)?;
    let (k, v) = set_cookie(SESSION_COOKIE, "", 0);
    res.headers_mut().append(k, v);
    Ok(res)
}

#[derive(Deserialize)]
struct LanguageForm {
    #[serde(default)]
    csrf: String,
    language: String,
    /// The page to go back to (a path on this site).
    #[serde(default)]
    back: String,
}

/// Switches the language and remembers it for the person (and in a cookie for the
/// sign-in page).
async fn set_language(
    State(state): State<AppState>,
    web: Web,
    Form(form): Form<LanguageForm>,
) -> Result<Response, WebError> {
    web.check_csrf(&state, &form.csrf).await?;
    let lang = pick(&form.language);
    state.sammen.set_language(&web.actor, lang).await.map_err(|e| web.err(e))?;
    let mut res = Redirect::to(local_path(&form.back)).into_response();
    let (k, v) = set_cookie(LANG_COOKIE, lang, 365 * 24 * 3600);
    res.headers_mut().append(k, v);
    Ok(res)
}

/// A path on this site to send the browser back to, from a form: anything else is "/".
/// Browsers read `/\host` and `/<tab>/host` as `//host`, another site, and a control
/// character cannot go in a header at all, so only a plain path is taken: a slash, then
/// visible ASCII without a backslash, and not a second slash.
fn local_path(back: &str) -> &str {
    let plain = back.starts_with('/')
        && !back[1..].starts_with(['/', '\\'])
        && back.bytes().all(|b| b.is_ascii_graphic() && b != b'\\');
    if plain {
        back
    } else {
        "/"
    }
}

/// The client's address, for counting failed sign-ins; "unknown" in-process.
struct ClientAddr(String);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let addr = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(a)| a.ip().to_string());
        Ok(ClientAddr(addr.unwrap_or_else(|| "unknown".into())))
    }
}

/// After a form: back to the page, as a fresh GET (no form resubmitted on reload).
pub fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

#[cfg(test)]
mod tests {
    use super::local_path;

    #[test]
    fn only_a_plain_path_on_this_site_is_gone_back_to() {
        for ok in ["/", "/p/1fade82c/c/0fbd3a11/timeline", "/me?tab=log#x", "/%09/x"] {
            assert_eq!(local_path(ok), ok);
        }
        for other in [
            "https://evil.example",
            "//evil.example",
            "/\\evil.example",
            "/\t/evil.example",
            "/a\nb",
            "/a\u{7f}",
            "",
            "evil",
        ] {
            assert_eq!(local_path(other), "/", "{other:?}");
        }
    }
}
