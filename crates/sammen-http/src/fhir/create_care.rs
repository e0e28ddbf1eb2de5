//! FHIR create of what moves a course along between sectors, through the domain like
//! every other create (see [`super::create`]):
//!
//! - ServiceRequest: a referral, as a proposed handover with what the receiver needs
//!   (question, findings, what was tried, red flags checked, and the patient's plain
//!   words). It hands over the step named in `supportingInfo` (a `Task/<id>`, as Sammen
//!   emits it), else the responsibility for the course.
//! - EpisodeOfCare: a hospital stay, outpatient care or sick leave, by Sammen's episode
//!   type; `active` records its start, `finished` its start and end.
//! - Encounter: a hospital stay (class IMP), its leaves from the ward
//!   (`statusHistory` on leave) and, when finished, the discharge.
//!
//! A finished period is two or more episodes on the course: they are recorded in one unit
//! of work, so either all land or none.

use serde_json::Value;
use time::Date;

use sammen_app::records::CourseView;
use sammen_app::{Actor, Sammen};
use sammen_domain::care::{EpisodeKind, HandoverSubject, Owner, Referral};
use sammen_domain::decide::CourseChange;
use sammen_domain::ids::{ItemId, OrgId, PatientId, UserId};

use super::clinical::{self, Period};
use super::create::{add_to_course, based_on_course, business, course_extension, not_recorded, parse_day, patient_of};
use super::resources::{self as map, split_id};
use super::{needed, FhirError};

/// A referral: a handover proposed by the caller, with its referral.
pub async fn create_referral(s: &Sammen, actor: &Actor, v: &Value) -> Result<Value, FhirError> {
    let patient = patient_of(v, "subject")?;
    match v["status"].as_str() {
        Some("active") => {}
        Some(_) => {
            return Err(business("Sammen sends a referral as it is made: ServiceRequest.status must be active."))
        }
        None => return Err(needed(v, "ServiceRequest", "status")),
    }
    match v["intent"].as_str() {
        Some("order") => {}
        Some(_) => return Err(business("Sammen takes a referral as an order: ServiceRequest.intent must be order.")),
        None => return Err(needed(v, "ServiceRequest", "intent")),
    }
    if v["doNotPerform"] == Value::Bool(true) {
        return Err(business("A referral asks for something to be done: doNotPerform cannot be true."));
    }
    let reason = v["code"]["text"].as_str().map(str::trim).filter(|t| !t.is_empty());
    let reason = reason.ok_or_else(|| business("ServiceRequest.code.text is required: why you refer, in words."))?;
    let course = based_on_course(v, patient, "ServiceRequest")?;
    let to = performer(s, v).await?;
    if let Some(requester) = v.get("requester") {
        let me = format!("Practitioner/{}", actor.user.id);
        if requester["reference"].as_str() != Some(me.as_str()) {
            return Err(business("ServiceRequest.requester is the one who refers: leave it out, or name yourself."));
        }
    }
    let referral = referral_in(v)?;
    let step = handed_over_step(v, patient)?;
    let subject = step.map_or(HandoverSubject::Course, |step| HandoverSubject::Step { step });
    let change = CourseChange::ProposeHandover {
        subject,
        to,
        reason: reason.to_string(),
        respond_by: None,
        referral: Some(referral),
    };
    let (new_items, view) = add_to_course(s, actor, patient, course, "basedOn (CarePlan/<id>)", &change).await?;
    let made = view.course.care.handovers.iter().find(|h| new_items.contains(&h.id)).ok_or_else(not_recorded)?;
    let referral = made.referral.as_ref().ok_or_else(not_recorded)?;
    Ok(super::workflow::service_request(&view, made, referral, s.now()))
}

/// Whom the referral is to: one performer, a professional or a role at an organisation.
async fn performer(s: &Sammen, v: &Value) -> Result<Owner, FhirError> {
    match v["performer"].as_array().map(Vec::as_slice) {
        Some([one]) => owner_named(s, one, "ServiceRequest.performer").await,
        _ => Err(business("ServiceRequest.performer must name one receiver: a Practitioner or an Organization.")),
    }
}

