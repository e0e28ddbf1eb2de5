//! Who may read or write a patient's data: the one policy function, [`decide`].
//!
//! Every path to patient data (the JSON API, the CLI, later the web pages, FHIR and
//! exports) asks [`decide`] first and writes the answer to the audit trail. The policy
//! is two tables, kept here and printed into ARCHITECTURE.md from the same source:
//!
//! - [`ACCESS`]: what each relation to the patient may do at all;
//! - [`DATA_RULES`]: for a care team member, which data they see, by data category,
//!   the legal domain the data was recorded in, and the patient's consents.
//!
//! A permit carries a [`Filter`]; callers show only what it lets through and say what
//! was withheld.

use serde::Serialize;
use time::OffsetDateTime;

use crate::directory::{Organisation, User, UserKind};
use crate::event::TeamMember;
use crate::ids::{CourseId, OrgId, UserId};
use crate::projection::PatientState;
use crate::sharing::Consent;
use crate::vocab::{DataCategory, LegalDomain, Purpose, Sector};

/// What the reader is to this patient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    /// The patient themself.
    OwnRecord,
    /// Someone the patient named to read on their behalf.
    Proxy,
    /// The patient objects to this professional or their organisation.
    Objected,
    /// On the care team (personally or through their organisation).
    CareTeam,
    /// A health professional with an open break-glass opening.
    BreakGlass,
    /// A professional of the organisation that registered the patient, before any
    /// course names them.
    Registrar,
    /// A health professional with no relationship: may only open break-glass.
    HealthStranger,
    /// Anyone else with no relationship: the patient must stay invisible to them.
    Stranger,
    /// Runs the installation; sees no patient data.
    Operator,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// See the patient's identity and which courses they have.
    ReadPatient,
    /// See a course and its history.
    ReadCourse,
    /// Open a new course for the patient.
    OpenCourse,
    /// Change a course (entries, care team, closing).
    WriteCourse,
    /// Correct the patient's identity.
    WriteIdentity,
    /// Give or withdraw consents and objections, name or remove proxies.
    ManageSharing,
    /// See who looked at the record.
    ReadAccessLog,
    /// Open the record in an emergency.
    OpenBreakGlass,
    /// Write the patient's own story, goals and progress on a course, and agree to the
    /// team's goals.
    ContributeOwn,
}

/// One row of the access table.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct AccessRule {
    pub relation: Relation,
    pub access: &'static [Access],
    pub why: &'static str,
}

use Access::*;

/// What each relation may do at all. Anything not listed is denied.
pub const ACCESS: &[AccessRule] = &[
    AccessRule {
        relation: Relation::OwnRecord,
        access: &[ReadPatient, ReadCourse, ManageSharing, ReadAccessLog, ContributeOwn],
        why: "A patient always reaches their own record and decides who sees it.",
    },
    AccessRule {
        relation: Relation::Proxy,
        access: &[ReadPatient, ReadCourse, ReadAccessLog],
        why: "A proxy the patient named reads on the patient's behalf, and changes nothing.",
    },
    AccessRule {
        relation: Relation::Objected,
        access: &[],
        why: "The patient's objection wins over every other rule.",
    },
    AccessRule {
        relation: Relation::CareTeam,
        access: &[ReadPatient, ReadCourse, OpenCourse, WriteCourse, WriteIdentity, ManageSharing, ContributeOwn],
        why: "Care team members work on the course and record the patient's consents (written, for outside health care) and objections; only the patient names a proxy or lifts an objection; what they see is filtered by the data rules.",
    },
    AccessRule {
        relation: Relation::BreakGlass,
        access: &[ReadPatient, ReadCourse],
        why: "In an emergency a health professional may read for a limited time; it is flagged and the patient is told.",
    },
    AccessRule {
        relation: Relation::Registrar,
        access: &[ReadPatient, OpenCourse],
        why: "The organisation that registered the patient may open the first course.",
    },
    AccessRule {
        relation: Relation::HealthStranger,
        access: &[OpenBreakGlass],
        why: "A health professional not on the team may only open break-glass, stating a reason.",
    },
    AccessRule {
        relation: Relation::Stranger,
        access: &[],
        why: "No relationship: the patient stays invisible.",
    },
    AccessRule {
        relation: Relation::Operator,
        access: &[],
        why: "Operators run the installation and see no patient data.",
    },
];

