//! FHIR create, through the domain: a POSTed Observation of pain (LOINC 72514-3, 0-10)
//! and the patient's PSFS activities becomes the same `RecordProgress` change the JSON
//! API and the pages write, so what the domain forbids, FHIR cannot do.
//!
//! The resource is checked whole before anything is written: an element Sammen does
//! not map, a wrong type or a bad date is refused with an OperationOutcome naming the
//! element, and nothing is stored.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::Value;
use time::Date;

use sammen_domain::care::ActivityScore;
use sammen_domain::decide::CourseChange;
use sammen_domain::ids::{CourseId, PatientId};

use super::resources::{self as map, split_id, LOINC, PAIN_CODE};
use super::search::{open_courses, record};
use super::{base_url, fhir_json, kind, resource_body, Caller, FhirError};
use crate::AppState;

pub async fn create(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(kind_name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, FhirError> {
    let k = kind(&kind_name)?;
    if !k.create {
        return Err(FhirError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "not-supported",
            format!("Sammen does not create {} resources through FHIR; GET /fhir/metadata lists what it does.", k.name),
        ));
    }
    let v = resource_body(&headers, &body)?;
    let obs = observation_in(&v)?;
    let s = &state.sammen;
    let rec = record(s, &actor, obs.patient).await?;
    let course = match obs.course {
        Some(c) => rec.courses.iter().find(|v| v.course.id == c).ok_or_else(|| {
            FhirError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "business-rule",
                "basedOn names no course of this patient that you may write to.",
            )
        })?,
        None => match open_courses(&rec).as_slice() {
            [one] => *one,
            [] => {
                return Err(FhirError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "business-rule",
                    "The patient has no open course to record this on.",
                ))
            }
            _ => {
                return Err(FhirError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "business-rule",
                    "The patient has more than one open course: name one in basedOn (CarePlan/<id>).",
                ))
            }
        },
    };
    let before: Vec<_> = course.course.care.measurements.iter().map(|m| m.id).collect();
    let change = CourseChange::RecordProgress { on: obs.on, pain: obs.pain, activities: obs.activities };
    let (view, _) = s.change_course(&actor, obs.patient, course.course.id, course.course.version, &change).await?;
    let staff = s.listing().await?.1;
    let made = view.course.care.measurements.iter().find(|m| !before.contains(&m.id)).ok_or_else(|| {
        FhirError::new(StatusCode::INTERNAL_SERVER_ERROR, "exception", "The measurement was not recorded.")
    })?;
    let resource = map::observation(&view, made, &staff);
    let location = format!("{}/Observation/{}", base_url(&headers), resource["id"].as_str().unwrap_or(""));
    let mut res = fhir_json(StatusCode::CREATED, &resource);
    if let Ok(l) = location.parse() {
        res.headers_mut().insert(header::LOCATION, l);
    }
    Ok(res)
}

/// An Observation as Sammen records it.
struct ObservationIn {
    patient: PatientId,
    course: Option<CourseId>,
    on: Date,
    pain: Option<u8>,
    activities: Vec<ActivityScore>,
}

const OBSERVATION_ELEMENTS: &[&str] = &[
    "resourceType",
    "id",
    "meta",
    "text",
    "status",
    "category",
    "code",
    "subject",
    "basedOn",
    "effectiveDateTime",
    "valueInteger",
    "valueQuantity",
    "component",
    "performer",
];

