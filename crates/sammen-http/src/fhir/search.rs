//! Read, search and `Patient/$everything`.
//!
//! A search walks the patients in the caller's reach (or the one patient asked for)
//! in id order, reads each record through the audited use cases, and keeps the
//! resources that match. Paging is by a cursor (`_page=<patient>.<skip>`), so a next
//! page never reads the records of earlier pages again. No total is given, and a
//! patient outside the caller's reach is never read: a search cannot tell whether
//! such a patient exists, or how many resources they have.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime};

use sammen_app::directory::Directory;
use sammen_app::messages::ThreadView;
use sammen_app::{Actor, AppError, CourseView, PatientView, Sammen};
use sammen_domain::cpr::Cpr;
use sammen_domain::ids::PatientId;
use sammen_domain::projection::CourseStatus;

use super::resources::{self as map, patient_id, split_id};
use super::{base_url, fhir_json, kind, params, resource_answer, Caller, FhirError, Kind, Params};
use super::{clinical, workflow};
use crate::AppState;

const DEFAULT_COUNT: usize = 20;
const MAX_COUNT: usize = 200;

/// A patient's record as the caller may see it.
pub struct Record {
    pub patient: PatientView,
    pub courses: Vec<CourseView>,
    /// The courses' message threads, when read (see [`record`]).
    pub threads: Vec<ThreadView>,
}

/// Whether mapping resources of this type (`*`: all) needs the message threads.
pub fn needs_threads(kind: &str) -> bool {
    matches!(kind, "Communication" | "*")
}

/// Read through `Sammen::read_record_with`: the policy for the patient and each course,
/// one audit entry for each (and for each course's threads, when `kind` needs them),
/// landing in one commit.
pub async fn record(s: &Sammen, actor: &Actor, patient: PatientId, kind: &str) -> Result<Record, FhirError> {
    let r = s.read_record_with(actor, patient, needs_threads(kind)).await?;
    Ok(Record { patient: r.patient, courses: r.courses, threads: r.threads })
}

/// What mapping needs besides the record: who the professionals are (to name who wrote
/// something) and the time (an unanswered handover past its day has expired).
pub struct Lookup {
    pub staff: Arc<Directory>,
    pub now: OffsetDateTime,
}

pub async fn lookup(s: &Sammen) -> Result<Lookup, FhirError> {
    Ok(Lookup { staff: s.shared_directory().await?, now: s.now() })
}

/// The patient of a record as a Patient resource.
pub fn patient_resource(record: &Record) -> Value {
    map::patient(&record.patient)
}

/// The resources of one type in a record, in a stable order.
pub fn resources_of(record: &Record, kind: &str, look: &Lookup) -> Vec<Value> {
    let mut out = Vec::new();
    if matches!(kind, "Patient" | "*") {
        out.push(patient_resource(record));
    }
    for c in &record.courses {
        out.extend(course_resources(c, kind, look));
    }
    if needs_threads(kind) {
        let p = record.patient.id;
        out.extend(record.threads.iter().flat_map(|t| workflow::communications(p, t, &look.staff)));
    }
    out
}

/// The resources of one type (`*`: all) that one course maps to.
pub fn course_resources(c: &CourseView, kind: &str, look: &Lookup) -> Vec<Value> {
    let mut out = Vec::new();
    if matches!(kind, "CarePlan" | "*") {
        out.push(map::care_plan(c));
    }
    if matches!(kind, "Goal" | "*") {
        out.extend(c.course.care.goals.iter().map(|g| map::goal(c, g, &look.staff)));
    }
    if matches!(kind, "Task" | "*") {
        out.extend(c.course.care.steps.iter().map(|st| map::task(c, st)));
    }
    out.extend(workflow::handovers(c, kind, look.now));
    if matches!(kind, "CareTeam" | "*") {
        out.push(map::care_team(c));
    }
    if matches!(kind, "Observation" | "*") {
        out.extend(c.course.care.measurements.iter().map(|m| map::observation(c, m, &look.staff)));
    }
    out.extend(clinical::course_clinical(c, kind, &look.staff));
    out
}

fn not_found() -> FhirError {
    FhirError::new(StatusCode::NOT_FOUND, "not-found", "No such resource, or it is not shared with you.")
}

