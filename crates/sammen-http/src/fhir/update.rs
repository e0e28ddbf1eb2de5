//! FHIR update (`PUT <type>/<id>`) of what an outside system changes: a step's status
//! and a handover's answer (Task), a goal's status (Goal), each as the course change
//! the JSON API and the pages make, and a patient's name (Patient), as the identity
//! correction.
//!
//! An update must name the version it was made from in `If-Match` (a patient's own
//! version; for course resources the course's version, which is each one's
//! `meta.versionId`); without it the update is refused (428), and if the patient or the
//! course has changed since, it is refused as stale (412): never a silent overwrite. In a
//! transaction, the changes of its own earlier entries do not count as changed since
//! (see `Sammen::check_version`).
//! Only the status (or the patient's name) may change: a PUT that changes another
//! element Sammen maps is refused, not half-applied.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::Value;

use sammen_app::{Actor, AppError, Sammen};
use sammen_domain::care::{GoalStatus, StepStatus};
use sammen_domain::decide::CourseChange;
use sammen_domain::ids::ItemId;
use sammen_domain::DomainError;

use super::resources::{self as map, patient_id, split_id};
use super::search::{course_resources, lookup, record};
use super::{elements, kind, needed, written, Caller, FhirError, ReplyTo, Sent};
use crate::AppState;

pub async fn update(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path((kind_name, id)): Path<(String, String)>,
    headers: HeaderMap,
    sent: Sent,
) -> Result<Response, FhirError> {
    let k = kind(&kind_name)?;
    if !super::UPDATED.contains(&k.name) {
        return Err(FhirError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "not-supported",
            format!("Sammen does not update {} resources through FHIR; GET /fhir/metadata lists what it does.", k.name),
        ));
    }
    let expected = if_match(&headers)?;
    let (v, reply) = sent.resource(&headers)?;
    elements::check(&v, k.name)?;
    if v["id"].as_str() != Some(id.as_str()) {
        return Err(FhirError::invalid(format!("{}.id must be the id in the address.", k.name)));
    }
    let s = &state.sammen;
    if k.name == "Patient" {
        return update_patient(s, &actor, &id, expected, &v, reply).await;
    }
    let (patient, item_hex) = split_id(&id).ok_or_else(not_found)?;
    let item = ItemId::parse(&item_hex).map_err(|_| not_found())?;
    let rec = record(s, &actor, patient, k.name).await?;
    let look = lookup(s).await?;
    let (course, current) = rec
        .courses
        .iter()
        .find_map(|c| {
            let found = course_resources(c, k.name, &look).into_iter().find(|r| r["id"] == id.as_str());
            found.map(|r| (c.course.id, r))
        })
        .ok_or_else(not_found)?;
    let change = match k.name {
        "Task" if is_handover(&current) => handover_change(&current, &v, item)?,
        "Task" => task_change(&current, &v, item)?,
        _ => goal_change(&current, &v, item)?,
    };
    let Some(change) = change else {
        // Nothing changed: the resource as it is, if the client's version is current.
        if current["meta"]["versionId"].as_str() != Some(expected.to_string().as_str()) {
            return Err(stale());
        }
        return Ok(written(StatusCode::OK, current, None, reply));
    };
    let view = match s.change_course(&actor, patient, course, expected, &change).await {
        Ok((view, _)) => view,
        Err(AppError::Domain(DomainError::Conflict { .. })) => return Err(stale()),
        Err(e) => return Err(e.into()),
    };
    let updated = course_resources(&view, k.name, &look).into_iter().find(|r| r["id"] == id.as_str());
    let updated = updated.ok_or_else(not_found)?;
    Ok(written(StatusCode::OK, updated, None, reply))
}

fn not_found() -> FhirError {
    FhirError::new(StatusCode::NOT_FOUND, "not-found", "No such resource, or it is not shared with you.")
}

/// A correction of the patient's name, the same change the patient page's identity
/// correction makes (and under the same rule: who may correct it). The CPR number, and
/// the birth date that comes from it, cannot change through FHIR.
async fn update_patient(
    s: &Sammen,
    actor: &Actor,
    id: &str,
    expected: u64,
    sent: &Value,
    reply: ReplyTo,
) -> Result<Response, FhirError> {
    let patient = patient_id(id).ok_or_else(not_found)?;
    let before = s.patient(actor, patient).await?;
    let current = map::patient(&before);
    unchanged(&current, sent, &["identifier", "birthDate"], "Patient.name")?;
    let name = new_name(&current, sent)?;
    if name == before.name {
        if before.version != expected {
            return Err(stale());
        }
        return Ok(written(StatusCode::OK, current, None, reply));
    }
    let view = match s.correct_identity(actor, patient, expected, &name, "Rettet gennem FHIR").await {
        Ok(view) => view,
        Err(AppError::Domain(DomainError::Conflict { .. })) => return Err(stale()),
        Err(e) => return Err(e.into()),
    };
    let after = map::patient(&view);
    Ok(written(StatusCode::OK, after, None, reply))
}

/// The name a Patient update asks for: its text, or its given and family names when
/// those are what changed (FHIR clients edit either).
fn new_name(current: &Value, sent: &Value) -> Result<String, FhirError> {
    let n = &sent["name"][0];
    let text = n["text"].as_str().map(str::trim).unwrap_or("");
    let given = n["given"].as_array().into_iter().flatten().filter_map(Value::as_str);
    let composed: Vec<&str> = given.chain(n["family"].as_str()).map(str::trim).filter(|p| !p.is_empty()).collect();
    let composed = composed.join(" ");
    let text_changed = !text.is_empty() && current["name"][0]["text"].as_str() != Some(text);
    let name = if text_changed || composed.is_empty() { text.to_string() } else { composed };
    if name.is_empty() {
        return Err(FhirError::invalid("Patient.name needs a text, or a family and given names."));
    }
    Ok(name)
}