/// Why an item is shown or withheld: each names a row of [`DATA_RULES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DataRule {
    Everything,
    OwnOrganisation,
    PatientsOwnWords,
    Identity,
    CrossDomainConsent,
    MentalHealthCore,
    MentalHealthConsent,
    HealthTreatment,
    SameDomain,
}

/// One row of the data table, in the order they are tried.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct DataRuleRow {
    pub rule: DataRule,
    pub reader: &'static str,
    pub data: &'static str,
    pub shown: &'static str,
    pub why: &'static str,
}

/// For a care team member: which data they see. The first row that matches decides.
pub const DATA_RULES: &[DataRuleRow] = &[
    DataRuleRow {
        rule: DataRule::Everything,
        reader: "the patient, a proxy, break-glass",
        data: "all",
        shown: "yes",
        why: "The record is the patient's; a proxy reads for them; an emergency opening is flagged and time-limited.",
    },
    DataRuleRow {
        rule: DataRule::OwnOrganisation,
        reader: "any team member",
        data: "what their own organisation recorded",
        shown: "yes",
        why: "They wrote it.",
    },
    DataRuleRow {
        rule: DataRule::PatientsOwnWords,
        reader: "team members of the legal domain it was written in",
        data: "what the patient wrote themself (their story, own goals, progress)",
        shown: "yes",
        why: "The patient writes it for those who help them; across legal domains it needs consent, as everything else.",
    },
    DataRuleRow {
        rule: DataRule::Identity,
        reader: "any team member",
        data: "identity",
        shown: "yes",
        why: "Everyone on the team must know who the patient is.",
    },
    DataRuleRow {
        rule: DataRule::CrossDomainConsent,
        reader: "any team member",
        data: "recorded in another legal domain (health, social, employment)",
        shown: "only with consent",
        why: "Nothing crosses between health, social and employment law without a consent naming the reader's organisation (or, within health care, its sector), the course and the category, given and not withdrawn or expired (Health Act §43-44, Retssikkerhedsloven §11a).",
    },
    DataRuleRow {
        rule: DataRule::MentalHealthCore,
        reader: "psychiatry or general practice",
        data: "mental health, recorded in health",
        shown: "yes",
        why: "They treat it.",
    },
    DataRuleRow {
        rule: DataRule::MentalHealthConsent,
        reader: "other health team members",
        data: "mental health, recorded in health",
        shown: "only with consent",
        why: "Mental health is sensitive: shown outside psychiatry and the GP only with explicit consent.",
    },
    DataRuleRow {
        rule: DataRule::HealthTreatment,
        reader: "health team members",
        data: "other health data",
        shown: "yes",
        why: "What current treatment needs (Health Act §41-42a); the patient may object.",
    },
    DataRuleRow {
        rule: DataRule::SameDomain,
        reader: "social or employment team members",
        data: "recorded in their own legal domain",
        shown: "yes",
        why: "Their own domain's case data.",
    },
];

/// The reader: who they are and the organisation they act for.
#[derive(Debug, Clone, Copy)]
pub struct Reader<'a> {
    pub user: &'a User,
    pub org: Option<&'a Organisation>,
}

/// What the caller loaded about the patient for this decision.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    pub patient: &'a PatientState,
    /// The course in question, if the access is to one course.
    pub course: Option<CourseId>,
    /// The care team that counts: the course's, or every course's for patient access.
    pub team: &'a [TeamMember],
    pub now: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "decision")]
pub enum Decision {
    Permit {
        relation: Relation,
        filter: Filter,
    },
    /// Refused. `hide` means the caller must not learn that the patient exists.
    Deny {
        relation: Relation,
        hide: bool,
    },
}

impl Decision {
    pub fn is_permit(&self) -> bool {
        matches!(self, Decision::Permit { .. })
    }

    /// The purpose of use the audit trail records for this decision.
    pub fn purpose(&self) -> Purpose {
        match self {
            Decision::Permit { relation: Relation::BreakGlass, .. } => Purpose::BreakGlass,
            Decision::Permit { relation: Relation::OwnRecord, .. } => Purpose::OwnRecord,
            // The patient's access log says so: someone else read, for the patient.
            Decision::Permit { relation: Relation::Proxy, .. } => Purpose::OnBehalf,
            // A refusal has no purpose of its own; the outcome column says it was refused.
            _ => Purpose::Treatment,
        }
    }
}

/// Which data a permitted reader sees.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Filter {
    /// `None`: everything (the patient, a proxy, break-glass).
    team_member: Option<Organisation>,
    course: Option<CourseId>,
    /// The consents in force for the reader's organisation now.
    consents: Vec<Consent>,
    #[serde(skip)]
    now: Option<OffsetDateTime>,
}