pub async fn read(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path((kind_name, id)): Path<(String, String)>,
) -> Result<Response, FhirError> {
    let k = kind(&kind_name)?;
    if id == "_history" {
        return Err(FhirError::new(
            StatusCode::NOT_FOUND,
            "not-supported",
            format!("Sammen keeps history per resource, not per type: {}/<id>/_history.", k.name),
        ));
    }
    let s = &state.sammen;
    let found = match k.name {
        "Organization" | "Practitioner" | "PractitionerRole" => {
            directory(s, &actor, k.name).await?.into_iter().find(|r| r["id"] == id.as_str())
        }
        "Patient" => {
            // The patient alone: their courses are not part of the resource, so they
            // are neither read nor audited as read.
            let patient = patient_id(&id).ok_or_else(not_found)?;
            Some(map::patient(&s.patient_alone(&actor, patient).await?))
        }
        "AuditEvent" | "Consent" => {
            let (patient, _) = split_id(&id).ok_or_else(not_found)?;
            own_use_case(s, &actor, patient, k.name).await?.into_iter().find(|r| r["id"] == id.as_str())
        }
        _ => {
            let (patient, _) = split_id(&id).ok_or_else(not_found)?;
            let rec = record(s, &actor, patient, k.name).await?;
            let look = lookup(s).await?;
            resources_of(&rec, k.name, &look).into_iter().find(|r| r["id"] == id.as_str())
        }
    };
    let resource = found.ok_or_else(not_found)?;
    Ok(resource_answer(StatusCode::OK, &resource))
}

/// Organisations and professionals: reference data, no patient in it (a line for
/// professionals is left out of what a patient or proxy reads).
async fn directory(s: &Sammen, actor: &Actor, kind: &str) -> Result<Vec<Value>, FhirError> {
    let (orgs, staff) = s.listing().await?;
    Ok(match kind {
        "Organization" => orgs.iter().map(map::organization).collect(),
        "PractitionerRole" => map::practitioner_roles(&staff, &s.contact_directory(actor).await?),
        _ => staff.iter().map(map::practitioner).collect(),
    })
}

/// What a search asks.
struct Query {
    count: usize,
    /// Where this page starts: the index into the patients walked, and how many of
    /// that patient's matches the previous page took.
    cursor: (usize, usize),
    patient: Option<PatientId>,
    /// A Patient search by CPR number (only from a POSTed search; never in a link).
    cpr: Option<Cpr>,
    filters: Vec<(String, String)>,
    /// `_sort`: the key, and whether newest first.
    sort: Option<(String, bool)>,
    /// `_include` of the patient each match belongs to.
    include_patient: bool,
    /// The parameters to repeat in `self` and `next` links.
    kept: Params,
    /// Values that no resource can match at once (two CPR numbers).
    contradicts: bool,
}