fn stale() -> FhirError {
    FhirError::new(
        StatusCode::PRECONDITION_FAILED,
        "conflict",
        "The resource has changed since the version in If-Match; read it again and make the change on that.",
    )
}

/// The version in `If-Match: W/"<n>"` (or `"<n>"`).
fn if_match(headers: &HeaderMap) -> Result<u64, FhirError> {
    let raw = headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok()).ok_or_else(|| {
        FhirError::new(
            StatusCode::PRECONDITION_REQUIRED,
            "business-rule",
            "An update must say which version it changes: send If-Match: W/\"<meta.versionId>\".",
        )
    })?;
    let tag = raw.trim().trim_start_matches("W/").trim_matches('"');
    tag.parse().map_err(|_| FhirError::invalid("If-Match must be W/\"<meta.versionId>\" of the resource."))
}

/// The elements Sammen maps besides the status, which an update must leave as they are.
fn unchanged(current: &Value, sent: &Value, elements: &[&str], what: &str) -> Result<(), FhirError> {
    for e in elements {
        if current[*e] != sent[*e] {
            return Err(FhirError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "business-rule",
                format!("Through FHIR, Sammen changes only {what}; {e} differs from the stored resource."),
            ));
        }
    }
    Ok(())
}

fn task_change(current: &Value, sent: &Value, step: ItemId) -> Result<Option<CourseChange>, FhirError> {
    unchanged(current, sent, &["description", "owner", "for", "basedOn", "restriction"], "Task.status")?;
    let did_not_help = sent["statusReason"]["text"].as_str() == Some("Did not help");
    let status = match (sent["status"].as_str(), did_not_help) {
        (Some("requested"), _) => StepStatus::Planned,
        (Some("accepted"), _) => StepStatus::Booked,
        (Some("in-progress"), _) => StepStatus::InProgress,
        (Some("completed"), false) => StepStatus::Done,
        (Some("completed"), true) => StepStatus::DidNotHelp,
        (Some("cancelled"), _) => StepStatus::Cancelled,
        (Some(_), _) => {
            return Err(FhirError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "business-rule",
                "A step's Task.status is requested, accepted, in-progress, completed or cancelled.",
            ))
        }
        (None, _) => return Err(needed(sent, "Task", "status")),
    };
    if sent["status"] == current["status"] && sent["statusReason"] == current["statusReason"] {
        return Ok(None);
    }
    let note = sent["note"][0]["text"].as_str().unwrap_or("").to_string();
    Ok(Some(CourseChange::ChangeStepStatus { step, status, note }))
}

/// A handover's Task carries a handover code (see [`super::workflow::handover_code`]).
fn is_handover(task: &Value) -> bool {
    task["code"]["coding"][0]["code"].as_str().is_some_and(|c| c.starts_with("handover-"))
}

/// The receiver answers a handover (accepted, or rejected with the reason in
/// `statusReason`), or the sender withdraws it (cancelled); the domain decides who may.
fn handover_change(current: &Value, sent: &Value, handover: ItemId) -> Result<Option<CourseChange>, FhirError> {
    unchanged(
        current,
        sent,
        &["description", "owner", "requester", "for", "basedOn", "focus", "restriction"],
        "Task.status",
    )?;
    let reason = sent["statusReason"]["text"].as_str().unwrap_or("").to_string();
    if sent["status"] == current["status"] {
        return Ok(None);
    }
    match sent["status"].as_str() {
        Some("accepted") => Ok(Some(CourseChange::AcceptHandover { handover })),
        Some("rejected") if reason.trim().is_empty() => Err(FhirError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "business-rule",
            "Declining a handover needs the reason, in Task.statusReason.text.",
        )),
        Some("rejected") => Ok(Some(CourseChange::DeclineHandover { handover, reason })),
        Some("cancelled") => Ok(Some(CourseChange::WithdrawHandover { handover, reason })),
        Some(_) => Err(FhirError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "business-rule",
            "A handover's Task.status changes to accepted, rejected (with statusReason) or cancelled.",
        )),
        None => Err(needed(sent, "Task", "status")),
    }
}

fn goal_change(current: &Value, sent: &Value, goal: ItemId) -> Result<Option<CourseChange>, FhirError> {
    unchanged(current, sent, &["description", "subject", "category"], "Goal.lifecycleStatus")?;
    if sent["lifecycleStatus"] == current["lifecycleStatus"] {
        return Ok(None);
    }
    Ok(Some(match (current["lifecycleStatus"].as_str(), sent["lifecycleStatus"].as_str()) {
        (Some("proposed"), Some("active" | "accepted")) => CourseChange::AgreeGoal { goal },
        (_, Some("completed")) => CourseChange::ChangeGoalStatus { goal, status: GoalStatus::Achieved },
        (_, Some("cancelled")) => CourseChange::ChangeGoalStatus { goal, status: GoalStatus::Dropped },
        (_, Some("active")) => CourseChange::ChangeGoalStatus { goal, status: GoalStatus::Agreed },
        (_, None) => return Err(needed(sent, "Goal", "lifecycleStatus")),
        _ => {
            return Err(FhirError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "business-rule",
                "A goal becomes active (agreed), completed or cancelled.",
            ))
        }
    }))
}
