//! Who asks whom to do what, in FHIR R4 terms: a handover is a Task (the request to
//! take something over, with its answer as the Task's status), a handover that carries
//! a referral is also a ServiceRequest (what is asked, what was found and tried), and
//! each message in a thread is a Communication.
//!
//! As in [`super::resources`], each function maps what the reader may see: the course
//! and the threads were filtered by the policy before they got here.

use serde_json::{json, Value};
use time::OffsetDateTime;

use sammen_app::directory::Directory;
use sammen_app::messages::ThreadView;
use sammen_app::CourseView;
use sammen_domain::care::{Handover, HandoverState, HandoverSubject, Referral};
use sammen_domain::ids::PatientId;
use sammen_domain::messaging::ThreadKind;

use super::resources::{
    author_ref, care_plan_ref, compound_id, date, instant, meta, owner_ref, patient_ref, word, SAMMEN_SYSTEM,
};

/// SNOMED CT: "Patient referral".
const REFERRAL_CODE: &str = "3457005";
const SNOMED: &str = "http://snomed.info/sct";

/// The code a handover Task carries, by what it hands over. An update tells a
/// handover's Task from a step's by it.
pub fn handover_code(subject: &HandoverSubject) -> &'static str {
    match subject {
        HandoverSubject::Step { .. } => "handover-step",
        HandoverSubject::KeyWorker => "handover-key-worker",
        HandoverSubject::Course => "handover-course",
    }
}

/// FHIR's Task.status for a handover's state: proposed and waiting is `requested`; an
/// unanswered handover past its day has `failed` (the sender stays responsible).
pub fn handover_status(s: HandoverState) -> &'static str {
    match s {
        HandoverState::Proposed => "requested",
        HandoverState::Accepted => "accepted",
        HandoverState::Declined => "rejected",
        HandoverState::Withdrawn => "cancelled",
        HandoverState::Expired => "failed",
    }
}

pub fn handover_task(c: &CourseView, h: &Handover, now: OffsetDateTime) -> Value {
    let p = c.course.patient;
    let state = h.state_at(now);
    let focus = match h.subject {
        HandoverSubject::Step { step } => json!({ "reference": format!("Task/{}", compound_id(p, &step)) }),
        HandoverSubject::KeyWorker | HandoverSubject::Course => care_plan_ref(p, c.course.id),
    };
    let mut based_on = vec![care_plan_ref(p, c.course.id)];
    if h.referral.is_some() {
        based_on.push(json!({ "reference": format!("ServiceRequest/{}", compound_id(p, &h.id)) }));
    }
    let changed = h.answered_at.or(h.acknowledged_at).unwrap_or(h.meta.at);
    let mut r = json!({
        "resourceType": "Task",
        "id": compound_id(p, &h.id),
        "meta": meta(changed, c),
        "basedOn": based_on,
        "status": handover_status(state),
        "intent": "order",
        "code": { "coding": [{ "system": SAMMEN_SYSTEM, "code": handover_code(&h.subject) }] },
        "focus": focus,
        "for": patient_ref(p),
        "authoredOn": instant(h.meta.at),
        "lastModified": instant(changed),
        "requester": owner_ref(&h.from),
        "owner": owner_ref(&h.to),
        "restriction": { "period": { "end": date(h.respond_by) } },
    });
    if !h.reason.is_empty() {
        r["description"] = json!(h.reason);
    }
    match (state, &h.decline_reason) {
        (HandoverState::Declined, Some(why)) if !why.is_empty() => r["statusReason"] = json!({ "text": why }),
        (HandoverState::Expired, _) => r["statusReason"] = json!({ "text": "Not answered by the day asked" }),
        _ => {}
    }
    if state == HandoverState::Proposed && h.acknowledged_at.is_some() {
        r["businessStatus"] = json!({ "text": "Seen by the receiver" });
    }
    r
}

