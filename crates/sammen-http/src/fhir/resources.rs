//! The course in FHIR R4 terms. Each function maps what the reader may see (a
//! [`CourseView`] is already filtered by the policy) to one resource, as
//! `serde_json::Value`: only the elements Sammen maps, so a full FHIR model crate is
//! not needed.
//!
//! Resource ids carry the patient they belong to, so a read finds the record (and
//! asks the policy) without a lookup table: a course's CarePlan is
//! `<patient><course>`, a goal, step or measurement `<patient><item>`, each id as 32
//! hex digits (64 in all, FHIR's longest id).

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime};

use sammen_app::directory::Directory;
use sammen_app::records::{CourseView, PatientView};
use sammen_app::sharing::{AccessLogEntry, ConsentState, ConsentView};
use sammen_domain::audit::{AuditAction, AuditOutcome};
use sammen_domain::care::{Goal, GoalStatus, Measurement, Owner, Step, StepStatus};
use sammen_domain::contact::{Audience, ContactRoute, RouteHolder, RouteKind};
use sammen_domain::directory::{Organisation, User};
use sammen_domain::event::TeamMember;
use sammen_domain::ids::{CourseId, OrgId, PatientId, UserId};
use sammen_domain::projection::CourseStatus;
use sammen_domain::sharing::Recipient;
use sammen_domain::vocab::Purpose;

/// DK Core's identifier systems.
pub const CPR_SYSTEM: &str = "urn:oid:1.2.208.176.1.2";
pub const SOR_SYSTEM: &str = "urn:oid:1.2.208.176.1.1";
/// LOINC: pain severity, 0-10 verbal numeric rating, reported.
pub const PAIN_CODE: &str = "72514-3";
pub const LOINC: &str = "http://loinc.org";
const OBSERVATION_CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/observation-category";
/// Sammen's own code system for what has no standard code (kinds of goals and steps,
/// PSFS activities named by the patient).
pub const SAMMEN_SYSTEM: &str = "https://sammen.dk/fhir/CodeSystem/sammen";
/// The course (CarePlan) a Goal belongs to. FHIR's `Goal.addresses` names what a goal
/// is about (a condition), not the plan it is part of, so Sammen says it here.
pub const COURSE_EXTENSION: &str = "https://sammen.dk/fhir/StructureDefinition/course";

/// A resource id for something in a patient's record: the patient's id and the part's,
/// without their hyphens.
///
/// Written straight into one string: a search maps every resource it returns, each with
/// two or three of these ids, and formatting each id, then copying it without hyphens,
/// took a twentieth of a search's CPU.
pub fn compound_id(patient: PatientId, part: &impl std::fmt::Display) -> String {
    let mut id = String::with_capacity(64);
    push_simple(&mut id, &patient);
    push_simple(&mut id, part);
    id
}

/// A Patient's id as Sammen writes it. FHIR ids are case-sensitive, so a resource has
/// one address: the upper-case, brace and URN spellings the UUID parser also takes
/// name no resource.
pub fn patient_id(id: &str) -> Option<PatientId> {
    PatientId::parse(id).ok().filter(|p| p.to_string() == id)
}

/// The patient and the part of a compound id; `None` if it is not one.
pub fn split_id(id: &str) -> Option<(PatientId, String)> {
    if id.len() != 64 || !id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let patient = PatientId::parse(&id[..32]).ok()?;
    Some((patient, id[32..].to_string()))
}

/// Appends `id` as it is written, without its hyphens.
fn push_simple(out: &mut String, id: &impl std::fmt::Display) {
    struct WithoutHyphens<'a>(&'a mut String);
    impl std::fmt::Write for WithoutHyphens<'_> {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            s.split('-').for_each(|part| self.0.push_str(part));
            Ok(())
        }
    }
    // Writing to a String cannot fail.
    let _ = std::fmt::Write::write_fmt(&mut WithoutHyphens(out), format_args!("{id}"));
}

