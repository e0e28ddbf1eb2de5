//! vread (`<type>/<id>/_history/<version>`) and instance history (`<type>/<id>/_history`)
//! of the Patient and of what a course maps to (CarePlan, CareTeam, Goal, Task,
//! Observation, ServiceRequest, Condition, EpisodeOfCare, Encounter,
//! QuestionnaireResponse).
//!
//! Sammen keeps every change as an event, so a course's every version can be folded
//! again (`Sammen::course_versions`), each shown as the reader may see it today. A
//! course item's version is its course's; its history lists the versions in which the
//! item itself changed.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};

use sammen_domain::ids::{CourseId, PatientId};

use super::resources::{patient_id, split_id};
use super::search::{course_resources, lookup};
use super::{base_url, fhir_json, kind, resource_answer, Caller, FhirError};
use crate::AppState;

/// The types with a history here.
pub const VERSIONED: &[&str] = &[
    "Patient",
    "CarePlan",
    "CareTeam",
    "Goal",
    "Task",
    "Observation",
    "ServiceRequest",
    "Condition",
    "EpisodeOfCare",
    "Encounter",
    "QuestionnaireResponse",
];

fn not_found() -> FhirError {
    FhirError::new(StatusCode::NOT_FOUND, "not-found", "No such resource or version, or it is not shared with you.")
}

/// Each version in which the resource existed and changed, oldest first.
async fn versions(
    state: &AppState,
    actor: &sammen_app::Actor,
    kind_name: &str,
    id: &str,
) -> Result<Versions, FhirError> {
    let k = kind(kind_name)?;
    if !VERSIONED.contains(&k.name) {
        return Err(FhirError::new(
            StatusCode::NOT_FOUND,
            "not-supported",
            format!("Sammen keeps no FHIR history of {} resources; read the current one.", k.name),
        ));
    }
    let s = &state.sammen;
    if k.name == "Patient" {
        return patient_versions(s, actor, id).await;
    }
    let (patient, _) = split_id(id).ok_or_else(not_found)?;
    let course = course_of(s, actor, patient, k.name, id).await?;
    let look = lookup(s).await?;
    let mut out: Vec<Value> = Vec::new();
    let mut current = 0;
    for view in s.course_versions(actor, patient, course).await? {
        current = view.course.version;
        let Some(r) = course_resources(&view, k.name, &look).into_iter().find(|r| r["id"] == id) else { continue };
        // A course item's version moves with its course; list it when the item changed.
        let same = out.last().is_some_and(|prev| without_version(prev) == without_version(&r));
        if !same {
            out.push(r);
        }
    }
    if out.is_empty() {
        return Err(not_found());
    }
    Ok(Versions { changed: out, current, metas: Vec::new() })
}

/// A resource's versions: those in which it changed, oldest first, and the version it
/// stands at now (its course's or patient's, which moves without it changing).
struct Versions {
    changed: Vec<Value>,
    current: u64,
    /// For a Patient, whose version and `lastUpdated` are the patient's own: the `meta`
    /// of every version, also those in which what FHIR shows did not change.
    metas: Vec<Value>,
}

/// The versions of a Patient in which what FHIR shows of them (the name) changed. Each
/// carries the patient's version and when it was made.
async fn patient_versions(s: &sammen_app::Sammen, actor: &sammen_app::Actor, id: &str) -> Result<Versions, FhirError> {
    let patient = patient_id(id).ok_or_else(not_found)?;
    let mut out: Vec<Value> = Vec::new();
    let (mut current, mut metas) = (0, Vec::new());
    for view in s.patient_versions(actor, patient).await? {
        current = view.version;
        let r = super::resources::patient(&view);
        metas.push(r["meta"].clone());
        if out.last().is_none_or(|prev| prev["name"] != r["name"]) {
            out.push(r);
        }
    }
    Ok(Versions { changed: out, current, metas })
}

/// The course a resource id names: its own (CarePlan, CareTeam) or the one holding the item.
async fn course_of(
    s: &sammen_app::Sammen,
    actor: &sammen_app::Actor,
    patient: PatientId,
    kind: &str,
    id: &str,
) -> Result<CourseId, FhirError> {
    if matches!(kind, "CarePlan" | "CareTeam") {
        let (_, part) = split_id(id).ok_or_else(not_found)?;
        return CourseId::parse(&part).map_err(|_| not_found());
    }
    let (_, courses) = s.read_record(actor, patient).await?;
    let look = lookup(s).await?;
    let holds = |c: &&sammen_app::CourseView| course_resources(c, kind, &look).iter().any(|r| r["id"] == id);
    courses.iter().find(holds).map(|c| c.course.id).ok_or_else(not_found)
}

fn without_version(r: &Value) -> Value {
    let mut r = r.clone();
    if let Some(m) = r["meta"].as_object_mut() {
        m.remove("versionId");
    }
    r
}

pub async fn vread(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path((kind_name, id, version)): Path<(String, String, String)>,
) -> Result<Response, FhirError> {
    let all = versions(&state, &actor, &kind_name, &id).await?;
    // A version not made yet does not exist.
    let wanted: u64 = version.parse().ok().filter(|v| *v <= all.current).ok_or_else(not_found)?;
    // The item as it stood at that version of its course: its last change at or before it.
    let found = all
        .changed
        .iter()
        .rev()
        .find(|r| r["meta"]["versionId"].as_str().and_then(|v| v.parse::<u64>().ok()).is_some_and(|v| v <= wanted));
    let mut r = found.cloned().ok_or_else(not_found)?;
    let version = wanted.to_string();
    r["meta"]["versionId"] = json!(version);
    // A patient's version is a moment of their own: when it was made, as a read of it said.
    if let Some(meta) = all.metas.iter().find(|m| m["versionId"] == version.as_str()) {
        r["meta"] = meta.clone();
    }
    Ok(resource_answer(StatusCode::OK, &r))
}

pub async fn history(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path((kind_name, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, FhirError> {
    let all = versions(&state, &actor, &kind_name, &id).await?.changed;
    let base = base_url(&headers);
    let first = all.first().and_then(|r| r["meta"]["versionId"].as_str()).map(str::to_string);
    let entries: Vec<Value> = all
        .into_iter()
        .rev()
        .map(|r| {
            let t = r["resourceType"].as_str().unwrap_or("").to_string();
            let v = r["meta"]["versionId"].as_str().unwrap_or("").to_string();
            let created = first.as_deref() == Some(v.as_str());
            let mut response = json!({ "status": if created { "201 Created" } else { "200 OK" }, "etag": format!("W/\"{v}\"") });
            if let Some(at) = r["meta"]["lastUpdated"].as_str() {
                response["lastModified"] = json!(at);
            }
            let mut e = json!({
                "fullUrl": format!("{base}/{t}/{id}"),
                "request": { "method": if created { "POST" } else { "PUT" }, "url": if created { t.clone() } else { format!("{t}/{id}") } },
            });
            // Moved in: `json!` would copy them through serde.
            e["response"] = response;
            e["resource"] = r;
            e
        })
        .collect();
    let self_link = format!("{base}/{kind_name}/{id}/_history");
    let mut b =
        json!({ "resourceType": "Bundle", "type": "history", "link": [{ "relation": "self", "url": self_link }] });
    b["entry"] = Value::from(entries);
    Ok(fhir_json(StatusCode::OK, &b))
}
