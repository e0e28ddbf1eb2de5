//! FHIR create of a Communication: a message about a course, through the same use cases
//! as the messages page (their rules, their consent checks per recipient and their
//! audit entries), mapped back from the shape [`super::workflow::communications`] emits.
//!
//! - Without `inResponseTo` it starts a thread: `about` names the course (CarePlan; left
//!   out, the patient's only open course), `recipient` whom it is to (a Practitioner, an
//!   Organization with the role as `display`, or the course's CareTeam), `topic.text` its
//!   subject, and `category` Sammen's kind of thread (`thread-<category>`, with the
//!   category's own topic as `text`; care coordination when left out) and, for a question
//!   to a specialist, `specialist-question`.
//! - With `inResponseTo` one of the thread's messages it is a reply in that thread.
//!
//! Either way the text is the payload's `contentString`s and the first identifier's
//! value the client's message id, so a Communication sent twice is one message.
//! Attachments are sent through the messages API.

use serde_json::Value;

use sammen_app::messages::ThreadView;
use sammen_app::{Actor, AppError, Sammen};
use sammen_domain::care::Owner;
use sammen_domain::ids::PatientId;
use sammen_domain::messaging::{Addressee, NewThread, Reply, ThreadCategory, ThreadKind};
use sammen_domain::vocab::DataCategory;

use super::create::{business, course_for, course_ref, not_recorded, patient_of};
use super::create_care::owner_named;
use super::resources::{self as map, split_id, SAMMEN_SYSTEM};
use super::search::record;
use super::FhirError;

pub async fn create_communication(s: &Sammen, actor: &Actor, v: &Value) -> Result<Value, FhirError> {
    let patient = patient_of(v, "subject")?;
    if matches!(v["status"].as_str(), Some("entered-in-error" | "not-done")) {
        return Err(business("Sammen records messages that were sent: this Communication is not done or in error."));
    }
    let text = text_of(v)?;
    let client_id = v["identifier"][0]["value"].as_str().map(str::to_string);
    match v.get("inResponseTo") {
        Some(answered) => reply(s, actor, patient, answered, text, client_id).await,
        None => new_thread(s, actor, patient, v, text, client_id).await,
    }
}

/// The message's text: its `contentString`s, one paragraph each.
fn text_of(v: &Value) -> Result<String, FhirError> {
    let payload = v["payload"].as_array().map(Vec::as_slice).unwrap_or_default();
    if payload.iter().any(|p| p.get("contentString").is_none()) {
        return Err(business(
            "A message through FHIR carries text (payload.contentString); attachments are sent through Sammen's \
             messages API.",
        ));
    }
    let parts: Vec<&str> =
        payload.iter().filter_map(|p| p["contentString"].as_str()).map(str::trim).filter(|t| !t.is_empty()).collect();
    if parts.is_empty() {
        return Err(business("Communication.payload needs the message's text as contentString."));
    }
    Ok(parts.join("\n\n"))
}

/// The thread's message as the sender now sees it: the last one they wrote.
async fn sent(s: &Sammen, actor: &Actor, patient: PatientId, view: &ThreadView) -> Result<Value, FhirError> {
    let staff = s.shared_directory().await?;
    let sent = view.messages.iter().rposition(|m| m.author == actor.user.id).ok_or_else(not_recorded)?;
    // One Communication per message, in order.
    super::workflow::communications(patient, view, &staff).into_iter().nth(sent).ok_or_else(not_recorded)
}

/// A reply in the thread of the one message named in `inResponseTo`: `Sammen::reply`.
async fn reply(
    s: &Sammen,
    actor: &Actor,
    patient: PatientId,
    answered: &Value,
    text: String,
    client_id: Option<String>,
) -> Result<Value, FhirError> {
    let answered = match answered.as_array().map(Vec::as_slice) {
        Some([one]) => one["reference"].as_str().and_then(|r| r.strip_prefix("Communication/")),
        _ => None,
    };
    let answered = answered
        .ok_or_else(|| business("A reply names the one message it answers in inResponseTo (Communication/<id>)."))?;
    let unknown = || business("inResponseTo names no message of this patient's that you can see.");
    let (of, _) = split_id(answered).ok_or_else(unknown)?;
    if of != patient {
        return Err(FhirError::invalid("inResponseTo names another patient's message."));
    }
    let rec = record(s, actor, patient, "Communication").await?;
    let in_thread = |t: &&ThreadView| t.messages.iter().any(|m| map::compound_id(patient, &m.id) == answered);
    let thread = rec.threads.iter().find(in_thread).ok_or_else(unknown)?;
    let reply = Reply {
        text,
        data_category: DataCategory::Messages,
        references: Vec::new(),
        corrects: None,
        answer_by: None,
        client_id,
    };
    let (view, _) = s.reply(actor, patient, thread.id, &reply, &[]).await?;
    sent(s, actor, patient, &view).await
}