pub fn instant(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

pub fn date(d: Date) -> String {
    d.to_string()
}

pub fn word<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

pub fn patient_ref(p: PatientId) -> Value {
    json!({ "reference": format!("Patient/{p}") })
}

pub fn care_plan_ref(p: PatientId, c: CourseId) -> Value {
    json!({ "reference": format!("CarePlan/{}", compound_id(p, &c)) })
}

/// An item's meta: when it last changed, and as its version the version of its course
/// (an update names it in If-Match; any change to the course makes it stale).
pub fn meta(at: OffsetDateTime, c: &CourseView) -> Value {
    json!({ "versionId": c.course.version.to_string(), "lastUpdated": instant(at) })
}

/// Who recorded or owns something: a professional (one who has left since too: they
/// still wrote it), else the patient themself.
pub fn author_ref(by: UserId, patient: PatientId, staff: &Directory) -> Value {
    match staff.user(by).filter(|u| u.org().is_some()) {
        Some(u) => json!({ "reference": format!("Practitioner/{}", u.id), "display": u.name }),
        None => patient_ref(patient),
    }
}

/// Who owns, sends or receives something: a professional, or a role at an
/// organisation (the organisation, with the role as its display).
pub fn owner_ref(o: &Owner) -> Value {
    match o {
        Owner::Professional { user, .. } => json!({ "reference": format!("Practitioner/{user}") }),
        Owner::Role { org, role } => json!({ "reference": format!("Organization/{org}"), "display": role }),
    }
}

/// A patient as a Patient resource: its version and last change are the patient's own
/// (identity, consents and the like), as their history shows them, not their courses'.
pub fn patient(p: &PatientView) -> Value {
    let mut name = json!({ "use": "official", "text": p.name });
    let parts: Vec<&str> = p.name.split_whitespace().collect();
    if let Some((family, given)) = parts.split_last() {
        name["family"] = json!(family);
        if !given.is_empty() {
            name["given"] = json!(given);
        }
    }
    let mut r = json!({
        "resourceType": "Patient",
        "id": p.id.to_string(),
        "meta": { "versionId": p.version.to_string(), "lastUpdated": instant(p.updated_at) },
        "identifier": [{ "use": "official", "system": CPR_SYSTEM, "value": p.cpr.expose() }],
        "active": true,
        "name": [name],
    });
    if let Some(born) = p.cpr.birth_date() {
        r["birthDate"] = json!(date(born));
    }
    r
}

pub fn organization(o: &Organisation) -> Value {
    let mut r = json!({
        "resourceType": "Organization",
        "id": o.id.to_string(),
        "active": true,
        "type": [{ "coding": [{ "system": SAMMEN_SYSTEM, "code": word(&o.sector) }], "text": word(&o.sector) }],
        "name": o.name,
    });
    if let Some(sor) = &o.sor {
        r["identifier"] = json!([{ "use": "official", "system": SOR_SYSTEM, "value": sor.as_str() }]);
    }
    r
}

/// How a route shows in `telecom`: a phone or a secure e-mail address (a message in
/// Sammen has no address outside Sammen).
fn telecom(routes: &[&ContactRoute]) -> Vec<Value> {
    routes
        .iter()
        .filter(|r| !r.address.is_empty())
        .filter_map(|r| match r.kind {
            RouteKind::Phone => Some(json!({ "system": "phone", "value": r.address, "use": "work" })),
            RouteKind::SecureEmail => Some(json!({ "system": "email", "value": r.address, "use": "work" })),
            RouteKind::Message => None,
        })
        .collect()
}

/// The opening hours of the routes, as FHIR's available times.
fn available_times(routes: &[&ContactRoute]) -> Vec<Value> {
    const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    routes
        .iter()
        .flat_map(|r| &r.hours)
        .map(|h| {
            let days: Vec<&str> =
                h.days.iter().filter_map(|d| DAYS.get(usize::from(*d).wrapping_sub(1)).copied()).collect();
            json!({ "daysOfWeek": days, "availableStartTime": format!("{}:00", h.from),
                    "availableEndTime": format!("{}:00", h.to) })
        })
        .collect()
}

/// Each route in words, with the time an answer usually takes.
fn availability_note(routes: &[&ContactRoute]) -> Option<String> {
    let lines: Vec<String> = routes
        .iter()
        .map(|r| {
            let how = match r.kind {
                RouteKind::Message => "Message in Sammen",
                RouteKind::Phone => "Phone",
                RouteKind::SecureEmail => "Secure e-mail",
            };
            let mut line = format!("{how}: answer within {} working hours", r.answer_within_hours);
            if !r.note.is_empty() {
                line.push_str(&format!(" ({})", r.note));
            }
            if r.audience == Audience::Professionals {
                line.push_str(", for professionals only");
            }
            line
        })
        .collect();
    (!lines.is_empty()).then(|| lines.join(". ") + ".")
}

fn with_routes(mut r: Value, routes: &[&ContactRoute]) -> Value {
    let (telecom, times) = (telecom(routes), available_times(routes));
    if !telecom.is_empty() {
        r["telecom"] = Value::from(telecom);
    }
    if !times.is_empty() {
        r["availableTime"] = Value::from(times);
    }
    if let Some(note) = availability_note(routes) {
        r["availabilityExceptions"] = json!(note);
    }
    r
}

/// A professional in their organisation, with how to reach them.
pub fn practitioner_role(u: &User, routes: &[ContactRoute]) -> Option<Value> {
    let org = u.org()?;
    let own: Vec<&ContactRoute> =
        routes.iter().filter(|r| r.holder == RouteHolder::Professional { user: u.id }).collect();
    let mut r = json!({
        "resourceType": "PractitionerRole",
        "id": u.id.to_string(),
        "active": !u.disabled,
        "practitioner": { "reference": format!("Practitioner/{}", u.id), "display": u.name },
        "organization": { "reference": format!("Organization/{org}") },
    });
    if let Some(p) = u.profession() {
        r["code"] = json!([{ "coding": [{ "system": SAMMEN_SYSTEM, "code": word(&p) }], "text": word(&p) }]);
    }
    Some(with_routes(r, &own))
}

/// A role at an organisation that can be reached as such ("the psychiatrist responsible
/// at the outpatient clinic"), whoever fills it: the organisation's id and a digest of
/// the role's name make its id.
pub fn role(org: OrgId, name: &str, routes: &[ContactRoute]) -> Value {
    let digest = Sha256::digest(name.as_bytes());
    let own: Vec<&ContactRoute> = routes
        .iter()
        .filter(|r| matches!(&r.holder, RouteHolder::Role { org: o, role } if *o == org && role == name))
        .collect();
    let r = json!({
        "resourceType": "PractitionerRole",
        "id": format!("{}{}", org.as_uuid().simple(), hex::encode(&digest[..16])),
        "active": true,
        "organization": { "reference": format!("Organization/{org}") },
        "code": [{ "text": name }],
    });
    with_routes(r, &own)
}

/// Every professional's role, and every organisation role someone set routes for.
pub fn practitioner_roles(staff: &[User], routes: &[ContactRoute]) -> Vec<Value> {
    let mut out: Vec<Value> = staff.iter().filter_map(|u| practitioner_role(u, routes)).collect();
    let mut seen: Vec<(OrgId, &str)> = Vec::new();
    for r in routes {
        if let RouteHolder::Role { org, role: name } = &r.holder {
            if !seen.contains(&(*org, name.as_str())) {
                seen.push((*org, name));
                out.push(role(*org, name, routes));
            }
        }
    }
    out
}

pub fn practitioner(u: &User) -> Value {
    json!({
        "resourceType": "Practitioner",
        "id": u.id.to_string(),
        "active": !u.disabled,
        "name": [{ "text": u.name }],
        "qualification": u.profession().map(|p| vec![json!({ "code": { "text": word(&p) } })]).unwrap_or_default(),
    })
}

pub fn care_plan(c: &CourseView) -> Value {
    let course = &c.course;
    let p = course.patient;
    let status = match course.status {
        CourseStatus::Open => "active",
        CourseStatus::Closed => "completed",
    };
    let mut r = json!({
        "resourceType": "CarePlan",
        "id": compound_id(p, &course.id),
        "meta": { "versionId": course.version.to_string(), "lastUpdated": instant(course.updated_at) },
        "status": status,
        "intent": "plan",
        "subject": patient_ref(p),
        "period": { "start": date(course.started_on) },
        "created": instant(course.opened_at),
    });
    // A title the reader may not see is left out (the policy emptied it).
    if !course.title.is_empty() {
        r["title"] = json!(course.title);
    }
    if !course.reason.is_empty() {
        r["description"] = json!(course.reason);
    }
    if let Some(org) = course.opened_org {
        r["author"] = json!({ "reference": format!("Organization/{org}") });
    }
    r["careTeam"] = json!([{ "reference": format!("CareTeam/{}", compound_id(p, &course.id)) }]);
    let conditions: Vec<Value> = super::clinical::diagnoses(c)
        .map(|e| json!({ "reference": format!("Condition/{}", compound_id(p, &e.id)) }))
        .collect();
    if !conditions.is_empty() {
        r["addresses"] = Value::from(conditions);
    }
    let goals: Vec<Value> =
        course.care.goals.iter().map(|g| json!({ "reference": format!("Goal/{}", compound_id(p, &g.id)) })).collect();
    if !goals.is_empty() {
        r["goal"] = Value::from(goals);
    }
    let activities: Vec<Value> = course
        .care
        .steps
        .iter()
        .map(|s| json!({ "reference": { "reference": format!("Task/{}", compound_id(p, &s.id)) } }))
        .collect();
    if !activities.is_empty() {
        r["activity"] = Value::from(activities);
    }
    if !c.withheld.is_empty() {
        let n: usize = c.withheld.iter().map(|w| w.items).sum();
        r["note"] = json!([{ "text": format!("{n} item(s) on this course are not shared with you.") }]);
    }
    r
}

pub fn goal(c: &CourseView, g: &Goal, staff: &Directory) -> Value {
    let p = c.course.patient;
    let lifecycle = match g.status {
        GoalStatus::Proposed => "proposed",
        GoalStatus::Agreed => "active",
        GoalStatus::Achieved => "completed",
        GoalStatus::Dropped => "cancelled",
    };
    let mut r = json!({
        "resourceType": "Goal",
        "id": compound_id(p, &g.id),
        "meta": meta(g.meta.at, c),
        "lifecycleStatus": lifecycle,
        "category": [{ "coding": [{ "system": SAMMEN_SYSTEM, "code": format!("goal-{}", word(&g.kind)) }] }],
        "description": { "text": g.text },
        "subject": patient_ref(p),
        "expressedBy": author_ref(g.meta.by, p, staff),
        "extension": [{ "url": COURSE_EXTENSION, "valueReference": care_plan_ref(p, c.course.id) }],
    });
    if g.status == GoalStatus::Achieved {
        r["achievementStatus"] = json!({ "coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/goal-achievement", "code": "achieved" }] });
    }
    r
}