fn parse_query(k: &Kind, params: Params, lenient: bool, posted: bool) -> Result<Query, FhirError> {
    let mut q = Query {
        count: DEFAULT_COUNT,
        cursor: (0, 0),
        patient: None,
        cpr: None,
        filters: Vec::new(),
        sort: None,
        include_patient: false,
        kept: Vec::new(),
        contradicts: false,
    };
    for (name, value) in params {
        let known = matches!(name.as_str(), "_id" | "_lastUpdated") || k.params.iter().any(|(p, _)| *p == name);
        if known && value.is_empty() {
            // FHIR: a parameter given without a value is ignored.
            continue;
        }
        let keep = match name.as_str() {
            "_count" => {
                let n: usize = value.parse().map_err(|_| FhirError::invalid("_count must be a whole number."))?;
                // 0 asks for no entries (FHIR: only a count, which Sammen never gives).
                q.count = n.min(MAX_COUNT);
                false
            }
            "_page" => {
                let (a, b) = value.split_once('.').unwrap_or((&value, "0"));
                q.cursor = (
                    a.parse().map_err(|_| FhirError::invalid("_page is not a page this server gave."))?,
                    b.parse().map_err(|_| FhirError::invalid("_page is not a page this server gave."))?,
                );
                false
            }
            "_format" => {
                json_format(&value)?;
                false
            }
            "patient" | "subject" if k.in_record && k.name != "Patient" => {
                let id = value.strip_prefix("Patient/").unwrap_or(&value);
                q.patient = Some(patient_id(id).ok_or_else(|| FhirError::invalid("patient must be Patient/<id>."))?);
                true
            }
            "_id" => {
                // A CPR number sent as an id matches nothing; the links Sammen writes
                // leave it out, as they leave out `identifier`.
                let cpr_shaped = Cpr::parse(&value).is_ok();
                q.filters.push((name.clone(), value.clone()));
                !cpr_shaped
            }
            "identifier" if k.name == "Patient" => {
                if !posted {
                    return Err(FhirError::new(
                        StatusCode::BAD_REQUEST,
                        "security",
                        "Search patients by CPR number with POST Patient/_search (a form body): \
                         a CPR number must never travel in an address.",
                    ));
                }
                let number = value.strip_prefix(&format!("{}|", map::CPR_SYSTEM)).unwrap_or(&value);
                let cpr = Cpr::parse(number).map_err(|_| FhirError::invalid("identifier is not a valid CPR number."))?;
                // Repeated, a parameter means all of its values (AND): two numbers, no one.
                if q.cpr.as_ref().is_some_and(|first| *first != cpr) {
                    q.contradicts = true;
                }
                q.cpr = Some(cpr);
                false
            }
            "_lastUpdated" if k.in_record => {
                instant_test(&value)?;
                q.filters.push((name.clone(), value.clone()));
                true
            }
            "_sort" if k.in_record => {
                let (key, newest_first) = value.strip_prefix('-').map(|v| (v, true)).unwrap_or((&value, false));
                if !matches!(key, "date" | "_lastUpdated") {
                    return Err(FhirError::new(
                        StatusCode::BAD_REQUEST,
                        "not-supported",
                        "Sammen sorts by date or _lastUpdated (- first for newest first).",
                    ));
                }
                q.sort = Some((key.to_string(), newest_first));
                true
            }
            "_include" if k.in_record && k.name != "Patient" => {
                let (of, what) = value.split_once(':').unwrap_or(("", ""));
                let what = what.split(':').next().unwrap_or("");
                if of != k.name || !matches!(what, "patient" | "subject" | "for") {
                    return Err(FhirError::new(
                        StatusCode::BAD_REQUEST,
                        "not-supported",
                        format!("Sammen includes the patient: _include={}:patient.", k.name),
                    ));
                }
                q.include_patient = true;
                true
            }
            n if k.params.iter().any(|(p, _)| *p == n) => {
                check_filter(n, &value)?;
                q.filters.push((name.clone(), value.clone()));
                true
            }
            _ if lenient => false,
            _ => {
                return Err(FhirError::new(
                    StatusCode::BAD_REQUEST,
                    "not-supported",
                    format!(
                        "Sammen does not support the search parameter '{}' on {}; send Prefer: handling=lenient to have it ignored.",
                        safe(&name),
                        k.name
                    ),
                ))
            }
        };
        if keep {
            q.kept.push((name, value));
        }
    }
    // Sorting across every patient in reach would read every record for each page.
    let one_patient = q.patient.is_some() || q.cpr.is_some() || k.name == "Patient";
    if q.sort.is_some() && !one_patient {
        return Err(FhirError::new(
            StatusCode::BAD_REQUEST,
            "too-costly",
            "_sort needs one patient: add patient=Patient/<id>.",
        ));
    }
    Ok(q)
}

/// `_lastUpdated=ge2026-01-01` or `_lastUpdated=gt2026-01-01T10:00:00Z`: a prefix and a
/// day (meaning its first instant, in UTC) or an instant.
fn instant_test(value: &str) -> Result<(String, OffsetDateTime), FhirError> {
    let (prefix, rest) = match value.get(..2) {
        Some(p @ ("eq" | "ne" | "gt" | "lt" | "ge" | "le")) => (p.to_string(), &value[2..]),
        _ => ("eq".to_string(), value),
    };
    let bad = || FhirError::invalid("_lastUpdated must be a day or an instant, with an optional prefix such as ge.");
    let at = if rest.len() == 10 {
        let fmt = time::macros::format_description!("[year]-[month]-[day]");
        Date::parse(rest, &fmt).map_err(|_| bad())?.midnight().assume_utc()
    } else {
        OffsetDateTime::parse(rest, &Rfc3339).map_err(|_| bad())?
    };
    Ok((prefix, at))
}

