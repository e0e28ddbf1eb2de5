//! FHIR create, through the domain: each resource Sammen takes becomes the same use
//! case the JSON API and the pages call, so what the domain forbids, FHIR cannot do.
//!
//! - Patient: registering a patient, by CPR number (DK Core) and name.
//! - CarePlan: opening a course (title, description as the reason, period.start).
//! - Goal: setting a goal on a course (description.text, category as the kind).
//! - Observation: pain (LOINC 72514-3, 0-10) and the patient's PSFS activities, as
//!   `RecordProgress`.
//! - Condition: a diagnosis, as an entry in the diagnoses category, worded as sent.
//! - QuestionnaireResponse: the same measurement, as answers to Sammen's progress
//!   questionnaire (the shape Sammen emits).
//! - Communication: a new thread about a course, or a reply in one (`inResponseTo`), in
//!   [`super::create_message`].
//! - ServiceRequest, EpisodeOfCare and Encounter: referrals and periods of care, in
//!   [`super::create_care`].
//!
//! The resource is checked whole before anything is written (see [`super::elements`]):
//! an element FHIR does not define, a wrong type or a bad date is refused with an
//! OperationOutcome naming the element, and nothing is stored. Elements FHIR defines
//! that Sammen does not map are left out of what is stored.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::Value;
use time::Date;

use sammen_app::records::CourseView;
use sammen_app::{Actor, AppError, Sammen};
use sammen_domain::care::{ActivityScore, GoalKind};
use sammen_domain::clock::danish_day;
use sammen_domain::cpr::Cpr;
use sammen_domain::decide::{CourseChange, OpenCourse};
use sammen_domain::event::EntryType;
use sammen_domain::ids::{CourseId, ItemId, PatientId};
use sammen_domain::vocab::DataCategory;

use super::resources::{self as map, patient_id, split_id, CPR_SYSTEM, LOINC, PAIN_CODE};
use super::search::{open_courses, Record};
use super::{base_url, elements, kind, needed, written, Caller, FhirError, Sent};
use super::{create_care, create_message};
use crate::AppState;

pub async fn create(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(kind_name): Path<String>,
    headers: HeaderMap,
    sent: Sent,
) -> Result<Response, FhirError> {
    let k = kind(&kind_name)?;
    if !k.create {
        return Err(FhirError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "not-supported",
            format!("Sammen does not create {} resources through FHIR; GET /fhir/metadata lists what it does.", k.name),
        ));
    }
    let (v, reply) = sent.resource(&headers)?;
    elements::check(&v, k.name)?;
    let s = &state.sammen;
    let resource = match k.name {
        "Patient" => create_patient(s, &actor, &v).await?,
        "CarePlan" => create_care_plan(s, &actor, &v).await?,
        "Goal" => create_goal(s, &actor, &v).await?,
        "Condition" => create_condition(s, &actor, &v).await?,
        "Communication" => create_message::create_communication(s, &actor, &v).await?,
        "ServiceRequest" => create_care::create_referral(s, &actor, &v).await?,
        "EpisodeOfCare" => create_care::create_episode_of_care(s, &actor, &v).await?,
        "Encounter" => create_care::create_encounter(s, &actor, &v).await?,
        "QuestionnaireResponse" => create_progress(s, &actor, questionnaire_response_in(&v)?, k.name).await?,
        _ => create_progress(s, &actor, observation_in(&v)?, k.name).await?,
    };
    let id = resource["id"].as_str().unwrap_or("");
    let location = format!("{}/{}/{id}", base_url(&headers), k.name);
    Ok(written(StatusCode::CREATED, resource, Some(&location), reply))
}

pub(super) fn business(text: impl Into<String>) -> FhirError {
    FhirError::new(StatusCode::UNPROCESSABLE_ENTITY, "business-rule", text)
}

/// `Patient/<id>` in `element.reference`.
pub(super) fn patient_of(v: &Value, element: &str) -> Result<PatientId, FhirError> {
    let reference = v[element]["reference"]
        .as_str()
        .ok_or_else(|| FhirError::invalid(format!("{element}.reference is required: Patient/<id>.")))?;
    reference
        .strip_prefix("Patient/")
        .and_then(patient_id)
        .ok_or_else(|| FhirError::invalid(format!("{element} must be Patient/<id>.")))
}