/// FHIR's Task.status for a step's status.
pub fn task_status(s: StepStatus) -> &'static str {
    match s {
        StepStatus::Planned => "requested",
        StepStatus::Booked => "accepted",
        StepStatus::InProgress => "in-progress",
        StepStatus::Done | StepStatus::DidNotHelp => "completed",
        StepStatus::Cancelled => "cancelled",
    }
}

pub fn task(c: &CourseView, s: &Step) -> Value {
    let p = c.course.patient;
    let owner = owner_ref(&s.owner);
    let mut period = json!({ "end": date(s.due_by) });
    if let Some(from) = s.due_from {
        period["start"] = json!(date(from));
    }
    let mut r = json!({
        "resourceType": "Task",
        "id": compound_id(p, &s.id),
        "meta": meta(s.meta.at, c),
        "basedOn": [care_plan_ref(p, c.course.id)],
        "status": task_status(s.status),
        "intent": "plan",
        "code": { "coding": [{ "system": SAMMEN_SYSTEM, "code": format!("step-{}", word(&s.kind)) }] },
        "description": s.title,
        "for": patient_ref(p),
        "authoredOn": instant(s.meta.at),
        "owner": owner,
        "restriction": { "period": period },
    });
    if s.status == StepStatus::DidNotHelp {
        r["statusReason"] = json!({ "text": "Did not help" });
    }
    if !s.reason.is_empty() {
        r["reasonCode"] = json!({ "text": s.reason });
    }
    r
}