fn observation_in(v: &Value) -> Result<ObservationIn, FhirError> {
    let o = v.as_object().ok_or_else(|| FhirError::invalid("The body must be one Observation."))?;
    if v["resourceType"] != "Observation" {
        return Err(FhirError::invalid("resourceType must be Observation at this address."));
    }
    if let Some(unknown) = o.keys().find(|k| !OBSERVATION_ELEMENTS.contains(&k.as_str())) {
        return Err(FhirError::invalid(format!(
            "Observation.{} is not an element Sammen records; leave it out.",
            unknown.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').take(40).collect::<String>()
        )));
    }
    match v["status"].as_str() {
        Some("final" | "amended" | "corrected" | "preliminary") => {}
        Some(_) => {
            return Err(FhirError::invalid("Observation.status must be final, amended, corrected or preliminary."))
        }
        None => return Err(FhirError::invalid("Observation.status is required.")),
    }
    let codings =
        v["code"]["coding"].as_array().ok_or_else(|| FhirError::invalid("Observation.code.coding is required."))?;
    let is_pain = codings.iter().any(|c| c["system"] == LOINC && c["code"] == PAIN_CODE);
    let is_psfs = codings.iter().any(|c| c["system"] == map::SAMMEN_SYSTEM && c["code"] == "psfs");
    if !is_pain && !is_psfs {
        return Err(FhirError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "code-invalid",
            "Sammen records pain (LOINC 72514-3) and the Patient-Specific Functional Scale; Observation.code is neither.",
        ));
    }
    let subject = v["subject"]["reference"]
        .as_str()
        .ok_or_else(|| FhirError::invalid("Observation.subject.reference is required."))?;
    let patient = subject
        .strip_prefix("Patient/")
        .and_then(|id| PatientId::parse(id).ok())
        .ok_or_else(|| FhirError::invalid("Observation.subject must be Patient/<id>."))?;
    let course = match v.get("basedOn") {
        None => None,
        Some(b) => {
            let refs = b
                .as_array()
                .filter(|a| a.len() == 1)
                .ok_or_else(|| FhirError::invalid("Observation.basedOn must name one CarePlan."))?;
            let id = refs[0]["reference"]
                .as_str()
                .and_then(|r| r.strip_prefix("CarePlan/"))
                .ok_or_else(|| FhirError::invalid("Observation.basedOn must be CarePlan/<id>."))?;
            let (p, c) =
                split_id(id).ok_or_else(|| FhirError::invalid("Observation.basedOn names no CarePlan of Sammen's."))?;
            if p != patient {
                return Err(FhirError::invalid("Observation.basedOn names another patient's CarePlan."));
            }
            Some(
                CourseId::parse(&c)
                    .map_err(|_| FhirError::invalid("Observation.basedOn names no CarePlan of Sammen's."))?,
            )
        }
    };
    let effective = v["effectiveDateTime"]
        .as_str()
        .ok_or_else(|| FhirError::invalid("Observation.effectiveDateTime is required (the day it was measured)."))?;
    let on = parse_day(effective)?;
    let score = |x: &Value, what: &str| -> Result<u8, FhirError> {
        x.as_u64()
            .filter(|n| *n <= 10)
            .map(|n| n as u8)
            .ok_or_else(|| FhirError::invalid(format!("{what} must be a whole number from 0 to 10.")))
    };
    let pain = match (v.get("valueInteger"), v.get("valueQuantity")) {
        (Some(_), Some(_)) => return Err(FhirError::invalid("Give the value once: valueInteger or valueQuantity.")),
        (Some(i), None) => Some(score(i, "Observation.valueInteger")?),
        (None, Some(q)) => Some(score(&q["value"], "Observation.valueQuantity.value")?),
        (None, None) => None,
    };
    if is_pain && pain.is_none() {
        return Err(FhirError::invalid("A pain observation needs its value: valueInteger from 0 to 10."));
    }
    if is_psfs && pain.is_some() {
        return Err(FhirError::invalid("A PSFS observation carries its scores in component, not in value."));
    }
    let mut activities = Vec::new();
    for c in v.get("component").map(|c| c.as_array().cloned().unwrap_or_default()).unwrap_or_default() {
        let activity = c["code"]["text"].as_str().map(str::trim).filter(|t| !t.is_empty());
        let activity =
            activity.ok_or_else(|| FhirError::invalid("Each Observation.component needs code.text: the activity."))?;
        activities.push(ActivityScore {
            activity: activity.to_string(),
            score: score(&c["valueInteger"], "Observation.component.valueInteger")?,
        });
    }
    Ok(ObservationIn { patient, course, on, pain, activities })
}

/// A FHIR date or dateTime; Sammen records the day.
fn parse_day(text: &str) -> Result<Date, FhirError> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    let bad = || FhirError::invalid("Observation.effectiveDateTime is not a valid FHIR dateTime.");
    if text.len() == 10 {
        return Date::parse(text, &fmt).map_err(|_| bad());
    }
    let t = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).map_err(|_| bad())?;
    Ok(t.date())
}