fn compare<T: PartialOrd>(prefix: &str, value: T, wanted: T) -> bool {
    match prefix {
        "ne" => value != wanted,
        "gt" => value > wanted,
        "lt" => value < wanted,
        "ge" => value >= wanted,
        "le" => value <= wanted,
        _ => value == wanted,
    }
}

/// The date a resource is sorted by: when it was measured, started or authored.
fn sort_key<'a>(r: &'a Value, key: &str) -> &'a str {
    let updated = r["meta"]["lastUpdated"].as_str().unwrap_or("");
    if key == "_lastUpdated" {
        return updated;
    }
    [
        &r["effectiveDateTime"],
        &r["period"]["start"],
        &r["authoredOn"],
        &r["startDate"],
        &r["sent"],
        &r["authored"],
        &r["onsetDateTime"],
    ]
    .into_iter()
    .find_map(|v| v.as_str())
    .unwrap_or(updated)
}

/// A parameter name as it may appear in an error: short, and only name characters.
/// A parameter's name as it may be quoted back in an error: the characters of a FHIR
/// name, at most 40, and never a run of digits long enough to be (part of) a CPR number
/// or other identifier that was sent in the name's place.
fn safe(name: &str) -> String {
    let kept: String =
        name.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ':' | '.')).take(40).collect();
    let longest_digits = kept.split(|c: char| !c.is_ascii_digit()).map(str::len).max().unwrap_or(0);
    if longest_digits > 4 {
        return "(a name with a long number in it)".into();
    }
    kept
}

fn check_filter(name: &str, value: &str) -> Result<(), FhirError> {
    if name == "date" {
        date_test(value)?;
    }
    Ok(())
}

/// `date=ge2026-01-01` and the like: a prefix and a day.
fn date_test(value: &str) -> Result<(String, Date), FhirError> {
    let (prefix, day) = match value.get(..2) {
        Some(p @ ("eq" | "ne" | "gt" | "lt" | "ge" | "le")) => (p.to_string(), &value[2..]),
        _ => ("eq".to_string(), value),
    };
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    let day = Date::parse(day, &fmt)
        .map_err(|_| FhirError::invalid("date must be a day, YYYY-MM-DD, with an optional prefix such as ge."))?;
    Ok((prefix, day))
}

fn matches(r: &Value, filters: &[(String, String)]) -> bool {
    filters.iter().all(|(name, value)| {
        let any = |f: &dyn Fn(&str) -> bool| value.split(',').any(f);
        match name.as_str() {
            "_id" => any(&|v| r["id"] == v),
            "status" => any(&|v| r["status"] == v),
            "lifecycle-status" => any(&|v| r["lifecycleStatus"] == v),
            "code" => any(&|v| {
                let (system, code) = v.split_once('|').unwrap_or(("", v));
                r["code"]["coding"].as_array().is_some_and(|cs| {
                    cs.iter().any(|c| c["code"] == code && (system.is_empty() || c["system"] == system))
                })
            }),
            "identifier" => any(&|v| {
                let (system, code) = v.split_once('|').unwrap_or(("", v));
                r["identifier"].as_array().is_some_and(|ids| {
                    ids.iter().any(|i| i["value"] == code && (system.is_empty() || i["system"] == system))
                })
            }),
            "date" => {
                let Ok((prefix, day)) = date_test(value) else { return false };
                let fmt = time::macros::format_description!("[year]-[month]-[day]");
                let when = ["effectiveDateTime", "onsetDateTime", "authored"]
                    .iter()
                    .find_map(|k| r[*k].as_str())
                    .or_else(|| r["period"]["start"].as_str())
                    .or_else(|| r["sent"].as_str().and_then(|t| t.get(..10)));
                let Some(on) = when.and_then(|d| Date::parse(d, &fmt).ok()) else { return false };
                compare(&prefix, on, day)
            }
            "_lastUpdated" => {
                let Ok((prefix, wanted)) = instant_test(value) else { return false };
                let updated = r["meta"]["lastUpdated"].as_str().and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok());
                updated.is_some_and(|at| compare(&prefix, at, wanted))
            }
            "category" => any(&|v| {
                let (system, code) = v.split_once('|').unwrap_or(("", v));
                r["category"].as_array().is_some_and(|cats| {
                    cats.iter()
                        .flat_map(|c| c["coding"].as_array().into_iter().flatten())
                        .any(|c| c["code"] == code && (system.is_empty() || c["system"] == system))
                })
            }),
            _ => true,
        }
    })
}