/// A professional (`Practitioner/<id>`, at the organisation they work for) or a role at
/// an organisation (`Organization/<id>` with the role's name as `display`): whom a
/// referral or a message is to.
pub(super) async fn owner_named(s: &Sammen, one: &Value, element: &str) -> Result<Owner, FhirError> {
    let reference = one["reference"].as_str().unwrap_or("");
    if let Some(id) = reference.strip_prefix("Practitioner/") {
        let unknown = || business(format!("{element} names no professional Sammen knows."));
        let user = UserId::parse(id).map_err(|_| unknown())?;
        let dir = s.shared_directory().await?;
        let u = dir.user(user).filter(|u| !u.disabled).ok_or_else(unknown)?;
        let org = u.org().ok_or_else(unknown)?;
        return Ok(Owner::Professional { user, org });
    }
    if let Some(id) = reference.strip_prefix("Organization/") {
        let org = OrgId::parse(id).map_err(|_| business(format!("{element} names no organisation Sammen knows.")))?;
        let role = one["display"].as_str().map(str::trim).filter(|t| !t.is_empty());
        let role = role.ok_or_else(|| {
            business(format!("{element} names an organisation: give the name of the role there in display."))
        })?;
        return Ok(Owner::Role { org, role: role.to_string() });
    }
    Err(business(format!("{element} must be Practitioner/<id> or Organization/<id>.")))
}

/// The referral's parts from the notes Sammen writes ("Question: ...", "Findings: ...",
/// "Tried: ...", "Red flags checked: ...") and from `patientInstruction` (the reason in
/// plain words, then what the patient was told to expect). A note without a label is
/// part of the question.
fn referral_in(v: &Value) -> Result<Referral, FhirError> {
    const LABELS: [&str; 4] = ["Question: ", "Findings: ", "Tried: ", "Red flags checked: "];
    let mut parts: [String; 4] = Default::default();
    for note in v["note"].as_array().into_iter().flatten() {
        let text = note["text"].as_str().unwrap_or("").trim();
        let labelled = LABELS.iter().enumerate().find_map(|(i, label)| Some((i, text.strip_prefix(label)?)));
        let (i, text) = labelled.unwrap_or((0, text));
        let (part, text) = (&mut parts[i], text.trim());
        if !text.is_empty() {
            if !part.is_empty() {
                part.push_str("\n\n");
            }
            part.push_str(text);
        }
    }
    let plain = v["patientInstruction"].as_str().unwrap_or("").trim();
    let (why, expect) = plain.split_once("\n\n").unwrap_or((plain, ""));
    let [question, findings, tried, red_flags_checked] = parts;
    if question.is_empty() {
        return Err(business("A referral needs its question: a note \"Question: ...\"."));
    }
    if why.trim().is_empty() {
        return Err(business(
            "A referral tells the patient why, in plain words: ServiceRequest.patientInstruction is required.",
        ));
    }
    Ok(Referral {
        question,
        findings,
        tried,
        red_flags_checked,
        reason_plain: why.trim().to_string(),
        told_to_expect: expect.trim().to_string(),
    })
}

/// The step a referral hands over, if `supportingInfo` names one of the patient's Tasks.
fn handed_over_step(v: &Value, patient: PatientId) -> Result<Option<ItemId>, FhirError> {
    let tasks: Vec<&str> = v["supportingInfo"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["reference"].as_str()?.strip_prefix("Task/"))
        .collect();
    let bad =
        || FhirError::invalid("ServiceRequest.supportingInfo names a Task that is not one of this patient's steps.");
    match tasks.as_slice() {
        [] => Ok(None),
        [one] => {
            let (p, step) = split_id(one).ok_or_else(bad)?;
            if p != patient {
                return Err(bad());
            }
            ItemId::parse(&step).map(Some).map_err(|_| bad())
        }
        _ => Err(business("A referral hands over one step: name at most one Task in supportingInfo.")),
    }
}

/// What a period of care sent as FHIR records: its episodes in order, at one
/// organisation.
struct PeriodIn {
    patient: PatientId,
    course: Option<sammen_domain::ids::CourseId>,
    /// Where the resource names its course, for the error when it must.
    how_to_name: &'static str,
    org: OrgId,
    episodes: Vec<(EpisodeKind, Date)>,
}