/// The course a new item belongs to: the one named, else the patient's only open one.
pub(super) fn course_for<'a>(
    rec: &'a Record,
    named: Option<CourseId>,
    how_to_name: &str,
) -> Result<&'a CourseView, FhirError> {
    match named {
        Some(c) => rec.courses.iter().find(|v| v.course.id == c).ok_or_else(not_writable),
        None => match open_courses(rec).as_slice() {
            [one] => Ok(*one),
            [] => Err(business("The patient has no open course to record this on.")),
            _ => Err(business(format!("The patient has more than one open course: name one in {how_to_name}."))),
        },
    }
}

/// The course named in Sammen's course extension, if the resource carries it.
pub(super) fn course_extension(v: &Value, patient: PatientId) -> Result<Option<CourseId>, FhirError> {
    v["extension"]
        .as_array()
        .and_then(|x| x.iter().find(|e| e["url"] == map::COURSE_EXTENSION))
        .map(|e| course_ref(e["valueReference"]["reference"].as_str(), patient, "the course extension"))
        .transpose()
}

/// A diagnosis, recorded on the course as an entry in the diagnoses category, worded as
/// sent (`code.text`, else the first coding's display). A Condition that is refuted or
/// entered in error is not a diagnosis to record.
async fn create_condition(s: &Sammen, actor: &Actor, v: &Value) -> Result<Value, FhirError> {
    let patient = patient_of(v, "subject")?;
    let verification = v["verificationStatus"]["coding"].as_array().into_iter().flatten();
    if verification.filter_map(|c| c["code"].as_str()).any(|c| matches!(c, "refuted" | "entered-in-error")) {
        return Err(business("Sammen records diagnoses that stand: this Condition is refuted or entered in error."));
    }
    let display = v["code"]["coding"].as_array().into_iter().flatten().find_map(|c| c["display"].as_str());
    let text = v["code"]["text"].as_str().or(display).map(str::trim).filter(|t| !t.is_empty());
    let text = text.ok_or_else(|| {
        business("Condition.code needs text (or a coding with a display): Sammen records the diagnosis as written.")
    })?;
    let on = match (v["onsetDateTime"].as_str(), v["recordedDate"].as_str()) {
        (Some(onset), _) => parse_day(onset, "Condition.onsetDateTime")?,
        (None, Some(recorded)) => parse_day(recorded, "Condition.recordedDate")?,
        (None, None) => danish_day(s.now()),
    };
    let named = course_extension(v, patient)?;
    let change = CourseChange::RecordEntry {
        entry_type: EntryType::Assessment,
        category: DataCategory::Diagnoses,
        title: "Diagnose".into(),
        text: text.to_string(),
        occurred_on: on,
    };
    let (new_items, view) = add_to_course(s, actor, patient, named, "the course extension", &change).await?;
    let made = view.course.entries.iter().find(|e| new_items.contains(&e.id)).ok_or_else(not_recorded)?;
    Ok(super::clinical::condition(&view, made))
}

/// A `CarePlan/<id>` reference of this patient's, as the course it names.
pub(super) fn course_ref(reference: Option<&str>, patient: PatientId, element: &str) -> Result<CourseId, FhirError> {
    let bad = || FhirError::invalid(format!("{element} must name one of Sammen's CarePlans: CarePlan/<id>."));
    let id = reference.and_then(|r| r.strip_prefix("CarePlan/")).ok_or_else(bad)?;
    let (p, c) = split_id(id).ok_or_else(bad)?;
    if p != patient {
        return Err(FhirError::invalid(format!("{element} names another patient's CarePlan.")));
    }
    CourseId::parse(&c).map_err(|_| bad())
}

async fn create_patient(s: &Sammen, actor: &Actor, v: &Value) -> Result<Value, FhirError> {
    let identifiers = v["identifier"].as_array().cloned().unwrap_or_default();
    let cpr =
        identifiers.iter().find(|i| i["system"] == CPR_SYSTEM).and_then(|i| i["value"].as_str()).ok_or_else(|| {
            business(format!(
                "Sammen registers a patient by CPR number: give an identifier with system {CPR_SYSTEM} (DK Core)."
            ))
        })?;
    // The number is never quoted back: it is an identifier of a person.
    let cpr = Cpr::parse(cpr).map_err(|_| FhirError::invalid("Patient.identifier: the CPR number is not valid."))?;
    if v.get("name").is_some_and(|n| !n.is_array()) {
        return Err(FhirError::invalid("Patient.name must be a list of names: [{\"text\": ...}]."));
    }
    let names = v["name"].as_array().cloned().unwrap_or_default();
    let chosen = names.iter().find(|n| n["use"] == "official").or_else(|| names.first());
    let name = chosen.map(name_text).unwrap_or_default();
    if name.is_empty() {
        return Err(FhirError::invalid("Patient.name is required: text, or given and family."));
    }
    if let Some(born) = v.get("birthDate") {
        let born = born.as_str().and_then(|b| parse_date(b).ok());
        if born.is_none() || born != cpr.birth_date() {
            return Err(FhirError::invalid("Patient.birthDate does not agree with the CPR number."));
        }
    }
    let view = s.register_patient(actor, cpr, &name).await?;
    Ok(map::patient(&view))
}