pub fn observation(c: &CourseView, m: &Measurement, staff: &Directory) -> Value {
    let p = c.course.patient;
    let mut r = json!({
        "resourceType": "Observation",
        "id": compound_id(p, &m.id),
        "status": "final",
        "category": [{ "coding": [{ "system": OBSERVATION_CATEGORY, "code": "survey" }] }],
        "effectiveDateTime": date(m.on),
    });
    // The parts that are already `Value`s are moved in (`json!` would copy them through
    // serde): a search maps every one of a patient's observations.
    r["meta"] = meta(m.meta.at, c);
    r["basedOn"] = Value::from(vec![care_plan_ref(p, c.course.id)]);
    r["subject"] = patient_ref(p);
    r["performer"] = Value::from(vec![author_ref(m.meta.by, p, staff)]);
    match m.pain {
        Some(pain) => {
            r["code"] = json!({ "coding": [{ "system": LOINC, "code": PAIN_CODE,
                "display": "Pain severity - 0-10 verbal numeric rating [Score] - Reported" }] });
            r["valueInteger"] = json!(pain);
        }
        None => {
            r["code"] = json!({ "coding": [{ "system": SAMMEN_SYSTEM, "code": "psfs",
                "display": "Patient-Specific Functional Scale" }] });
        }
    }
    let components: Vec<Value> =
        m.activities.iter().map(|a| json!({ "code": { "text": a.activity }, "valueInteger": a.score })).collect();
    if !components.is_empty() {
        r["component"] = Value::from(components);
    }
    r
}