/// A period of care by Sammen's episode type (`episode-inpatient`, `episode-outpatient`,
/// `episode-sick-leave`).
pub async fn create_episode_of_care(s: &Sammen, actor: &Actor, v: &Value) -> Result<Value, FhirError> {
    let patient = patient_of(v, "patient")?;
    let codes = v["type"].as_array().into_iter().flatten().flat_map(|t| t["coding"].as_array().into_iter().flatten());
    let code = codes.filter(|c| c["system"] == map::SAMMEN_SYSTEM).find_map(|c| c["code"].as_str());
    let (opens, closes) = match code {
        Some("episode-inpatient") => (EpisodeKind::Admission, EpisodeKind::Discharge),
        Some("episode-outpatient") => (EpisodeKind::OutpatientStart, EpisodeKind::OutpatientEnd),
        Some("episode-sick-leave") => (EpisodeKind::SickLeaveStart, EpisodeKind::SickLeaveEnd),
        _ => {
            return Err(business(format!(
                "EpisodeOfCare.type needs Sammen's episode type ({} episode-inpatient, episode-outpatient or \
                 episode-sick-leave).",
                map::SAMMEN_SYSTEM
            )))
        }
    };
    let finished = match v["status"].as_str() {
        Some("active") => false,
        Some("finished") => true,
        Some(_) => {
            return Err(business(
                "Sammen records care that has begun: EpisodeOfCare.status must be active or finished.",
            ))
        }
        None => return Err(needed(v, "EpisodeOfCare", "status")),
    };
    let org = organisation(v, "managingOrganization")?;
    let course = match v["team"].as_array().map(Vec::as_slice) {
        None => course_extension(v, patient)?,
        Some([one]) => Some(team_course(one["reference"].as_str(), patient)?),
        Some(_) => return Err(FhirError::invalid("EpisodeOfCare.team must name one CareTeam: the course's.")),
    };
    let (start, end) = span(v, "EpisodeOfCare", finished)?;
    let mut episodes = vec![(opens, start)];
    episodes.extend(end.map(|end| (closes, end)));
    record_period(s, actor, PeriodIn { patient, course, how_to_name: "team (CareTeam/<id>)", org, episodes }, |c, p| {
        Some(clinical::episode_of_care(c, p))
    })
    .await
}

/// A hospital stay as an inpatient Encounter.
pub async fn create_encounter(s: &Sammen, actor: &Actor, v: &Value) -> Result<Value, FhirError> {
    let patient = patient_of(v, "subject")?;
    if v["class"]["code"].as_str() != Some("IMP") {
        return Err(business(
            "Sammen records hospital stays as Encounters: Encounter.class must be IMP (inpatient encounter).",
        ));
    }
    let finished = match v["status"].as_str() {
        Some("in-progress") => false,
        Some("finished") => true,
        Some(_) => {
            return Err(business(
                "Sammen records stays that have begun: Encounter.status must be in-progress or finished.",
            ))
        }
        None => return Err(needed(v, "Encounter", "status")),
    };
    let org = organisation(v, "serviceProvider")?;
    let (start, end) = span(v, "Encounter", finished)?;
    let mut episodes = vec![(EpisodeKind::Admission, start)];
    for h in v["statusHistory"].as_array().into_iter().flatten() {
        if h["status"] != "onleave" {
            continue;
        }
        let on = h["period"]["start"].as_str().ok_or_else(|| {
            FhirError::invalid("Encounter.statusHistory: a leave needs period.start (the day it began).")
        })?;
        let on = parse_day(on, "Encounter.statusHistory.period.start")?;
        if on < start || end.is_some_and(|end| on > end) {
            return Err(business("A leave from the ward falls within the stay: check statusHistory's dates."));
        }
        episodes.push((EpisodeKind::Leave, on));
    }
    episodes.extend(end.map(|end| (EpisodeKind::Discharge, end)));
    let course = course_extension(v, patient)?;
    record_period(
        s,
        actor,
        PeriodIn { patient, course, how_to_name: "the course extension", org, episodes },
        clinical::encounter,
    )
    .await
}

