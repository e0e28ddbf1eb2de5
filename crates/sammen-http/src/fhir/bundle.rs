//! Batch and transaction Bundles, POSTed to the base (`/fhir` or `/fhir/`).
//!
//! Each entry is carried out by the same handlers as a single request (a POST to
//! `Patient`, a GET of `Observation?patient=...`), so a Bundle can do exactly what
//! single requests can, through the same policy and audit trail, as the caller whose token
//! the Bundle came with (checked once, for the whole Bundle).
//!
//! A **transaction** runs in one unit of work ([`sammen_app::unit`]): every entry sees
//! the writes of the entries before it, and either all of them land or, at the first
//! entry refused, none do (the audit entries of what was tried are kept, as refused).
//! Writes go first, in an order where each resource comes after those it refers to by
//! `urn:uuid`, which are then rewritten to the ids Sammen gave; reads go last, as the
//! standard asks. A **batch** runs each entry on its own; one refused entry does not
//! stop the others, and its answer is an OperationOutcome in its place.

use std::collections::{HashMap, HashSet};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use axum::response::Response;
use axum::Router;
use serde_json::{json, Value};
use tower::ServiceExt;

use sammen_app::Actor;

use super::{
    base_url, fhir_json, outcome, resource_body, BundleCaller, Caller, EntryResource, FhirError, ReturnPreference,
    FHIR_JSON,
};
use crate::AppState;

/// The most entries one Bundle may carry.
const MAX_ENTRIES: usize = 1000;
/// The most bytes one entry's answer may have (a page of a search).
const MAX_ANSWER: usize = 16 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BundleType {
    Batch,
    Transaction,
}

struct Entry {
    full_url: Option<String>,
    method: Method,
    /// Relative to the base: `Patient`, `Observation?patient=...`.
    url: String,
    resource: Option<Value>,
    /// `request.ifMatch`: the version an update is made from, sent as `If-Match`.
    if_match: Option<String>,
}

/// An entry's answer, as a single request would have had it.
struct Answer {
    status: StatusCode,
    location: Option<String>,
    etag: Option<String>,
    body: Value,
}

impl Answer {
    /// The answer to an entry that was refused before it was carried out.
    fn refused(e: FhirError) -> Self {
        Answer { status: e.status, location: None, etag: None, body: outcome("error", e.code, &e.text) }
    }
}