/// A referral: the handover's request for a service, with what the receiver needs so
/// as not to start from scratch. Active while proposed or accepted; revoked once
/// declined, withdrawn or expired.
pub fn service_request(c: &CourseView, h: &Handover, referral: &Referral, now: OffsetDateTime) -> Value {
    let p = c.course.patient;
    let status = match h.state_at(now) {
        HandoverState::Proposed | HandoverState::Accepted => "active",
        HandoverState::Declined | HandoverState::Withdrawn | HandoverState::Expired => "revoked",
    };
    let mut code = json!({ "coding": [{ "system": SNOMED, "code": REFERRAL_CODE, "display": "Patient referral" }] });
    if !h.reason.is_empty() {
        code["text"] = json!(h.reason);
    }
    let notes: Vec<Value> = [
        ("Question", &referral.question),
        ("Findings", &referral.findings),
        ("Tried", &referral.tried),
        ("Red flags checked", &referral.red_flags_checked),
    ]
    .iter()
    .filter(|(_, text)| !text.is_empty())
    .map(|(label, text)| json!({ "text": format!("{label}: {text}") }))
    .collect();
    let mut r = json!({
        "resourceType": "ServiceRequest",
        "id": compound_id(p, &h.id),
        "meta": meta(h.answered_at.unwrap_or(h.meta.at), c),
        "basedOn": [care_plan_ref(p, c.course.id)],
        "status": status,
        "intent": "order",
        "code": code,
        "subject": patient_ref(p),
        "authoredOn": instant(h.meta.at),
        "requester": owner_ref(&h.from),
        "performer": [owner_ref(&h.to)],
    });
    if !notes.is_empty() {
        r["note"] = Value::from(notes);
    }
    // The step handed over, as its Task; a referral without one hands over the course.
    if let HandoverSubject::Step { step } = h.subject {
        r["supportingInfo"] = json!([{ "reference": format!("Task/{}", compound_id(p, &step)) }]);
    }
    let plain: Vec<&str> = [referral.reason_plain.as_str(), referral.told_to_expect.as_str()]
        .into_iter()
        .filter(|t| !t.is_empty())
        .collect();
    if !plain.is_empty() {
        r["patientInstruction"] = json!(plain.join("\n\n"));
    }
    r
}

/// The handovers of a course as Tasks, and those with a referral as ServiceRequests.
pub fn handovers(c: &CourseView, kind: &str, now: OffsetDateTime) -> Vec<Value> {
    let mut out = Vec::new();
    for h in &c.course.care.handovers {
        if matches!(kind, "Task" | "*") {
            out.push(handover_task(c, h, now));
        }
        if let (true, Some(referral)) = (matches!(kind, "ServiceRequest" | "*"), &h.referral) {
            out.push(service_request(c, h, referral, now));
        }
    }
    out
}

/// Each message of a thread the reader may see, as a Communication: a reply is "in
/// response to" the message before it.
pub fn communications(patient: PatientId, t: &ThreadView, staff: &Directory) -> Vec<Value> {
    let mut category = json!({
        "coding": [{ "system": SAMMEN_SYSTEM, "code": format!("thread-{}", word(&t.category)) }],
    });
    if let Some(topic) = &t.topic {
        category["text"] = json!(topic);
    }
    let mut categories = vec![category];
    if t.kind == ThreadKind::SpecialistQuestion {
        categories.push(json!({ "coding": [{ "system": SAMMEN_SYSTEM, "code": "specialist-question" }] }));
    }
    let recipients: Vec<Value> = t.recipients.iter().map(|r| owner_ref(&r.to)).collect();
    let mut out = Vec::new();
    let mut previous: Option<String> = None;
    for m in &t.messages {
        let id = compound_id(patient, &m.id);
        let mut payload = Vec::new();
        if !m.body.text.is_empty() {
            payload.push(json!({ "contentString": m.body.text }));
        }
        for a in &m.body.attachments {
            payload.push(json!({ "contentAttachment": {
                "contentType": a.content_type, "title": a.filename, "size": a.size,
            } }));
        }
        let mut r = json!({
            "resourceType": "Communication",
            "id": id,
            "meta": { "versionId": t.version.to_string(), "lastUpdated": instant(m.at) },
            "status": "completed",
            "category": categories,
            "subject": patient_ref(patient),
            "about": [care_plan_ref(patient, t.course)],
            "sent": instant(m.at),
            "sender": author_ref(m.author, patient, staff),
        });
        if !t.subject.is_empty() {
            r["topic"] = json!({ "text": t.subject });
        }
        if !recipients.is_empty() {
            r["recipient"] = Value::from(recipients.clone());
        }
        if !payload.is_empty() {
            r["payload"] = Value::from(payload);
        }
        if let Some(prev) = &previous {
            r["inResponseTo"] = json!([{ "reference": format!("Communication/{prev}") }]);
        }
        let mut notes = Vec::new();
        if m.body.corrects.is_some() {
            notes.push(json!({ "text": "Corrects an earlier message in this thread." }));
        }
        if m.corrected_by.is_some() {
            notes.push(json!({ "text": "A later message in this thread corrects this one." }));
        }
        if !notes.is_empty() {
            r["note"] = Value::from(notes);
        }
        previous = Some(id);
        out.push(r);
    }
    out
}