fn lenient(headers: &HeaderMap) -> bool {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(&[',', ';'][..]).any(|p| p.trim() == "handling=lenient"))
}

fn query_string(params: &Params) -> String {
    params.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect::<Vec<_>>().join("&")
}

fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Where a page of results sits, for its links: the parameters to repeat, the page
/// size, this page's cursor and the following page's, if any.
struct Paging<'a> {
    /// `None` when the search cannot be written as an address (see `search`): no links.
    kept: Option<&'a Params>,
    count: usize,
    cursor: (usize, usize),
    next: Option<(usize, usize)>,
}

/// A searchset Bundle: the matches, then what `_include` brought along.
fn bundle(base: &str, path: &str, paging: Paging<'_>, entries: Vec<Value>, included: Vec<Value>) -> Value {
    let Paging { kept, count, cursor, next } = paging;
    let link = |kept: &Params, c: (usize, usize)| {
        let mut p = kept.clone();
        p.push(("_count".into(), count.to_string()));
        if c != (0, 0) {
            p.push(("_page".into(), format!("{}.{}", c.0, c.1)));
        }
        format!("{base}/{path}?{}", query_string(&p))
    };
    let mut links = Vec::new();
    if let Some(kept) = kept {
        links.push(json!({ "relation": "self", "url": link(kept, cursor) }));
        if let Some(n) = next {
            links.push(json!({ "relation": "next", "url": link(kept, n) }));
        }
    }
    let entry = |r: Value, mode: &str| {
        let url = format!("{base}/{}/{}", r["resourceType"].as_str().unwrap_or(""), r["id"].as_str().unwrap_or(""));
        let mut e = json!({ "fullUrl": url, "search": { "mode": mode } });
        // Moved in: `json!` would copy the resource through serde.
        e["resource"] = r;
        e
    };
    let entry: Vec<Value> = entries
        .into_iter()
        .map(|r| entry(r, "match"))
        .chain(included.into_iter().map(|r| entry(r, "include")))
        .collect();
    let mut b = json!({
        "resourceType": "Bundle",
        "type": "searchset",
        "timestamp": map::instant(time::OffsetDateTime::now_utc()),
    });
    if !links.is_empty() {
        b["link"] = Value::from(links);
    }
    // FHIR JSON has no empty arrays: no matches, no `entry`.
    if !entry.is_empty() {
        b["entry"] = Value::from(entry);
    }
    b
}

pub async fn search_type(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(kind_name): Path<String>,
    headers: HeaderMap,
    raw: RawQuery,
) -> Result<Response, FhirError> {
    search(&state, &actor, &kind_name, params(raw)?, &headers, false).await
}

/// A search POSTed to `<type>/_search` with its parameters in a form body, as FHIR
/// allows: the way to search by a CPR number without putting it in an address.
pub async fn search_posted(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(kind_name): Path<String>,
    headers: HeaderMap,
    raw: RawQuery,
    body: Bytes,
) -> Result<Response, FhirError> {
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if ct.split(';').next().unwrap_or("").trim() != "application/x-www-form-urlencoded" {
        return Err(FhirError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "not-supported",
            "POST a search as application/x-www-form-urlencoded.",
        ));
    }
    let form = std::str::from_utf8(&body).map_err(|_| FhirError::invalid("The form is not UTF-8."))?;
    let mut all = params(raw)?;
    all.extend(params(RawQuery(Some(form.to_string())))?);
    search(&state, &actor, &kind_name, all, &headers, true).await
}