/// A course's care team: each organisation and professional on it, with their role.
pub fn care_team(c: &CourseView) -> Value {
    let course = &c.course;
    let p = course.patient;
    let participants: Vec<Value> = course
        .team
        .iter()
        .map(|m| {
            let role = json!([{ "text": m.role }]);
            let since = json!({ "start": instant(m.joined_at) });
            match m.member {
                TeamMember::Professional { user, org } => json!({
                    "role": role, "period": since,
                    "member": { "reference": format!("Practitioner/{user}") },
                    "onBehalfOf": { "reference": format!("Organization/{org}") },
                }),
                TeamMember::Organisation { org } => json!({
                    "role": role, "period": since, "member": { "reference": format!("Organization/{org}") },
                }),
            }
        })
        .collect();
    let mut r = json!({
        "resourceType": "CareTeam",
        "id": compound_id(p, &course.id),
        "meta": { "versionId": course.version.to_string(), "lastUpdated": instant(course.updated_at) },
        "status": if course.status == CourseStatus::Open { "active" } else { "inactive" },
        "subject": patient_ref(p),
    });
    if !participants.is_empty() {
        r["participant"] = Value::from(participants);
    }
    r
}

/// One entry of the patient's access log, shaped after IHE BALP (Basic Audit Log
/// Patterns): who (agent), on whose behalf, why (purposeOfEvent), what (entity), with
/// the patient as the subject entity.
pub fn audit_event(patient: PatientId, e: &AccessLogEntry) -> Value {
    let (subtype, action) = match e.action {
        AuditAction::Read => (Some("read"), "R"),
        AuditAction::Create | AuditAction::Import => (Some("create"), "C"),
        AuditAction::Update => (Some("update"), "U"),
        AuditAction::Query => (Some("search-type"), "E"),
        AuditAction::SignIn => (None, "E"),
    };
    let reason = match e.purpose {
        Purpose::Treatment => ("TREAT", "treatment"),
        Purpose::BreakGlass => ("ETREAT", "emergency treatment"),
        Purpose::OwnRecord => ("PATRQT", "patient requested"),
        Purpose::OnBehalf => ("PWATRNY", "power of attorney"),
        Purpose::Operations => ("HOPERAT", "healthcare operations"),
    };
    let mut person = json!({
        "type": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/extra-security-role-type",
                               "code": "humanuser", "display": "human user" }] },
        "who": { "display": e.who },
        "requestor": true,
    });
    if let Some(p) = e.profession {
        person["role"] = json!([{ "text": word(&p) }]);
    }
    let mut agents = vec![person];
    if let Some(org) = &e.organisation {
        agents.push(json!({
            "type": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/v3-RoleClass",
                                   "code": "PROV", "display": "healthcare provider" }] },
            "who": { "display": org },
            "requestor": false,
        }));
    }
    let mut r = json!({
        "resourceType": "AuditEvent",
        "id": compound_id(patient, &format!("{:032x}", e.seq)),
        "meta": { "lastUpdated": instant(e.at) },
        "type": { "system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest",
                  "display": "RESTful Operation" },
        "action": action,
        "recorded": instant(e.at),
        "outcome": if e.outcome == AuditOutcome::Permitted { "0" } else { "4" },
        "outcomeDesc": word(&e.outcome),
        "purposeOfEvent": [{ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/v3-ActReason",
                                          "code": reason.0, "display": reason.1 }] }],
        "agent": agents,
        "source": {
            "observer": { "display": "Sammen" },
            "type": [{ "system": "http://terminology.hl7.org/CodeSystem/security-source-type", "code": "4",
                       "display": "Application Server" }],
        },
        "entity": [
            { "what": patient_ref(patient),
              "type": { "system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "1",
                        "display": "Person" },
              "role": { "system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "1",
                        "display": "Patient" } },
            { "type": { "system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "2",
                        "display": "System Object" },
              "description": e.what },
        ],
    });
    if let Some(s) = subtype {
        r["subtype"] = json!([{ "system": "http://hl7.org/fhir/restful-interaction", "code": s }]);
    }
    r
}