/// `period.start`, and `period.end` exactly when the period is finished.
fn span(v: &Value, kind: &str, finished: bool) -> Result<(Date, Option<Date>), FhirError> {
    let start = v["period"]["start"]
        .as_str()
        .ok_or_else(|| FhirError::invalid(format!("{kind}.period.start is required (the day it began).")))?;
    let start = parse_day(start, &format!("{kind}.period.start"))?;
    let end = match (v["period"]["end"].as_str(), finished) {
        (Some(end), true) => parse_day(end, &format!("{kind}.period.end"))?,
        (None, true) => return Err(FhirError::invalid(format!("A finished {kind} needs period.end."))),
        (Some(_), false) => {
            return Err(business(format!("A {kind} with an end is finished: set its status, or leave period.end out.")))
        }
        (None, false) => return Ok((start, None)),
    };
    if end < start {
        return Err(FhirError::invalid(format!("{kind}.period.end is before its start.")));
    }
    Ok((start, Some(end)))
}

/// `Organization/<id>` in `element.reference`.
fn organisation(v: &Value, element: &str) -> Result<OrgId, FhirError> {
    let reference = v[element]["reference"]
        .as_str()
        .ok_or_else(|| FhirError::invalid(format!("{element} is required: Organization/<id>.")))?;
    reference
        .strip_prefix("Organization/")
        .and_then(|id| OrgId::parse(id).ok())
        .ok_or_else(|| business(format!("{element} must name one of Sammen's organisations: Organization/<id>.")))
}

/// The course whose care team a `CareTeam/<id>` reference names.
fn team_course(reference: Option<&str>, patient: PatientId) -> Result<sammen_domain::ids::CourseId, FhirError> {
    let bad = || FhirError::invalid("EpisodeOfCare.team must name one of Sammen's CareTeams: CareTeam/<id>.");
    let (p, c) = reference.and_then(|r| r.strip_prefix("CareTeam/")).and_then(split_id).ok_or_else(bad)?;
    if p != patient {
        return Err(FhirError::invalid("EpisodeOfCare.team names another patient's CareTeam."));
    }
    sammen_domain::ids::CourseId::parse(&c).map_err(|_| bad())
}

/// Records a period's episodes in order, all or none, and maps the period they make.
async fn record_period(
    s: &Sammen,
    actor: &Actor,
    period: PeriodIn,
    map_period: impl Fn(&CourseView, &Period<'_>) -> Option<Value>,
) -> Result<Value, FhirError> {
    // One episode lands whole by itself, and in a unit (a transaction Bundle) the unit
    // already makes them land together.
    let unit = match s.in_unit() || period.episodes.len() == 1 {
        true => None,
        false => Some(s.unit().await?),
    };
    let inside = unit.as_ref().map_or(s, |u| u.sammen());
    let recorded = record_episodes(inside, actor, &period).await;
    let (first, view) = match (recorded, unit) {
        (Ok(done), Some(unit)) => {
            unit.commit(s).await?;
            done
        }
        (Ok(done), None) => done,
        (Err(e), Some(unit)) => {
            unit.rollback(s).await?;
            return Err(e);
        }
        (Err(e), None) => return Err(e),
    };
    let periods = clinical::periods(&view);
    let made = periods.iter().find(|p| p.start.is_some_and(|e| e.id == first)).ok_or_else(not_recorded)?;
    map_period(&view, made).ok_or_else(not_recorded)
}

/// The episodes, one change each; returns the first one's id and the course after.
/// The first finds its course (the one named, else the only open one); the rest follow
/// it there, each from the version the one before left.
async fn record_episodes(s: &Sammen, actor: &Actor, p: &PeriodIn) -> Result<(ItemId, CourseView), FhirError> {
    let change = |&(episode_kind, on): &(EpisodeKind, Date)| CourseChange::RecordEpisode {
        episode_kind,
        org: p.org,
        on,
        note: String::new(),
    };
    let (opening, rest) = p.episodes.split_first().ok_or_else(not_recorded)?;
    let (new_items, mut view) = add_to_course(s, actor, p.patient, p.course, p.how_to_name, &change(opening)).await?;
    let first = view.course.care.episodes.iter().find(|e| new_items.contains(&e.id)).ok_or_else(not_recorded)?.id;
    for episode in rest {
        let course = view.course.id;
        view = s.change_course(actor, p.patient, course, view.course.version, &change(episode)).await?.0;
    }
    Ok((first, view))
}
