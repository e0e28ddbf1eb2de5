//! FHIR update (`PUT <type>/<id>`) of what an outside system changes on a course: a
//! step's status (Task) and a goal's status (Goal), each as the course change the
//! JSON API and the pages make.
//!
//! An update must name the version it was made from in `If-Match` (the course's
//! version, which is every course resource's `meta.versionId`); without it the update is
//! refused (428), and if the course has changed since, it is refused as stale (412):
//! never a silent overwrite. Only the status may change: a PUT that changes another
//! element Sammen maps is refused, not half-applied.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::Value;

use sammen_app::AppError;
use sammen_domain::care::{GoalStatus, StepStatus};
use sammen_domain::decide::CourseChange;
use sammen_domain::ids::ItemId;
use sammen_domain::DomainError;

use super::resources::split_id;
use super::search::{course_resources, lookup, record};
use super::{elements, fhir_json, kind, resource_body, Caller, FhirError};
use crate::AppState;

pub async fn update(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path((kind_name, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
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
    let v = resource_body(&headers, &body)?;
    elements::check(&v, k.name)?;
    if v["id"].as_str() != Some(id.as_str()) {
        return Err(FhirError::invalid(format!("{}.id must be the id in the address.", k.name)));
    }
    let not_found =
        || FhirError::new(StatusCode::NOT_FOUND, "not-found", "No such resource, or it is not shared with you.");
    let (patient, item_hex) = split_id(&id).ok_or_else(not_found)?;
    let item = ItemId::parse(&item_hex).map_err(|_| not_found())?;
    let s = &state.sammen;
    let rec = record(s, &actor, patient, k.name).await?;
    let look = lookup(s, k.name).await?;
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
        return Ok(with_etag(fhir_json(StatusCode::OK, &current), &current));
    };
    let view = match s.change_course(&actor, patient, course, expected, &change).await {
        Ok((view, _)) => view,
        Err(AppError::Domain(DomainError::Conflict { .. })) => return Err(stale()),
        Err(e) => return Err(e.into()),
    };
    let updated = course_resources(&view, k.name, &look).into_iter().find(|r| r["id"] == id.as_str());
    let updated = updated.ok_or_else(not_found)?;
    Ok(with_etag(fhir_json(StatusCode::OK, &updated), &updated))
}

fn stale() -> FhirError {
    FhirError::new(
        StatusCode::PRECONDITION_FAILED,
        "conflict",
        "The resource has changed since the version in If-Match; read it again and make the change on that.",
    )
}

fn with_etag(mut res: Response, r: &Value) -> Response {
    if let Some(Ok(etag)) = r["meta"]["versionId"].as_str().map(|v| format!("W/\"{v}\"").parse()) {
        res.headers_mut().insert(header::ETAG, etag);
    }
    res
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
        (None, _) => return Err(FhirError::invalid("Task.status is required.")),
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
        None => Err(FhirError::invalid("Task.status is required.")),
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
        (_, None) => return Err(FhirError::invalid("Goal.lifecycleStatus is required.")),
        _ => {
            return Err(FhirError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "business-rule",
                "A goal becomes active (agreed), completed or cancelled.",
            ))
        }
    }))
}
