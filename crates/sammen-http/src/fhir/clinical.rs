//! What happened to the patient, in FHIR R4 terms: diagnoses recorded on the course
//! (Condition), stays and periods of care (EpisodeOfCare, and Encounter for a hospital
//! stay), and the progress the patient reported, as the answers they gave
//! (QuestionnaireResponse; the same measurement is also an Observation).
//!
//! As in [`super::resources`], each function maps what the reader may see.

use serde_json::{json, Value};

use sammen_app::directory::Directory;
use sammen_app::CourseView;
use sammen_domain::care::{Episode, EpisodeKind, Measurement};
use sammen_domain::projection::{Entry, EntryStatus};
use sammen_domain::vocab::DataCategory;

use super::resources::{author_ref, care_plan_ref, compound_id, date, instant, meta, patient_ref, SAMMEN_SYSTEM};

const CONDITION_CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/condition-category";
/// Sammen's questionnaire for progress: pain now, and the activities the patient named.
pub const PROGRESS_QUESTIONNAIRE: &str = "https://sammen.dk/fhir/Questionnaire/progress";

/// The course's diagnoses: entries in the diagnoses category that stand (a retracted
/// entry is not shown).
pub fn diagnoses(c: &CourseView) -> impl Iterator<Item = &Entry> {
    c.course.entries.iter().filter(|e| e.category == DataCategory::Diagnoses && e.status == EntryStatus::Current)
}

/// A diagnosis as the professional wrote it. Sammen records the wording, not a coded
/// clinical status, so it is an encounter diagnosis with its text.
pub fn condition(c: &CourseView, e: &Entry) -> Value {
    let p = c.course.patient;
    let wording = [&e.text, &e.title].into_iter().find(|t| !t.is_empty()).map_or("Diagnosis", String::as_str);
    let mut r = json!({
        "resourceType": "Condition",
        "id": compound_id(p, &e.id),
        "meta": meta(e.changed_at, c),
        "category": [{ "coding": [{ "system": CONDITION_CATEGORY, "code": "encounter-diagnosis",
                                    "display": "Encounter Diagnosis" }] }],
        "code": { "text": wording },
        "subject": patient_ref(p),
        "onsetDateTime": date(e.occurred_on),
        "recordedDate": instant(e.recorded_at),
        "recorder": { "reference": format!("Practitioner/{}", e.recorded_by) },
    });
    if !e.title.is_empty() && !e.text.is_empty() {
        r["note"] = json!([{ "text": e.title }]);
    }
    r
}

/// A period of care: from an admission, the start of outpatient care or of sick leave,
/// to the discharge, end or return that closes it.
pub struct Period<'a> {
    pub start: Option<&'a Episode>,
    pub end: Option<&'a Episode>,
}

impl Period<'_> {
    fn first(&self) -> &Episode {
        self.start.or(self.end).expect("a period has a start or an end")
    }

    /// From the start's day to the end's, either of which may be unknown.
    fn span(&self) -> Value {
        let mut span = json!({});
        if let Some(s) = self.start {
            span["start"] = json!(date(s.on));
        }
        if let Some(e) = self.end {
            span["end"] = json!(date(e.on));
        }
        span
    }

    /// When the period last changed: when its end, else its start, was recorded.
    fn changed(&self) -> time::OffsetDateTime {
        self.end.map_or(self.first().meta.at, |e| e.meta.at)
    }

    fn family(&self) -> Family {
        family(self.first().kind).map(|(f, _)| f).unwrap_or(Family::Inpatient)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Family {
    Inpatient,
    Outpatient,
    SickLeave,
}

/// Which period an episode opens (true) or closes (false); a leave from hospital does
/// neither.
fn family(k: EpisodeKind) -> Option<(Family, bool)> {
    match k {
        EpisodeKind::Admission => Some((Family::Inpatient, true)),
        EpisodeKind::Discharge => Some((Family::Inpatient, false)),
        EpisodeKind::OutpatientStart => Some((Family::Outpatient, true)),
        EpisodeKind::OutpatientEnd => Some((Family::Outpatient, false)),
        EpisodeKind::SickLeaveStart => Some((Family::SickLeave, true)),
        EpisodeKind::SickLeaveEnd => Some((Family::SickLeave, false)),
        EpisodeKind::Leave => None,
    }
}

/// Pairs each closing episode with the earliest open one of its kind at the same
/// organisation, in the order they happened. A close with no open one stands alone.
pub fn periods(c: &CourseView) -> Vec<Period<'_>> {
    let mut episodes: Vec<&Episode> = c.course.care.episodes.iter().collect();
    episodes.sort_by_key(|e| e.on);
    let mut out: Vec<Period<'_>> = Vec::new();
    for e in episodes {
        let Some((fam, opens)) = family(e.kind) else { continue };
        if opens {
            out.push(Period { start: Some(e), end: None });
            continue;
        }
        let open = out.iter_mut().find(|p| {
            p.end.is_none()
                && p.start.is_some_and(|s| s.org == e.org)
                && family(p.first().kind).map(|f| f.0) == Some(fam)
        });
        match open {
            Some(p) => p.end = Some(e),
            None => out.push(Period { start: None, end: Some(e) }),
        }
    }
    out
}