async fn search(
    state: &AppState,
    actor: &Actor,
    kind_name: &str,
    params: Params,
    headers: &HeaderMap,
    posted: bool,
) -> Result<Response, FhirError> {
    let k = kind(kind_name)?;
    let q = parse_query(k, params, lenient(headers), posted)?;
    let s = &state.sammen;
    let base = base_url(headers);
    if !k.in_record {
        let all: Vec<Value> =
            directory(s, actor, k.name).await?.into_iter().filter(|r| matches(r, &q.filters)).collect();
        let start = q.cursor.1.min(all.len());
        let end = (start + q.count).min(all.len());
        let next = (q.count > 0 && end < all.len()).then_some((0, end));
        let page = all[start..end].to_vec();
        let paging = Paging { kept: Some(&q.kept), count: q.count, cursor: q.cursor, next };
        let b = bundle(&base, k.name, paging, page, Vec::new());
        return Ok(fhir_json(StatusCode::OK, &b));
    }
    // Which patients to walk: the one asked for (or named by the id or CPR number), or
    // all in reach.
    let by_id = q.filters.iter().find(|(n, _)| n == "_id").map(|(_, v)| v.clone());
    let patients: Vec<PatientId> = match (q.patient, &q.cpr, by_id) {
        _ if q.contradicts => Vec::new(),
        (Some(p), _, _) => vec![p],
        (None, Some(cpr), _) => match s.find_patient_by_cpr(actor, cpr).await {
            Ok(p) => vec![p.id],
            // Not there and not shared look the same: an empty result.
            Err(AppError::NotFound(_) | AppError::Forbidden | AppError::Objected) => Vec::new(),
            Err(e) => return Err(e.into()),
        },
        (None, None, Some(id)) if !id.contains(',') => {
            let p = if k.name == "Patient" { patient_id(&id) } else { split_id(&id).map(|(p, _)| p) };
            p.into_iter().collect()
        }
        _ => s.patients_in_reach(actor).await?,
    };
    let (entries, included, next) =
        if q.count == 0 { (Vec::new(), Vec::new(), None) } else { walk(s, actor, &patients, k.name, &q).await? };
    // A CPR number never travels in an address, so a search by one cannot be linked to
    // as it was asked. Its links name the patient found, by id, which is the same search;
    // with no one found, there is no address that says "this number" and no link.
    let by_found_id;
    let kept = match (&q.cpr, patients.as_slice()) {
        (None, _) => Some(&q.kept),
        (Some(_), [found]) if !q.contradicts => {
            by_found_id = [q.kept.as_slice(), &[("_id".to_string(), found.to_string())]].concat();
            Some(&by_found_id)
        }
        (Some(_), _) => None,
    };
    let paging = Paging { kept, count: q.count, cursor: q.cursor, next };
    let b = bundle(&base, k.name, paging, entries, included);
    Ok(fhir_json(StatusCode::OK, &b))
}

/// The patient's access log as AuditEvents, read through the same use case as the
/// patient's own page (only the patient or their proxy may), and audited. Oldest first:
/// reading the log adds to it, so newest first would shift every later page by one.
async fn audit_events(s: &Sammen, actor: &Actor, patient: PatientId) -> Result<Vec<Value>, FhirError> {
    let log = s.access_log(actor, patient, 1000).await?;
    Ok(log.iter().rev().map(|e| map::audit_event(patient, e)).collect())
}

/// The patient's consents as Consents, read through the same use case as the sharing
/// page (what the care team and the patient see of who may see), and audited.
async fn consents(s: &Sammen, actor: &Actor, patient: PatientId) -> Result<Vec<Value>, FhirError> {
    let sharing = s.sharing(actor, patient).await?;
    Ok(sharing.consents.iter().map(|c| map::consent(patient, sharing.version, c)).collect())
}

/// Resources that are not in the record a professional reads, each read through its own
/// use case: the access log, the consents.
async fn own_use_case(s: &Sammen, actor: &Actor, patient: PatientId, kind: &str) -> Result<Vec<Value>, FhirError> {
    match kind {
        "AuditEvent" => audit_events(s, actor, patient).await,
        _ => consents(s, actor, patient).await,
    }
}