pub async fn bundle(
    State(state): State<AppState>,
    Caller(actor): Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, FhirError> {
    let v = resource_body(&headers, &body)?;
    let base = base_url(&headers);
    let (kind, entries) = read_bundle(v, &base)?;
    // Which entries read: a read's answer is what was asked for, whatever `Prefer` says.
    let reads: Vec<bool> = entries.iter().map(|e| e.as_ref().is_ok_and(|e| e.method == Method::GET)).collect();
    let answers = match kind {
        // A batch's entries stand alone: one that cannot be carried out is answered with
        // why, and the others still are.
        BundleType::Batch => {
            let router = entry_routes(state.clone());
            let mut answers = Vec::with_capacity(entries.len());
            for e in entries {
                let answer = match e {
                    Ok(mut e) => {
                        let resource = e.resource.take();
                        dispatch(&router, &headers, &actor, &e, resource).await
                    }
                    Err(refused) => Err(refused),
                };
                answers.push(answer.unwrap_or_else(Answer::refused));
            }
            answers
        }
        BundleType::Transaction => {
            let mut entries = entries.into_iter().collect::<Result<Vec<Entry>, FhirError>>()?;
            transaction(&state, &headers, &actor, &mut entries).await?
        }
    };
    let response_type = match kind {
        BundleType::Batch => "batch-response",
        BundleType::Transaction => "transaction-response",
    };
    // `Prefer: return=...` is said of the Bundle and answered for each write in it; a
    // read's answer is what was asked for.
    let prefer = ReturnPreference::of(&headers);
    let entry: Vec<Value> = answers
        .into_iter()
        .zip(reads)
        .map(|(a, read)| answer_entry(a, &base, if read { ReturnPreference::Representation } else { prefer }))
        .collect();
    let mut b = json!({ "resourceType": "Bundle", "type": response_type });
    // FHIR JSON has no empty arrays: an empty Bundle has no `entry`.
    if !entry.is_empty() {
        b["entry"] = Value::from(entry);
    }
    Ok(fhir_json(StatusCode::OK, &b))
}

/// The Bundle's type and entries, each checked before any is carried out. The Bundle
/// as a whole is refused here; an entry that does not fit is refused in its place.
fn read_bundle(mut v: Value, base: &str) -> Result<(BundleType, Vec<Result<Entry, FhirError>>), FhirError> {
    if v["resourceType"] != "Bundle" {
        return Err(FhirError::invalid("POST to the base takes a Bundle of type batch or transaction."));
    }
    if let Some(o) = v.as_object() {
        super::elements::check_bundle(o)?;
    }
    let kind = match v["type"].as_str() {
        Some("batch") => BundleType::Batch,
        Some("transaction") => BundleType::Transaction,
        Some(_) => {
            return Err(FhirError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "not-supported",
                "Sammen carries out Bundles of type batch or transaction; POST other Bundles nowhere.",
            ))
        }
        None => return Err(FhirError::invalid("Bundle.type is required.")),
    };
    let raw = match v.get_mut("entry").map(Value::take) {
        None => Vec::new(),
        Some(Value::Array(entries)) => entries,
        Some(_) => return Err(FhirError::invalid("Bundle.entry must be an array.")),
    };
    if raw.len() > MAX_ENTRIES {
        return Err(FhirError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-costly",
            format!("A Bundle may carry at most {MAX_ENTRIES} entries; split it."),
        ));
    }
    let mut full_urls = HashSet::new();
    let entries: Result<Vec<_>, FhirError> =
        raw.into_iter().enumerate().map(|(i, e)| read_entry(i, e, base, &mut full_urls)).collect();
    Ok((kind, entries?))
}

/// Entry `i` of a Bundle, checked; `full_urls` holds the earlier entries' fullUrls.
/// The outer error: the entry is not valid FHIR, so neither is the Bundle (a method
/// or url missing, a fullUrl not a string or used twice, bdl-7). The inner one: the entry
/// is valid but cannot be carried out; a batch answers it in its place.
fn read_entry(
    i: usize,
    mut e: Value,
    base: &str,
    full_urls: &mut HashSet<String>,
) -> Result<Result<Entry, FhirError>, FhirError> {
    let at = |text: &str| FhirError::invalid(format!("Bundle.entry[{i}]: {text}"));
    let method = match e["request"]["method"].as_str() {
        Some("GET") => Ok(Method::GET),
        Some("POST") => Ok(Method::POST),
        Some("PUT") => Ok(Method::PUT),
        Some("DELETE" | "PATCH" | "HEAD") => Err(FhirError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "not-supported",
            format!(
                "Bundle.entry[{i}]: Sammen does not delete or patch; the record keeps what was written, \
                 and a correction is a new entry."
            ),
        )),
        Some(_) => return Err(at("request.method must be GET, POST or PUT.")),
        None => return Err(at("request.method is required.")),
    };
    let url = e["request"]["url"].as_str().ok_or_else(|| at("request.url is required."))?.to_string();
    let full_url = match e.get("fullUrl") {
        None => None,
        Some(f) => Some(f.as_str().ok_or_else(|| at("fullUrl must be a string."))?.to_string()),
    };
    if let Some(f) = &full_url {
        if !full_urls.insert(f.clone()) {
            return Err(at("fullUrl is used by an earlier entry too."));
        }
    }
    Ok(method.and_then(|method| {
        let url = url.strip_prefix(base).unwrap_or(&url).trim_start_matches('/').to_string();
        if url.is_empty() || url.contains("://") || url.starts_with("urn:") {
            return Err(at("request.url must be relative to the base, e.g. Patient or Observation?patient=<id>."));
        }
        if format!("/{url}").parse::<axum::http::Uri>().is_err() {
            return Err(at("request.url is not a valid address (spaces and line breaks must be %-encoded)."));
        }
        let resource = e.get_mut("resource").map(Value::take);
        if method == Method::GET && resource.is_some() {
            return Err(at("a GET entry carries no resource."));
        }
        if method != Method::GET {
            let r = resource.as_ref().ok_or_else(|| at("a POST or PUT entry needs its resource."))?;
            let path_type = url.split(['/', '?']).next().unwrap_or("");
            if r["resourceType"].as_str() != Some(path_type) {
                return Err(at("resource.resourceType must match request.url."));
            }
        }
        for conditional in ["ifNoneMatch", "ifModifiedSince", "ifNoneExist"] {
            if e["request"].get(conditional).is_some() {
                return Err(FhirError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "not-supported",
                    format!("Bundle.entry[{i}]: Sammen does not take request.{conditional}; leave it out."),
                ));
            }
        }
        let if_match = match e["request"].get("ifMatch") {
            None => None,
            Some(m) => {
                let m = m.as_str().filter(|m| header::HeaderValue::from_str(m).is_ok());
                Some(m.ok_or_else(|| at("request.ifMatch must be a version tag, e.g. W/\"3\"."))?.to_string())
            }
        };
        Ok(Entry { full_url, method, url, resource, if_match })
    }))
}