pub fn episode_of_care(c: &CourseView, period: &Period<'_>) -> Value {
    let p = c.course.patient;
    let first = period.first();
    let (code, text) = match period.family() {
        Family::Inpatient => ("episode-inpatient", "Hospital stay"),
        Family::Outpatient => ("episode-outpatient", "Outpatient care"),
        Family::SickLeave => ("episode-sick-leave", "Sick leave"),
    };
    json!({
        "resourceType": "EpisodeOfCare",
        "id": compound_id(p, &first.id),
        "meta": meta(period.changed(), c),
        "status": if period.end.is_some() { "finished" } else { "active" },
        "type": [{ "coding": [{ "system": SAMMEN_SYSTEM, "code": code }], "text": text }],
        "patient": patient_ref(p),
        "managingOrganization": { "reference": format!("Organization/{}", first.org) },
        "period": period.span(),
        "team": [{ "reference": format!("CareTeam/{}", compound_id(p, &c.course.id)) }],
    })
}

/// A hospital stay, from admission to discharge, as an inpatient Encounter; leaves
/// from the ward during it are in its status history.
pub fn encounter(c: &CourseView, period: &Period<'_>) -> Option<Value> {
    if period.family() != Family::Inpatient {
        return None;
    }
    let p = c.course.patient;
    let first = period.first();
    let mut r = json!({
        "resourceType": "Encounter",
        "id": compound_id(p, &first.id),
        "meta": meta(period.changed(), c),
        "status": if period.end.is_some() { "finished" } else { "in-progress" },
        "class": { "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP",
                   "display": "inpatient encounter" },
        "subject": patient_ref(p),
        "episodeOfCare": [{ "reference": format!("EpisodeOfCare/{}", compound_id(p, &first.id)) }],
        "period": period.span(),
        "serviceProvider": { "reference": format!("Organization/{}", first.org) },
    });
    let within = |on: time::Date| period.start.is_none_or(|s| on >= s.on) && period.end.is_none_or(|e| on <= e.on);
    let leaves: Vec<Value> = c
        .course
        .care
        .episodes
        .iter()
        .filter(|e| e.kind == EpisodeKind::Leave && e.org == first.org && within(e.on))
        .map(|e| json!({ "status": "onleave", "period": { "start": date(e.on) } }))
        .collect();
    if !leaves.is_empty() {
        r["statusHistory"] = Value::from(leaves);
    }
    Some(r)
}

/// The patient's answers as they gave them: pain now (0-10) and each activity they
/// named with its score (0 = cannot, 10 = as before).
pub fn questionnaire_response(c: &CourseView, m: &Measurement, staff: &Directory) -> Value {
    let p = c.course.patient;
    let mut items = Vec::new();
    if let Some(pain) = m.pain {
        items.push(json!({ "linkId": "pain", "text": "Pain now, from 0 (none) to 10 (worst imaginable)",
                           "answer": [{ "valueInteger": pain }] }));
    }
    let activities: Vec<Value> = m
        .activities
        .iter()
        .enumerate()
        .map(|(i, a)| {
            json!({ "linkId": format!("psfs-{}", i + 1), "text": a.activity,
                              "answer": [{ "valueInteger": a.score }] })
        })
        .collect();
    if !activities.is_empty() {
        items.push(json!({ "linkId": "psfs", "text": "Activities that are hard, from 0 (cannot) to 10 (as before)",
                           "item": activities }));
    }
    let mut r = json!({
        "resourceType": "QuestionnaireResponse",
        "id": compound_id(p, &m.id),
        "meta": meta(m.meta.at, c),
        "questionnaire": PROGRESS_QUESTIONNAIRE,
        "basedOn": [care_plan_ref(p, c.course.id)],
        "status": "completed",
        "subject": patient_ref(p),
        "authored": date(m.on),
        "author": author_ref(m.meta.by, p, staff),
    });
    if !items.is_empty() {
        r["item"] = Value::from(items);
    }
    r
}

/// The clinical resources of one type (`*`: all) that one course maps to.
pub fn course_clinical(c: &CourseView, kind: &str, staff: &Directory) -> Vec<Value> {
    let mut out = Vec::new();
    if matches!(kind, "Condition" | "*") {
        out.extend(diagnoses(c).map(|e| condition(c, e)));
    }
    if matches!(kind, "EpisodeOfCare" | "Encounter" | "*") {
        for period in periods(c) {
            if matches!(kind, "EpisodeOfCare" | "*") {
                out.push(episode_of_care(c, &period));
            }
            if matches!(kind, "Encounter" | "*") {
                out.extend(encounter(c, &period));
            }
        }
    }
    if matches!(kind, "QuestionnaireResponse" | "*") {
        out.extend(c.course.care.measurements.iter().map(|m| questionnaire_response(c, m, staff)));
    }
    out
}