/// A new thread about a course: `Sammen::start_thread`.
async fn new_thread(
    s: &Sammen,
    actor: &Actor,
    patient: PatientId,
    v: &Value,
    text: String,
    client_id: Option<String>,
) -> Result<Value, FhirError> {
    let course = match v["about"].as_array().map(Vec::as_slice) {
        None => None,
        Some([one]) => Some(course_ref(one["reference"].as_str(), patient, "Communication.about")?),
        Some(_) => return Err(business("Communication.about names the one course (CarePlan) the thread is about.")),
    };
    let subject = v["topic"]["text"].as_str().map(str::trim).filter(|t| !t.is_empty());
    let subject = subject.ok_or_else(|| {
        business(
            "A new thread needs its subject in topic.text; a reply names the message it answers in inResponseTo \
             (Communication/<id>).",
        )
    })?;
    let (kind, category, topic) = thread_kind(v)?;
    let recipients = v["recipient"].as_array().map(Vec::as_slice).unwrap_or_default();
    if recipients.is_empty() {
        return Err(business(
            "A new thread needs its recipients: Practitioner/<id>, Organization/<id> with the role as display, or \
             the course's CareTeam.",
        ));
    }
    let rec = record(s, actor, patient, "CarePlan").await?;
    let course = course_for(&rec, course, "Communication.about (CarePlan/<id>)")?.course.id;
    let team = format!("CareTeam/{}", map::compound_id(patient, &course));
    let mut to = Vec::with_capacity(recipients.len());
    for r in recipients {
        to.push(match r["reference"].as_str() {
            Some(t) if t.starts_with("CareTeam/") && t == team => Addressee::CareTeam,
            Some(t) if t.starts_with("CareTeam/") => {
                return Err(business("Communication.recipient names another course's CareTeam."))
            }
            _ => match owner_named(s, r, "Communication.recipient").await? {
                Owner::Professional { user, org } => Addressee::Professional { user, org },
                Owner::Role { org, role } => Addressee::Role { org, role },
            },
        });
    }
    let cmd = NewThread {
        kind,
        category,
        topic,
        subject: subject.to_string(),
        to,
        copy: Vec::new(),
        text,
        data_category: DataCategory::Messages,
        references: Vec::new(),
        answer_by: None,
        client_id,
    };
    let (view, _) = s.start_thread(actor, patient, course, &cmd, &[]).await.map_err(|e| match e {
        AppError::NotFound(_) => {
            business("Communication.about names no course of this patient's that you may write to.")
        }
        e => e.into(),
    })?;
    sent(s, actor, patient, &view).await
}

/// Sammen's kind of thread from `category`: its category (`thread-<category>`, with the
/// category's topic as `text`) and whether it is a question to a specialist.
fn thread_kind(v: &Value) -> Result<(ThreadKind, ThreadCategory, Option<String>), FhirError> {
    let (mut kind, mut category, mut topic) = (ThreadKind::Message, ThreadCategory::CareCoordination, None);
    for c in v["category"].as_array().into_iter().flatten() {
        for coding in c["coding"].as_array().into_iter().flatten().filter(|x| x["system"] == SAMMEN_SYSTEM) {
            match coding["code"].as_str().unwrap_or("") {
                "specialist-question" => kind = ThreadKind::SpecialistQuestion,
                code => {
                    let named = code.strip_prefix("thread-").map(|w| Value::String(w.to_string()));
                    category = named.and_then(|w| serde_json::from_value(w).ok()).ok_or_else(|| {
                        business(format!(
                            "Communication.category: {SAMMEN_SYSTEM} has no kind of thread with that code."
                        ))
                    })?;
                    topic = c["text"].as_str().map(str::trim).filter(|t| !t.is_empty()).map(str::to_string);
                }
            }
        }
    }
    Ok((kind, category, topic))
}