/// Carries out a transaction in one unit of work; the first entry refused rolls it
/// all back and is the answer.
async fn transaction(
    state: &AppState,
    headers: &HeaderMap,
    actor: &Actor,
    entries: &mut [Entry],
) -> Result<Vec<Answer>, FhirError> {
    let order = write_order(entries)?;
    let unit = state.sammen.unit().await?;
    let router = entry_routes(AppState::new(unit.sammen().clone()));
    let mut answers: Vec<Option<Answer>> = entries.iter().map(|_| None).collect();
    let mut resolved: HashMap<String, String> = HashMap::new();
    let mut refused = None;
    for i in order {
        let resource = entries[i].resource.take().map(|mut r| {
            rewrite_references(&mut r, &resolved);
            r
        });
        let e = &entries[i];
        let a = match dispatch(&router, headers, actor, e, resource).await {
            Ok(a) => a,
            Err(err) => {
                refused = Some((i, err));
                break;
            }
        };
        if !a.status.is_success() {
            refused = Some((i, refusal(i, e, &a)));
            break;
        }
        if let (Some(full), Some(id)) = (&e.full_url, created_id(&a)) {
            resolved.insert(full.clone(), id);
        }
        answers[i] = Some(a);
    }
    drop(router);
    if let Some((_, err)) = refused {
        unit.rollback(&state.sammen).await?;
        return Err(err);
    }
    unit.commit(&state.sammen).await?;
    answers
        .into_iter()
        .map(|a| {
            a.ok_or_else(|| FhirError::new(StatusCode::INTERNAL_SERVER_ERROR, "exception", "An entry was skipped."))
        })
        .collect()
}

/// Why a transaction was refused: the entry's own OperationOutcome, said of the entry.
fn refusal(i: usize, e: &Entry, a: &Answer) -> FhirError {
    let issue = &a.body["issue"][0];
    let code = match issue["code"].as_str() {
        Some("not-found") => "not-found",
        Some("forbidden") => "forbidden",
        Some("conflict") => "conflict",
        Some("business-rule") => "business-rule",
        Some("not-supported") => "not-supported",
        Some("code-invalid") => "code-invalid",
        Some("structure") => "structure",
        Some("login") => "login",
        _ => "invalid",
    };
    let why = issue["diagnostics"].as_str().unwrap_or("it was refused.");
    let what = e.url.split('?').next().unwrap_or("");
    FhirError::new(
        a.status,
        code,
        format!("Bundle.entry[{i}] ({} {what}): {why} Nothing in the transaction was stored.", e.method),
    )
}