/// A consent the patient gave: which organisation or sector may see which categories of
/// which course, from when until when (withdrawn or expired, it is inactive).
pub fn consent(patient: PatientId, version: u64, v: &ConsentView) -> Value {
    let c = &v.consent;
    let recipient = match &c.recipient {
        Recipient::Organisation { org } => json!({ "reference": format!("Organization/{org}") }),
        Recipient::Sector { sector } => json!({ "display": format!("sector: {}", word(sector)) }),
    };
    let ends = c.withdrawn_at.unwrap_or(c.expires_at);
    let categories: Vec<Value> = c
        .categories
        .iter()
        .map(|k| json!({ "coding": [{ "system": SAMMEN_SYSTEM, "code": format!("category-{}", word(k)) }], "text": word(k) }))
        .collect();
    let mut provision = json!({
        "type": "permit",
        "period": { "start": instant(c.given_at), "end": instant(ends) },
        "actor": [{
            "role": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                                   "code": "IRCP", "display": "information recipient" }] },
            "reference": recipient,
        }],
        "data": [{ "meaning": "related", "reference": care_plan_ref(patient, c.course) }],
    });
    if !categories.is_empty() {
        provision["code"] = Value::from(categories);
    }
    json!({
        "resourceType": "Consent",
        "id": compound_id(patient, &c.id),
        "meta": { "versionId": version.to_string(), "lastUpdated": instant(c.withdrawn_at.unwrap_or(c.given_at)) },
        "status": if v.state == ConsentState::Active { "active" } else { "inactive" },
        "scope": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/consentscope",
                                "code": "patient-privacy", "display": "Privacy Consent" }] },
        "category": [{ "coding": [{ "system": "http://loinc.org", "code": "59284-0", "display": "Patient Consent" }] }],
        "patient": patient_ref(patient),
        "dateTime": instant(c.given_at),
        "policyRule": { "text": "Sundhedsloven §43-44 (health), retssikkerhedsloven §11a (social and employment)" },
        "provision": provision,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sammen_domain::ids::ItemId;

    #[test]
    fn a_compound_id_is_both_ids_without_hyphens_and_splits_back() {
        let patient = PatientId::from_random_bytes([7; 16]);
        let item = ItemId::from_random_bytes([9; 16]);
        let id = compound_id(patient, &item);
        assert_eq!(id, format!("{}{}", patient.as_uuid().simple(), item.as_uuid().simple()));
        assert_eq!(split_id(&id), Some((patient, item.as_uuid().simple().to_string())));
        // A part that is not an id is written as it is, less its hyphens.
        assert_eq!(compound_id(patient, &"00-ff"), format!("{}00ff", patient.as_uuid().simple()));
    }
}