/// Reads records from the cursor on until a page is full.
async fn walk(
    s: &Sammen,
    actor: &Actor,
    patients: &[PatientId],
    kind: &str,
    q: &Query,
) -> Result<(Vec<Value>, Vec<Value>, Option<(usize, usize)>), FhirError> {
    let mut page = Vec::new();
    let mut included = Vec::new();
    let (mut i, mut skip) = q.cursor;
    // Who the professionals are and the time, once for the whole search.
    let look = lookup(s).await?;
    while i < patients.len() {
        let read = if matches!(kind, "AuditEvent" | "Consent") {
            own_use_case(s, actor, patients[i], kind).await.map(|found| (found, None))
        } else {
            match record(s, actor, patients[i], kind).await {
                Ok(rec) => Ok((resources_of(&rec, kind, &look), Some(rec))),
                Err(e) => Err(e),
            }
        };
        let (found, rec) = match read {
            Ok(r) => r,
            // Asked for by id or by patient, a record the caller may not read is an
            // empty result, the same as a record that does not exist.
            Err(e) if matches!(e.status, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND) => {
                i += 1;
                skip = 0;
                continue;
            }
            Err(e) => return Err(e),
        };
        let mut found: Vec<Value> = found.into_iter().filter(|r| matches(r, &q.filters)).collect();
        if let Some((key, newest_first)) = &q.sort {
            found.sort_by(|a, b| sort_key(a, key).cmp(sort_key(b, key)));
            if *newest_first {
                found.reverse();
            }
        }
        let room = q.count - page.len();
        let matched = found.len();
        let take: Vec<Value> = found.into_iter().skip(skip).take(room).collect();
        let taken = take.len();
        if let (true, true, Some(rec)) = (q.include_patient, taken > 0, &rec) {
            included.push(patient_resource(rec));
        }
        page.extend(take);
        if page.len() == q.count {
            let next = if skip + taken < matched { (i, skip + taken) } else { (i + 1, 0) };
            return Ok((page, included, (next.0 < patients.len()).then_some(next)));
        }
        i += 1;
        skip = 0;
    }
    Ok((page, included, None))
}

/// `_format`, which Sammen answers only in JSON (`json`, `application/fhir+json`, ...).
fn json_format(value: &str) -> Result<(), FhirError> {
    match value.contains("json") {
        true => Ok(()),
        false => Err(FhirError::new(
            StatusCode::NOT_ACCEPTABLE,
            "not-supported",
            "Sammen answers in JSON only: _format=json (application/fhir+json).",
        )),
    }
}

pub async fn everything(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    raw: RawQuery,
) -> Result<Response, FhirError> {
    let patient = patient_id(&id).ok_or_else(not_found)?;
    let mut count = DEFAULT_COUNT;
    let mut from = 0usize;
    for (name, value) in params(raw)? {
        match name.as_str() {
            "_count" => {
                count = value
                    .parse::<usize>()
                    .map_err(|_| FhirError::invalid("_count must be a whole number."))?
                    .clamp(1, MAX_COUNT)
            }
            "_page" => from = value.parse().map_err(|_| FhirError::invalid("_page is not a page this server gave."))?,
            "_format" => json_format(&value)?,
            _ if lenient(&headers) => {}
            _ => {
                return Err(FhirError::new(
                    StatusCode::BAD_REQUEST,
                    "not-supported",
                    "$everything takes only _count and _format here.",
                ))
            }
        }
    }
    let s = &state.sammen;
    let rec = record(s, &actor, patient, "*").await?;
    let mut all = resources_of(&rec, "*", &lookup(s).await?);
    // `_page` comes from the client: past the end is an empty last page, never a wrap.
    let end = from.saturating_add(count).min(all.len());
    let next = (end < all.len()).then_some((0, end));
    let page: Vec<Value> = all.drain(from.min(end)..end).collect();
    let base = base_url(&headers);
    let path = format!("Patient/{patient}/$everything");
    let none = Vec::new();
    let mut b = bundle(&base, &path, Paging { kept: Some(&none), count, cursor: (0, from), next }, page, Vec::new());
    // $everything pages by position alone.
    for l in b["link"].as_array_mut().into_iter().flatten() {
        if let Some(url) = l["url"].as_str() {
            l["url"] = json!(url.replace("_page=0.", "_page="));
        }
    }
    Ok(fhir_json(StatusCode::OK, &b))
}

/// A course still open, for a write that names no course.
pub fn open_courses(rec: &Record) -> Vec<&CourseView> {
    rec.courses.iter().filter(|c| c.course.status == CourseStatus::Open).collect()
}