/// Writes first, each after the entries it refers to by `urn:uuid`; then reads, in the
/// order given.
fn write_order(entries: &[Entry]) -> Result<Vec<usize>, FhirError> {
    let full_urls: HashMap<&str, usize> =
        entries.iter().enumerate().filter_map(|(i, e)| e.full_url.as_deref().map(|f| (f, i))).collect();
    let mut needs: Vec<Vec<usize>> = Vec::with_capacity(entries.len());
    for (i, e) in entries.iter().enumerate() {
        let mut refs = Vec::new();
        if let Some(r) = &e.resource {
            collect_references(r, &mut refs);
        }
        let mut deps = Vec::new();
        for r in refs.into_iter().filter(|r| r.starts_with("urn:")) {
            match full_urls.get(r.as_str()) {
                Some(&j) if j != i => deps.push(j),
                Some(_) => {}
                None => {
                    return Err(FhirError::invalid(format!(
                        "Bundle.entry[{i}] refers to {}, which no entry of the Bundle has as fullUrl.",
                        r.chars().take(80).collect::<String>()
                    )))
                }
            }
        }
        needs.push(deps);
    }
    let writes: Vec<usize> = (0..entries.len()).filter(|&i| entries[i].method != Method::GET).collect();
    let mut order = Vec::with_capacity(entries.len());
    let mut done = vec![false; entries.len()];
    while order.len() < writes.len() {
        let next = writes.iter().copied().find(|&i| !done[i] && needs[i].iter().all(|&j| done[j]));
        let Some(i) = next else {
            return Err(FhirError::invalid(
                "The Bundle's entries refer to each other in a circle (or to a GET entry); none can be written first.",
            ));
        };
        done[i] = true;
        order.push(i);
    }
    order.extend((0..entries.len()).filter(|&i| entries[i].method == Method::GET));
    Ok(order)
}

fn collect_references(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                match (k.as_str(), x) {
                    ("reference", Value::String(r)) => out.push(r.clone()),
                    _ => collect_references(x, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_references(x, out)),
        _ => {}
    }
}