/// A HumanName as one line: its text, else given names then family.
fn name_text(n: &Value) -> String {
    if let Some(t) = n["text"].as_str().map(str::trim).filter(|t| !t.is_empty()) {
        return t.to_string();
    }
    let mut parts: Vec<&str> =
        n["given"].as_array().map(|g| g.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
    if let Some(f) = n["family"].as_str() {
        parts.push(f);
    }
    parts.join(" ").trim().to_string()
}

async fn create_care_plan(s: &Sammen, actor: &Actor, v: &Value) -> Result<Value, FhirError> {
    let patient = patient_of(v, "subject")?;
    match v["status"].as_str() {
        Some("active") => {}
        Some(_) => {
            return Err(business("Sammen opens a course as an active CarePlan: CarePlan.status must be active."))
        }
        None => return Err(needed(v, "CarePlan", "status")),
    }
    if !matches!(v["intent"].as_str(), Some("proposal" | "plan" | "order" | "option")) {
        return Err(FhirError::invalid("CarePlan.intent is required: proposal, plan, order or option."));
    }
    let reason = v["description"].as_str().unwrap_or("").trim();
    if reason.is_empty() {
        return Err(business("CarePlan.description is required: why the course is opened, in words."));
    }
    // A course needs a name; FHIR's title is optional, so without one the name is the
    // description's first line, cut at a word.
    let title = match v["title"].as_str().map(str::trim).filter(|t| !t.is_empty()) {
        Some(t) => t.to_string(),
        None => first_words(reason.lines().next().unwrap_or(reason), 80),
    };
    let started_on = match v["period"]["start"].as_str() {
        Some(d) => parse_day(d, "CarePlan.period.start")?,
        None => danish_day(s.now()),
    };
    let cmd = OpenCourse { title, reason: reason.to_string(), started_on };
    let view = s.open_course(actor, patient, &cmd).await?;
    Ok(map::care_plan(&view))
}

async fn create_goal(s: &Sammen, actor: &Actor, v: &Value) -> Result<Value, FhirError> {
    let patient = patient_of(v, "subject")?;
    // A goal a professional sets is proposed until the patient agrees to it; the
    // patient's own goal is agreed as it is set. Anything else would not be stored as sent.
    let patient_writes = actor.user.profession().is_none();
    match (v["lifecycleStatus"].as_str(), patient_writes) {
        (Some("proposed"), false) | (Some("active"), true) => {}
        (Some(_), false) => return Err(business(
            "A goal a professional sets is proposed until the patient agrees: Goal.lifecycleStatus must be proposed.",
        )),
        (Some(_), true) => {
            return Err(business("A goal the patient sets is their own: Goal.lifecycleStatus must be active."))
        }
        (None, _) => return Err(needed(v, "Goal", "lifecycleStatus")),
    }
    let text = v["description"]["text"].as_str().map(str::trim).filter(|t| !t.is_empty());
    let text = text.ok_or_else(|| business("Goal.description.text is required: the goal in words."))?;
    let goal_kind = match goal_kind(v)? {
        Some(k) => k,
        None if patient_writes => GoalKind::Personal,
        None => GoalKind::Clinical,
    };
    let named = course_extension(v, patient)?;
    let change = CourseChange::SetGoal { goal_kind, text: text.to_string() };
    let (new_items, view) = add_to_course(s, actor, patient, named, "the course extension", &change).await?;
    let staff = s.shared_directory().await?;
    let made = view.course.care.goals.iter().find(|g| new_items.contains(&g.id)).ok_or_else(not_recorded)?;
    Ok(map::goal(&view, made, &staff))
}

/// The kind of goal from `Goal.category` (Sammen's codes `goal-<kind>`), if given.
fn goal_kind(v: &Value) -> Result<Option<GoalKind>, FhirError> {
    let codes =
        v["category"].as_array().into_iter().flatten().flat_map(|c| c["coding"].as_array().into_iter().flatten());
    for coding in codes {
        if coding["system"] != map::SAMMEN_SYSTEM {
            continue;
        }
        let kind = coding["code"].as_str().and_then(|c| c.strip_prefix("goal-"));
        let kind = kind.and_then(|k| serde_json::from_value(Value::from(k)).ok());
        return kind.map(Some).ok_or_else(|| {
            FhirError::new(StatusCode::BAD_REQUEST, "code-invalid", "Goal.category has a code Sammen does not define.")
        });
    }
    Ok(None)
}

/// Adds to a course through the domain (see [`Sammen::add_to_course`]): the course
/// named, else the patient's only open one. Returns the items the change's events made
/// or touched, to find the new one by, and the course after it.
pub(super) async fn add_to_course(
    s: &Sammen,
    actor: &Actor,
    patient: PatientId,
    named: Option<CourseId>,
    how_to_name: &str,
    change: &CourseChange,
) -> Result<(Vec<ItemId>, CourseView), FhirError> {
    match s.add_to_course(actor, patient, named, change).await {
        Ok((view, events)) => Ok((events.iter().filter_map(|e| e.item).collect(), view)),
        Err(AppError::NotFound("course")) => Err(not_writable()),
        Err(AppError::CourseNotNamed { open: 0 }) => Err(business("The patient has no open course to record this on.")),
        Err(AppError::CourseNotNamed { .. }) => {
            Err(business(format!("The patient has more than one open course: name one in {how_to_name}.")))
        }
        Err(e) => Err(e.into()),
    }
}

fn not_writable() -> FhirError {
    business("The CarePlan named is not a course of this patient that you may write to.")
}

pub(super) fn not_recorded() -> FhirError {
    FhirError::new(StatusCode::INTERNAL_SERVER_ERROR, "exception", "The resource was not recorded.")
}

/// Records progress (an Observation or a QuestionnaireResponse: the same measurement)
/// and maps what was recorded back to the type that was sent.
async fn create_progress(s: &Sammen, actor: &Actor, obs: ObservationIn, kind: &str) -> Result<Value, FhirError> {
    let change = CourseChange::RecordProgress { on: obs.on, pain: obs.pain, activities: obs.activities };
    let (new_items, view) =
        add_to_course(s, actor, obs.patient, obs.course, "basedOn (CarePlan/<id>)", &change).await?;
    let staff = s.shared_directory().await?;
    let made = view.course.care.measurements.iter().find(|m| new_items.contains(&m.id)).ok_or_else(not_recorded)?;
    Ok(match kind {
        "QuestionnaireResponse" => super::clinical::questionnaire_response(&view, made, &staff),
        _ => map::observation(&view, made, &staff),
    })
}

/// A score from 0 to 10.
fn score(x: &Value, what: &str) -> Result<u8, FhirError> {
    x.as_u64()
        .filter(|n| *n <= 10)
        .map(|n| n as u8)
        .ok_or_else(|| FhirError::invalid(format!("{what} must be a whole number from 0 to 10.")))
}

/// The course a progress resource's `basedOn` names, if it names one.
pub(super) fn based_on_course(v: &Value, patient: PatientId, kind: &str) -> Result<Option<CourseId>, FhirError> {
    match v.get("basedOn") {
        None => Ok(None),
        Some(b) => {
            let one = b.as_array().filter(|a| a.len() == 1);
            let one = one.ok_or_else(|| FhirError::invalid(format!("{kind}.basedOn must name one CarePlan.")))?;
            Ok(Some(course_ref(one[0]["reference"].as_str(), patient, &format!("{kind}.basedOn"))?))
        }
    }
}

/// The patient's answers to Sammen's progress questionnaire (as Sammen emits them:
/// `pain`, and `psfs` with one item per activity), as the measurement they make.
fn questionnaire_response_in(v: &Value) -> Result<ObservationIn, FhirError> {
    match v["status"].as_str() {
        Some("completed" | "amended") => {}
        Some(_) => return Err(FhirError::invalid("QuestionnaireResponse.status must be completed or amended.")),
        None => return Err(needed(v, "QuestionnaireResponse", "status")),
    }
    if v["questionnaire"].as_str() != Some(super::clinical::PROGRESS_QUESTIONNAIRE) {
        return Err(FhirError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "not-supported",
            format!(
                "Sammen records answers to its progress questionnaire only: QuestionnaireResponse.questionnaire must be {}.",
                super::clinical::PROGRESS_QUESTIONNAIRE
            ),
        ));
    }
    let patient = patient_of(v, "subject")?;
    let course = based_on_course(v, patient, "QuestionnaireResponse")?;
    let authored = v["authored"]
        .as_str()
        .ok_or_else(|| FhirError::invalid("QuestionnaireResponse.authored is required (the day it was answered)."))?;
    let on = parse_day(authored, "QuestionnaireResponse.authored")?;
    let (mut pain, mut activities, mut psfs_seen) = (None, Vec::new(), false);
    let once = |link_id: &str| FhirError::invalid(format!("QuestionnaireResponse.item {link_id} may be given once."));
    for item in v["item"].as_array().into_iter().flatten() {
        // One answer each: of two, Sammen could not know which one the patient meant.
        if item["answer"].as_array().is_some_and(|a| a.len() > 1) {
            return Err(FhirError::invalid("Each item of the progress questionnaire takes one answer."));
        }
        match item["linkId"].as_str() {
            Some("pain") if pain.is_some() => return Err(once("pain")),
            Some("psfs") if psfs_seen => return Err(once("psfs")),
            Some("pain") => pain = Some(score(&item["answer"][0]["valueInteger"], "The answer to item pain")?),
            Some("psfs") => {
                psfs_seen = true;
                for a in item["item"].as_array().into_iter().flatten() {
                    let activity = a["text"].as_str().map(str::trim).filter(|t| !t.is_empty());
                    let activity = activity
                        .ok_or_else(|| FhirError::invalid("Each item under psfs needs its text: the activity."))?;
                    if a["answer"].as_array().is_some_and(|x| x.len() > 1) {
                        return Err(FhirError::invalid("Each item of the progress questionnaire takes one answer."));
                    }
                    let score = score(&a["answer"][0]["valueInteger"], "Each answer under psfs")?;
                    activities.push(ActivityScore { activity: activity.to_string(), score });
                }
            }
            _ => {
                return Err(FhirError::invalid(
                    "QuestionnaireResponse.item has a linkId the progress questionnaire does not have (pain, psfs).",
                ))
            }
        }
    }
    if pain.is_none() && activities.is_empty() {
        return Err(FhirError::invalid("QuestionnaireResponse.item has no answer: give pain, psfs or both."));
    }
    Ok(ObservationIn { patient, course, on, pain, activities })
}