impl Filter {
    fn everything() -> Self {
        Filter { team_member: None, course: None, consents: Vec::new(), now: None }
    }

    /// True when nothing is filtered out.
    pub fn is_everything(&self) -> bool {
        self.team_member.is_none()
    }

    /// Whether an item is shown, and the rule that says so. `course` is the item's
    /// course (consents are per course), `origin` the legal domain it was recorded in,
    /// `author_org` the organisation that recorded it.
    pub fn shows(
        &self,
        category: DataCategory,
        origin: LegalDomain,
        author_org: Option<OrgId>,
        course: Option<CourseId>,
    ) -> (bool, DataRule) {
        let Some(org) = &self.team_member else {
            return (true, DataRule::Everything);
        };
        if author_org == Some(org.id) {
            return (true, DataRule::OwnOrganisation);
        }
        if category == DataCategory::Identity {
            return (true, DataRule::Identity);
        }
        let domain = org.legal_domain();
        let consented = || {
            let course = course.or(self.course);
            match (course, self.now) {
                (Some(course), Some(now)) => self.consents.iter().any(|c| c.covers(org, course, category, now)),
                _ => false,
            }
        };
        // What the patient writes in a health course (their pain, their story) is health
        // data: it reaches the municipality and the jobcentre as everything else does, by
        // the patient's consent.
        if origin != domain {
            return (consented(), DataRule::CrossDomainConsent);
        }
        if author_org.is_none() {
            // Only the patient (or a proxy) records without an organisation.
            return (true, DataRule::PatientsOwnWords);
        }
        if domain == LegalDomain::Health && category == DataCategory::MentalHealth {
            return if matches!(org.sector, Sector::HospitalPsychiatry | Sector::GeneralPractice) {
                (true, DataRule::MentalHealthCore)
            } else {
                (consented(), DataRule::MentalHealthConsent)
            };
        }
        if domain == LegalDomain::Health {
            (true, DataRule::HealthTreatment)
        } else {
            (true, DataRule::SameDomain)
        }
    }
}

/// Works out the reader's relation to the patient.
pub fn relation(reader: &Reader<'_>, facts: &Facts<'_>) -> Relation {
    let user = reader.user;
    let patient = facts.patient;
    match user.kind {
        UserKind::Patient { patient: own } if own == patient.id => return Relation::OwnRecord,
        UserKind::Operator => return Relation::Operator,
        _ => {}
    }
    if patient.proxies.iter().any(|p| p.user == user.id) {
        return Relation::Proxy;
    }
    let UserKind::Professional { org, .. } = user.kind else {
        return Relation::Stranger;
    };
    if patient.objections.iter().any(|o| o.applies_to(user.id, Some(org), facts.now)) {
        return Relation::Objected;
    }
    let on_team = facts.team.iter().any(|m| match m {
        TeamMember::Organisation { org: o } => *o == org,
        TeamMember::Professional { user: u, .. } => *u == user.id,
    });
    if on_team {
        return Relation::CareTeam;
    }
    let health = reader.org.is_some_and(|o| o.legal_domain() == LegalDomain::Health);
    if health && patient.break_glass.iter().any(|b| b.is_open_for(user.id, facts.now)) {
        return Relation::BreakGlass;
    }
    if patient.registered_by == Some(org) {
        return Relation::Registrar;
    }
    if health {
        Relation::HealthStranger
    } else {
        Relation::Stranger
    }
}

/// The one policy function.
pub fn decide(reader: &Reader<'_>, facts: &Facts<'_>, access: Access) -> Decision {
    let relation = relation(reader, facts);
    if reader.user.disabled {
        return Decision::Deny { relation, hide: true };
    }
    let permitted = ACCESS.iter().any(|r| r.relation == relation && r.access.contains(&access));
    if !permitted {
        // Someone with a relationship may learn that the patient exists; a stranger,
        // an operator or another patient may not.
        let hide = matches!(relation, Relation::Stranger | Relation::HealthStranger | Relation::Operator);
        return Decision::Deny { relation, hide };
    }
    let filter = match (relation, reader.org) {
        (Relation::CareTeam | Relation::Registrar, Some(org)) => team_filter(org, facts),
        _ => Filter::everything(),
    };
    Decision::Permit { relation, filter }
}