fn rewrite_references(v: &mut Value, resolved: &HashMap<String, String>) {
    match v {
        Value::Object(o) => {
            for (k, x) in o.iter_mut() {
                match (k.as_str(), &*x) {
                    ("reference", Value::String(r)) => {
                        if let Some(id) = resolved.get(r) {
                            *x = Value::String(id.clone());
                        }
                    }
                    _ => rewrite_references(x, resolved),
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| rewrite_references(x, resolved)),
        _ => {}
    }
}

/// `Type/id` of what a POST created.
fn created_id(a: &Answer) -> Option<String> {
    let t = a.body["resourceType"].as_str()?;
    let id = a.body["id"].as_str()?;
    Some(format!("{t}/{id}"))
}

/// The FHIR routes, for a Bundle's entries, over `state`. Made once: building the routes
/// anew for every Bundle took a fiftieth of an import's CPU.
fn entry_routes(state: AppState) -> Router {
    static ROUTES: std::sync::LazyLock<Router<AppState>> = std::sync::LazyLock::new(super::routes);
    ROUTES.clone().with_state(state)
}

/// Carries out one entry as the request it stands for, as the Bundle's caller.
async fn dispatch(
    router: &Router,
    headers: &HeaderMap,
    actor: &Actor,
    e: &Entry,
    resource: Option<Value>,
) -> Result<Answer, FhirError> {
    let mut req = Request::builder().method(e.method.clone()).uri(format!("/{}", e.url));
    if let Some(m) = &e.if_match {
        req = req.header(header::IF_MATCH, m.as_str());
    }
    for name in [header::HOST, header::HeaderName::from_static("x-forwarded-proto")] {
        if let Some(v) = headers.get(&name) {
            req = req.header(name, v);
        }
    }
    if resource.is_some() {
        req = req.header(header::CONTENT_TYPE, FHIR_JSON);
    }
    let mut req =
        req.body(Body::empty()).map_err(|_| FhirError::invalid("An entry's request.url is not a valid address."))?;
    req.extensions_mut().insert(BundleCaller(actor.clone()));
    if let Some(r) = resource {
        req.extensions_mut().insert(EntryResource(r));
    }
    let Ok(res) = router.clone().oneshot(req).await;
    let (mut parts, body) = res.into_parts();
    let text = |name| parts.headers.get(name).and_then(|v: &header::HeaderValue| v.to_str().ok()).map(str::to_string);
    let (status, location, etag) = (parts.status, text(header::LOCATION), text(header::ETAG));
    if let Some(EntryResource(body)) = parts.extensions.remove::<EntryResource>() {
        return Ok(Answer { status, location, etag, body });
    }
    let bytes = axum::body::to_bytes(body, MAX_ANSWER).await.map_err(|_| {
        FhirError::new(StatusCode::INSUFFICIENT_STORAGE, "too-costly", "An entry's answer is too large for a Bundle.")
    })?;
    let body = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap_or(Value::Null) };
    Ok(Answer { status, location, etag, body })
}

fn answer_entry(a: Answer, base: &str, prefer: ReturnPreference) -> Value {
    let reason = a.status.canonical_reason().unwrap_or("");
    let mut response = json!({ "status": format!("{} {reason}", a.status.as_u16()).trim().to_string() });
    if let Some(l) = a.location {
        let relative = l.strip_prefix(base).map(|r| r.trim_start_matches('/').to_string()).unwrap_or(l);
        response["location"] = json!(relative);
    }
    if let Some(e) = a.etag {
        response["etag"] = json!(e);
    }
    if let Some(at) = a.body["meta"]["lastUpdated"].as_str() {
        response["lastModified"] = json!(at);
    }
    if a.status.is_success() {
        if a.body.is_object() && prefer == ReturnPreference::OperationOutcome {
            response["outcome"] = ReturnPreference::outcome_of(a.status, &a.body);
        }
        let mut entry = json!({ "response": response });
        if a.body.is_object() && prefer == ReturnPreference::Representation {
            entry["resource"] = a.body;
        }
        entry
    } else {
        response["outcome"] = if a.body.is_object() {
            a.body
        } else {
            outcome("error", "exception", "The entry was refused without an explanation.")
        };
        json!({ "response": response })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(full: &str, method: Method, resource: Value) -> Entry {
        Entry { full_url: Some(full.into()), method, url: "X".into(), resource: Some(resource), if_match: None }
    }

    #[test]
    fn writes_come_after_what_they_refer_to_and_reads_last() {
        let entries = vec![
            Entry { full_url: None, method: Method::GET, url: "Patient".into(), resource: None, if_match: None },
            entry("urn:uuid:b", Method::POST, json!({ "subject": { "reference": "urn:uuid:a" } })),
            entry("urn:uuid:a", Method::POST, json!({ "resourceType": "Patient" })),
        ];
        assert_eq!(write_order(&entries).unwrap(), vec![2, 1, 0]);
    }

    #[test]
    fn circles_and_dangling_references_are_refused() {
        let circle = vec![
            entry("urn:uuid:a", Method::POST, json!({ "x": { "reference": "urn:uuid:b" } })),
            entry("urn:uuid:b", Method::POST, json!({ "x": { "reference": "urn:uuid:a" } })),
        ];
        assert!(write_order(&circle).unwrap_err().text.contains("circle"));
        let dangling = vec![entry("urn:uuid:a", Method::POST, json!({ "x": { "reference": "urn:uuid:zz" } }))];
        assert!(write_order(&dangling).unwrap_err().text.contains("no entry"));
    }

    #[test]
    fn references_are_rewritten_wherever_they_are() {
        let mut r = json!({ "subject": { "reference": "urn:uuid:a" }, "basedOn": [{ "reference": "urn:uuid:a" }],
                            "other": { "reference": "Patient/kept" } });
        let resolved = HashMap::from([("urn:uuid:a".to_string(), "Patient/p1".to_string())]);
        rewrite_references(&mut r, &resolved);
        assert_eq!(r["subject"]["reference"], "Patient/p1");
        assert_eq!(r["basedOn"][0]["reference"], "Patient/p1");
        assert_eq!(r["other"]["reference"], "Patient/kept");
    }
}