/// An Observation as Sammen records it.
struct ObservationIn {
    patient: PatientId,
    course: Option<CourseId>,
    on: Date,
    pain: Option<u8>,
    activities: Vec<ActivityScore>,
}

fn observation_in(v: &Value) -> Result<ObservationIn, FhirError> {
    match v["status"].as_str() {
        Some("final" | "amended" | "corrected" | "preliminary") => {}
        Some(_) => {
            return Err(FhirError::invalid("Observation.status must be final, amended, corrected or preliminary."))
        }
        None => return Err(needed(v, "Observation", "status")),
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
    let patient = patient_of(v, "subject")?;
    let course = based_on_course(v, patient, "Observation")?;
    let effective = v["effectiveDateTime"]
        .as_str()
        .ok_or_else(|| FhirError::invalid("Observation.effectiveDateTime is required (the day it was measured)."))?;
    let on = parse_day(effective, "Observation.effectiveDateTime")?;
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

/// At most `max` characters of `text`, cut at a word.
fn first_words(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let cut: String = text.chars().take(max).collect();
    match cut.rfind(' ') {
        Some(i) if i > max / 2 => cut[..i].to_string(),
        _ => cut,
    }
}

/// A FHIR date or dateTime; Sammen records the day, a dateTime's day in Denmark.
pub(super) fn parse_day(text: &str, element: &str) -> Result<Date, FhirError> {
    let bad = || FhirError::invalid(format!("{element} is not a valid FHIR date or dateTime."));
    let day = if text.len() == 10 {
        parse_date(text).map_err(|_| bad())?
    } else {
        danish_day(
            time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).map_err(|_| bad())?,
        )
    };
    // FHIR's years run from 0001.
    if day.year() < 1 {
        return Err(bad());
    }
    Ok(day)
}

fn parse_date(text: &str) -> Result<Date, time::error::Parse> {
    Date::parse(text, &time::macros::format_description!("[year]-[month]-[day]"))
}