/// What a message's recipient (a professional at `org`, or anyone there when `user` is
/// `None`) would see as a member of the care team; `None` when the patient objects to
/// them, for the objection wins.
pub fn recipient_filter(org: &Organisation, user: Option<UserId>, facts: &Facts<'_>) -> Option<Filter> {
    let objected = facts.patient.objections.iter().any(|o| o.applies(user, Some(org.id), facts.now));
    (!objected).then(|| team_filter(org, facts))
}

/// What a care team member of `org` sees of this patient: the data rules with the
/// consents in force for that organisation now. `decide` gives it to team members; a
/// sender asks it of a recipient's organisation before a message goes out, so the
/// sender is told what the recipient will not receive.
pub fn team_filter(org: &Organisation, facts: &Facts<'_>) -> Filter {
    Filter {
        team_member: Some(org.clone()),
        course: facts.course,
        consents: facts
            .patient
            .consents
            .iter()
            .filter(|c| c.is_active_at(facts.now) && c.recipient.includes(org))
            .cloned()
            .collect(),
        now: Some(facts.now),
    }
}

fn word<T: Serialize>(v: T) -> String {
    serde_json::to_value(v).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default()
}

/// The policy as Markdown tables, for ARCHITECTURE.md (a test checks the doc holds it).
pub fn rules_markdown() -> String {
    let mut out = String::from("| relation | may | why |\n|---|---|---|\n");
    for r in ACCESS {
        let access: Vec<String> = r.access.iter().map(word).collect();
        let may = if access.is_empty() { "nothing".to_string() } else { access.join(", ") };
        out.push_str(&format!("| {} | {may} | {} |\n", word(r.relation), r.why));
    }
    out.push_str("\n| rule | reader | data | shown | why |\n|---|---|---|---|---|\n");
    for r in DATA_RULES {
        out.push_str(&format!("| {} | {} | {} | {} | {} |\n", word(r.rule), r.reader, r.data, r.shown, r.why));
    }
    out
}

/// The user id the audit trail records for a reader.
pub fn audit_actor(user: UserId) -> String {
    format!("user/{user}")
}

/// Something left out of a view, for the visible note.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Withheld {
    pub category: DataCategory,
    pub items: usize,
}

fn count_withheld(withheld: &mut Vec<Withheld>, category: DataCategory) {
    match withheld.iter_mut().find(|w| w.category == category) {
        Some(w) => w.items += 1,
        None => withheld.push(Withheld { category, items: 1 }),
    }
}

/// A course as this reader may see it, and what was left out. If the course's own
/// title and reason are withheld they read as empty and `plan` is in the note.
pub fn filter_course(
    course: &crate::projection::CourseState,
    filter: &Filter,
) -> (crate::projection::CourseState, Vec<Withheld>) {
    let mut view = course.clone();
    let mut withheld = Vec::new();
    if filter.is_everything() {
        return (view, withheld);
    }
    let header = filter.shows(DataCategory::Plan, course.origin, course.opened_org, Some(course.id)).0;
    if !header {
        view.title.clear();
        view.reason.clear();
        count_withheld(&mut withheld, DataCategory::Plan);
    }
    view.entries.retain(|e| {
        let shown = filter.shows(e.category, e.origin, e.org, Some(course.id)).0;
        if !shown {
            count_withheld(&mut withheld, e.category);
        }
        shown
    });
    view.care.retain_visible(
        |m| filter.shows(m.category, m.origin, m.org, Some(course.id)).0,
        |category| count_withheld(&mut withheld, category),
    );
    withheld.sort_by_key(|w| w.category);
    (view, withheld)
}

/// The events of a course this reader may see, and what was left out. An entry's
/// events take the entry's origin; the course's own events take the course's.
pub fn filter_events(
    events: Vec<crate::event::Event>,
    course: &crate::projection::CourseState,
    filter: &Filter,
) -> (Vec<crate::event::Event>, Vec<Withheld>) {
    let mut withheld = Vec::new();
    if filter.is_everything() {
        return (events, withheld);
    }
    let shown = events
        .into_iter()
        .filter(|e| {
            let origin = match &e.body {
                crate::event::EventBody::Care(record) => record.origin,
                _ => e.item.and_then(|i| course.entry(i)).map(|entry| entry.origin).unwrap_or(course.origin),
            };
            let ok = filter.shows(e.category, origin, e.org, Some(course.id)).0;
            if !ok {
                count_withheld(&mut withheld, e.category);
            }
            ok
        })
        .collect();
    withheld.sort_by_key(|w| w.category);
    (shown, withheld)
}
