//! Decisions: a command and the current state in, the events to append out, or a
//! clear refusal. Nothing here does IO, so every rule is tested without a database.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use time::{Date, OffsetDateTime};

use crate::care::{
    ActivityScore, CareEvent, CareRecord, EpisodeKind, GoalKind, GoalStatus, HandoverSubject, MinutesDecision, Owner,
    Referral, StepKind, StepStatus, StoryText,
};
use crate::clock::{danish_day, IdSource};
use crate::cpr::Cpr;
use crate::directory::required_text;
use crate::error::{DomainError, Reason};
use crate::event::{EntryType, EventBody, NewEvent, Stream, TeamMember};
use crate::ids::{CourseId, EventId, ItemId, OrgId, PatientId, UserId};
use crate::projection::{CourseState, CourseStatus, EntryStatus, PatientState};
use crate::sharing::{self, ConsentMethod, GivenBy, ObjectionTarget, Recipient};
use crate::vocab::{DataCategory, LegalDomain};

pub const MAX_TITLE: usize = 200;
pub const MAX_REASON: usize = 2_000;
pub const MAX_TEXT: usize = 20_000;
pub const MAX_NAME: usize = 200;

/// Who acts, where and when: stamped on every event a decision makes.
pub struct Context<'a> {
    pub actor: UserId,
    pub org: Option<OrgId>,
    /// The legal domain the actor works in; a patient writes in the health domain.
    pub domain: LegalDomain,
    pub now: OffsetDateTime,
    pub ids: &'a dyn IdSource,
}

impl Context<'_> {
    pub(crate) fn event(
        &self,
        stream: Stream,
        version: u64,
        item: Option<ItemId>,
        category: DataCategory,
        body: EventBody,
    ) -> NewEvent {
        NewEvent {
            id: EventId::from_random_bytes(self.ids.random_bytes()),
            stream,
            version,
            item,
            recorded_at: self.now,
            actor: self.actor,
            org: self.org,
            category,
            body,
        }
    }

    fn today(&self) -> Date {
        danish_day(self.now)
    }
}

/// Registers a new patient. Returns the new id and the registration event.
pub fn register_patient(ctx: &Context<'_>, cpr: Cpr, name: &str) -> Result<(PatientId, NewEvent), DomainError> {
    let name = required_text("name", name, MAX_NAME)?;
    let id = PatientId::from_random_bytes(ctx.ids.random_bytes());
    let event = ctx.event(Stream::Patient, 1, None, DataCategory::Identity, EventBody::PatientRegistered { cpr, name });
    Ok((id, event))
}

pub fn correct_identity(
    ctx: &Context<'_>,
    patient: &PatientState,
    name: &str,
    reason: &str,
) -> Result<NewEvent, DomainError> {
    let name = required_text("name", name, MAX_NAME)?;
    let reason = required_text("reason", reason, MAX_REASON)?;
    Ok(ctx.event(
        Stream::Patient,
        patient.version + 1,
        None,
        DataCategory::Identity,
        EventBody::IdentityCorrected { name, reason },
    ))
}

/// What it takes to open a course of treatment.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct OpenCourse {
    pub title: String,
    pub reason: String,
    pub started_on: Date,
}

/// Opens a course. The opener's organisation joins its care team in the same write,
/// so a course is never without someone responsible.
pub fn open_course(
    ctx: &Context<'_>,
    cmd: &OpenCourse,
    opener_org: OrgId,
    role: &str,
) -> Result<(CourseId, Vec<NewEvent>), DomainError> {
    let title = required_text("title", &cmd.title, MAX_TITLE)?;
    let reason = required_text("reason", &cmd.reason, MAX_REASON)?;
    plausible_day("started_on", cmd.started_on, ctx.today())?;
    if cmd.started_on > ctx.today() {
        return Err(DomainError::field("started_on", "a course cannot start in the future"));
    }
    let id = CourseId::from_random_bytes(ctx.ids.random_bytes());
    let stream = Stream::Course(id);
    let opened = ctx.event(
        stream,
        1,
        None,
        DataCategory::Plan,
        EventBody::CourseOpened { title, reason, started_on: cmd.started_on, origin: ctx.domain },
    );
    let joined = ctx.event(
        stream,
        2,
        None,
        DataCategory::Plan,
        EventBody::CareTeamJoined {
            member: TeamMember::Organisation { org: opener_org },
            role: required_text("role", role, MAX_TITLE)?,
        },
    );
    Ok((id, vec![opened, joined]))
}

/// A change to an existing course. This is what clients send to append to a course.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum CourseChange {
    RecordEntry {
        entry_type: EntryType,
        category: DataCategory,
        title: String,
        #[serde(default)]
        text: String,
        occurred_on: Date,
    },
    CorrectEntry {
        item: ItemId,
        title: String,
        #[serde(default)]
        text: String,
        reason: String,
    },
    RetractEntry {
        item: ItemId,
        reason: String,
    },
    JoinCareTeam {
        member: TeamMember,
        role: String,
    },
    LeaveCareTeam {
        member: TeamMember,
        reason: String,
    },
    /// Names the key worker; they must be a professional on the care team.
    NameKeyWorker {
        user: UserId,
    },
    CloseCourse {
        reason: String,
    },
    ReopenCourse {
        reason: String,
    },
    // The care plan (see `crate::care`).
    SetGoal {
        goal_kind: GoalKind,
        text: String,
    },
    AgreeGoal {
        goal: ItemId,
    },
    ChangeGoalStatus {
        goal: ItemId,
        status: GoalStatus,
    },
    PlanStep {
        step_kind: StepKind,
        title: String,
        owner: Owner,
        due_from: Option<Date>,
        due_by: Date,
        reason: String,
        reason_plain: String,
        #[serde(default)]
        what_to_expect: String,
        #[serde(default)]
        if_it_does_not_help: String,
    },
    ChangeStepStatus {
        step: ItemId,
        status: StepStatus,
        #[serde(default)]
        note: String,
    },
    ProposeHandover {
        subject: HandoverSubject,
        to: Owner,
        reason: String,
        respond_by: Option<Date>,
        referral: Option<Referral>,
    },
    AcknowledgeHandover {
        handover: ItemId,
    },
    AcceptHandover {
        handover: ItemId,
    },
    DeclineHandover {
        handover: ItemId,
        reason: String,
    },
    WithdrawHandover {
        handover: ItemId,
        #[serde(default)]
        reason: String,
    },
    RecordEpisode {
        episode_kind: EpisodeKind,
        org: OrgId,
        on: Date,
        #[serde(default)]
        note: String,
    },
    ReceiveLetter {
        letter: ItemId,
        title: String,
        text: String,
    },
    WriteStory {
        story: StoryText,
    },
    GiveAdvice {
        topic: String,
        stance: String,
        #[serde(default)]
        text: String,
    },
    ResolveAdviceConflict {
        conflict: ItemId,
        stance: String,
        agreed_message: String,
    },
    RecordProgress {
        on: Date,
        pain: Option<u8>,
        #[serde(default)]
        activities: Vec<ActivityScore>,
    },
    ScheduleConference {
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
        place: String,
        agenda: String,
        participants: Vec<Owner>,
        #[serde(default)]
        patient_invited: bool,
    },
    /// The minutes of a conference; each decision becomes a goal or a step in the same
    /// write.
    RecordMinutes {
        conference: ItemId,
        minutes: String,
        #[serde(default)]
        decisions: Vec<MinutesDecision>,
    },
}

impl CourseChange {
    /// The changes a patient may make on their own course: their story, their own
    /// goals and their progress.
    pub fn is_the_patients_own(&self) -> bool {
        matches!(
            self,
            CourseChange::WriteStory { .. }
                | CourseChange::SetGoal { goal_kind: GoalKind::Personal, .. }
                | CourseChange::AgreeGoal { .. }
                | CourseChange::RecordProgress { .. }
        )
    }
}

/// What the caller looked up for a course change: the sector of an organisation the
/// change names (an episode's or a handover receiver's).
#[derive(Debug, Clone, Copy, Default)]
pub struct ChangeFacts {
    pub org_sector: Option<crate::vocab::Sector>,
}

/// The first day Sammen takes: what happened before 1900 is no part of a living
/// patient's course.
const FIRST_DAY: Date = time::macros::date!(1900 - 01 - 01);
/// How far ahead a day may be: further is a slip of the keyboard (9999-12-31).
const YEARS_AHEAD: i64 = 50;

/// A day a person could mean: from 1900 to fifty years on. Year 0 or 9999 is a typing
/// mistake, and would break the date arithmetic of deadlines and the timeline.
fn plausible_day(field: &'static str, day: Date, today: Date) -> Result<(), DomainError> {
    let last = today + time::Duration::days(YEARS_AHEAD * 365);
    if day < FIRST_DAY || day > last {
        return Err(DomainError::field(
            field,
            Reason::new("it must be a date from 1900 to {years} years from now").with("years", YEARS_AHEAD),
        ));
    }
    Ok(())
}

impl CourseChange {
    /// The days a change names, by field, to check that each is one a person could mean.
    fn days(&self) -> Vec<(&'static str, Date)> {
        match self {
            CourseChange::RecordEntry { occurred_on, .. } => vec![("occurred_on", *occurred_on)],
            CourseChange::PlanStep { due_from, due_by, .. } => {
                let mut days = vec![("due_by", *due_by)];
                days.extend(due_from.map(|d| ("due_from", d)));
                days
            }
            CourseChange::ProposeHandover { respond_by, .. } => {
                respond_by.map(|d| ("respond_by", d)).into_iter().collect()
            }
            CourseChange::RecordEpisode { on, .. } | CourseChange::RecordProgress { on, .. } => vec![("on", *on)],
            CourseChange::ScheduleConference { at, .. } => vec![("at", danish_day(*at))],
            _ => Vec::new(),
        }
    }
}

/// Decides one change to a course: the events it appends, in order (one, except for
/// a conference's minutes with their decisions). Versions follow the course's current
/// version; storage refuses them if someone else got there first.
pub fn change_course(
    ctx: &Context<'_>,
    course: &CourseState,
    change: &CourseChange,
    facts: &ChangeFacts,
) -> Result<Vec<NewEvent>, DomainError> {
    match change {
        CourseChange::RecordMinutes { conference, minutes, decisions } => {
            record_minutes(ctx, course, *conference, minutes, decisions, facts)
        }
        other => Ok(vec![change_course_once(ctx, course, other, facts)?]),
    }
}

/// The minutes and the goals and steps they decide, decided in turn on the course as
/// each leaves it, so every decision meets the same rules as when made alone.
fn record_minutes(
    ctx: &Context<'_>,
    course: &CourseState,
    conference: ItemId,
    minutes: &str,
    decisions: &[MinutesDecision],
    facts: &ChangeFacts,
) -> Result<Vec<NewEvent>, DomainError> {
    let c = course.care.conferences.iter().find(|c| c.id == conference);
    let c = c.ok_or(DomainError::NotFound { what: "conference" })?;
    if c.minutes.is_some() {
        return Err(DomainError::rejected("the conference already has minutes"));
    }
    let text = required_text("minutes", minutes, MAX_TEXT)?;
    let mut state = course.clone();
    let mut events = Vec::new();
    for decision in decisions {
        let change = match decision.clone() {
            MinutesDecision::Goal { goal_kind, text } => CourseChange::SetGoal { goal_kind, text },
            MinutesDecision::Step {
                step_kind,
                title,
                owner,
                due_from,
                due_by,
                reason,
                reason_plain,
                what_to_expect,
                if_it_does_not_help,
            } => CourseChange::PlanStep {
                step_kind,
                title,
                owner,
                due_from,
                due_by,
                reason,
                reason_plain,
                what_to_expect,
                if_it_does_not_help,
            },
        };
        let event = change_course_once(ctx, &state, &change, facts)?;
        state.apply(&event);
        events.push(event);
    }
    let decided = events.iter().filter_map(|e| e.item).collect();
    let body = EventBody::Care(CareRecord { origin: ctx.domain, event: CareEvent::MinutesRecorded { text, decided } });
    events.push(ctx.event(Stream::Course(course.id), state.version + 1, Some(conference), DataCategory::Plan, body));
    Ok(events)
}

fn change_course_once(
    ctx: &Context<'_>,
    course: &CourseState,
    change: &CourseChange,
    facts: &ChangeFacts,
) -> Result<NewEvent, DomainError> {
    for (field, day) in change.days() {
        plausible_day(field, day, ctx.today())?;
    }
    let stream = Stream::Course(course.id);
    let version = course.version + 1;
    let closed = course.status == CourseStatus::Closed;
    if closed && !matches!(change, CourseChange::ReopenCourse { .. }) {
        return Err(DomainError::rejected("the course is closed; reopen it first"));
    }
    let (item, category, body) = match change {
        CourseChange::RecordEntry { entry_type, category, title, text, occurred_on } => {
            if *category == DataCategory::Identity {
                return Err(DomainError::field("category", "identity is kept on the patient, not on a course"));
            }
            if *occurred_on > ctx.today() {
                return Err(DomainError::field("occurred_on", "it cannot be in the future"));
            }
            let body = EventBody::EntryRecorded {
                entry_type: *entry_type,
                category: *category,
                title: required_text("title", title, MAX_TITLE)?,
                text: optional_text("text", text, MAX_TEXT)?,
                occurred_on: *occurred_on,
                origin: ctx.domain,
            };
            let item = ItemId::from_random_bytes(ctx.ids.random_bytes());
            (Some(item), *category, body)
        }
        CourseChange::CorrectEntry { item, title, text, reason } => {
            let entry = current_entry(course, *item)?;
            let body = EventBody::EntryCorrected {
                title: required_text("title", title, MAX_TITLE)?,
                text: optional_text("text", text, MAX_TEXT)?,
                reason: required_text("reason", reason, MAX_REASON)?,
            };
            (Some(*item), entry.category, body)
        }
        CourseChange::RetractEntry { item, reason } => {
            let entry = current_entry(course, *item)?;
            let body = EventBody::EntryRetracted { reason: required_text("reason", reason, MAX_REASON)? };
            (Some(*item), entry.category, body)
        }
        CourseChange::JoinCareTeam { member, role } => {
            if course.is_on_team(member) {
                return Err(DomainError::rejected("they are already on the care team"));
            }
            let body = EventBody::CareTeamJoined { member: *member, role: required_text("role", role, MAX_TITLE)? };
            (None, DataCategory::Plan, body)
        }
        CourseChange::LeaveCareTeam { member, reason } => {
            if !course.is_on_team(member) {
                return Err(DomainError::NotFound { what: "care team member" });
            }
            if course.team.len() == 1 {
                return Err(DomainError::rejected("the last member cannot leave the care team of a course"));
            }
            let body =
                EventBody::CareTeamLeft { member: *member, reason: required_text("reason", reason, MAX_REASON)? };
            (None, DataCategory::Plan, body)
        }
        CourseChange::NameKeyWorker { user } => {
            if course.key_worker.is_some() {
                return Err(DomainError::rejected(
                    "the course has a key worker; changing it is a handover to the new key worker",
                ));
            }
            (None, DataCategory::Plan, EventBody::KeyWorkerNamed { user: *user })
        }
        CourseChange::CloseCourse { reason } => {
            (None, DataCategory::Plan, EventBody::CourseClosed { reason: required_text("reason", reason, MAX_REASON)? })
        }
        CourseChange::ReopenCourse { reason } => {
            if !closed {
                return Err(DomainError::rejected("the course is already open"));
            }
            (
                None,
                DataCategory::Plan,
                EventBody::CourseReopened { reason: required_text("reason", reason, MAX_REASON)? },
            )
        }
        care => crate::care::decide(ctx, course, care, facts)?,
    };
    Ok(ctx.event(stream, version, item, category, body))
}

/// A change to who may see the patient's data. Written to the patient's stream.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum SharingChange {
    GiveConsent {
        recipient: Recipient,
        categories: BTreeSet<DataCategory>,
        purpose: String,
        course: CourseId,
        given_by: GivenBy,
        method: ConsentMethod,
        #[serde(with = "time::serde::rfc3339")]
        expires_at: OffsetDateTime,
    },
    WithdrawConsent {
        consent: ItemId,
        #[serde(default)]
        reason: String,
    },
    RecordObjection {
        target: ObjectionTarget,
    },
    WithdrawObjection {
        objection: ItemId,
        #[serde(default)]
        reason: String,
    },
    NameProxy {
        user: UserId,
        relationship: String,
    },
    RemoveProxy {
        user: UserId,
        #[serde(default)]
        reason: String,
    },
}

/// What the caller looked up for a sharing change: the recipient's legal domain (for
/// a consent), whether the named proxy user exists, the patient's courses, and whether
/// the patient makes the change themself (rather than a care team member recording it).
#[derive(Debug, Clone, Default)]
pub struct SharingFacts {
    pub recipient_domain: Option<LegalDomain>,
    pub courses: Vec<CourseId>,
    pub user_exists: bool,
    pub by_the_patient: bool,
}

/// Decides one sharing change against the patient's current state.
pub fn change_sharing(
    ctx: &Context<'_>,
    patient: &PatientState,
    change: &SharingChange,
    facts: &SharingFacts,
) -> Result<NewEvent, DomainError> {
    let now = ctx.now;
    let (item, body) = match change {
        SharingChange::GiveConsent { recipient, categories, purpose, course, given_by, method, expires_at } => {
            if categories.is_empty() {
                return Err(DomainError::field("categories", "name at least one category of data"));
            }
            if !facts.courses.contains(course) {
                return Err(DomainError::NotFound { what: "course" });
            }
            let domain = facts.recipient_domain.ok_or(DomainError::NotFound { what: "recipient organisation" })?;
            if *expires_at <= now {
                return Err(DomainError::field("expires_at", "a consent must expire in the future"));
            }
            // Health Act §43-44: health data goes outside the health domain only with
            // written consent. Oral consent is for sharing within health care.
            if domain != LegalDomain::Health && *method != ConsentMethod::Written {
                return Err(DomainError::field(
                    "method",
                    "data may go outside health care only with the patient's written consent",
                ));
            }
            // Retssikkerhedsloven §11a: outside health care a blanket consent is not valid;
            // it names who may see. "Every jobcentre" names no one.
            if recipient.is_blanket_outside_health() {
                return Err(DomainError::field(
                    "recipient",
                    "outside health care a consent names one place, not every place of a kind",
                ));
            }
            let max = sharing::max_consent_for(domain);
            if *expires_at - now > max {
                let why = if domain == LegalDomain::Health {
                    Reason::new("a consent may run for at most three years")
                } else {
                    Reason::new("health data may go outside the health domain for at most one year at a time")
                };
                return Err(DomainError::field("expires_at", why));
            }
            if let GivenBy::Proxy { user } = given_by {
                if !patient.proxies.iter().any(|p| p.user == *user) {
                    return Err(DomainError::field("given_by", "that person is not a proxy the patient named"));
                }
            }
            let body = EventBody::ConsentGiven {
                recipient: *recipient,
                categories: categories.clone(),
                purpose: required_text("purpose", purpose, MAX_REASON)?,
                course: *course,
                given_by: *given_by,
                method: *method,
                expires_at: *expires_at,
            };
            (Some(ItemId::from_random_bytes(ctx.ids.random_bytes())), body)
        }
        SharingChange::WithdrawConsent { consent, reason } => {
            let c =
                patient.consents.iter().find(|c| c.id == *consent).ok_or(DomainError::NotFound { what: "consent" })?;
            if c.withdrawn_at.is_some() {
                return Err(DomainError::rejected("the consent was already withdrawn"));
            }
            (Some(*consent), EventBody::ConsentWithdrawn { reason: optional_text("reason", reason, MAX_REASON)? })
        }
        SharingChange::RecordObjection { target } => {
            let active = patient.objections.iter().any(|o| o.target == *target && o.withdrawn_at.is_none());
            if active {
                return Err(DomainError::rejected("the patient already objects to them"));
            }
            if let ObjectionTarget::Professional { .. } = target {
                if !facts.user_exists {
                    return Err(DomainError::NotFound { what: "user" });
                }
            }
            if let ObjectionTarget::Organisation { .. } = target {
                if facts.recipient_domain.is_none() {
                    return Err(DomainError::NotFound { what: "organisation" });
                }
            }
            (Some(ItemId::from_random_bytes(ctx.ids.random_bytes())), EventBody::ObjectionRecorded { target: *target })
        }
        // Widening who may see is the patient's own decision: a professional records a
        // consent the patient gave (written, outside health care), an objection or a
        // withdrawal, but never lifts an objection or names a proxy, who would then read
        // everything on the patient's behalf.
        SharingChange::WithdrawObjection { .. } if !facts.by_the_patient => {
            return Err(DomainError::rejected("only the patient can lift their objection"));
        }
        SharingChange::NameProxy { .. } if !facts.by_the_patient => {
            return Err(DomainError::rejected("only the patient can name a proxy"));
        }
        SharingChange::WithdrawObjection { objection, reason } => {
            let o = patient
                .objections
                .iter()
                .find(|o| o.id == *objection)
                .ok_or(DomainError::NotFound { what: "objection" })?;
            if o.withdrawn_at.is_some() {
                return Err(DomainError::rejected("the objection was already withdrawn"));
            }
            (Some(*objection), EventBody::ObjectionWithdrawn { reason: optional_text("reason", reason, MAX_REASON)? })
        }
        SharingChange::NameProxy { user, relationship } => {
            if !facts.user_exists {
                return Err(DomainError::NotFound { what: "user" });
            }
            if patient.proxies.iter().any(|p| p.user == *user) {
                return Err(DomainError::rejected("they are already a proxy"));
            }
            let body = EventBody::ProxyNamed {
                user: *user,
                relationship: required_text("relationship", relationship, MAX_TITLE)?,
            };
            (None, body)
        }
        SharingChange::RemoveProxy { user, reason } => {
            if !patient.proxies.iter().any(|p| p.user == *user) {
                return Err(DomainError::NotFound { what: "proxy" });
            }
            (None, EventBody::ProxyRemoved { user: *user, reason: optional_text("reason", reason, MAX_REASON)? })
        }
    };
    let category = DataCategory::Identity;
    Ok(ctx.event(Stream::Patient, patient.version + 1, item, category, body))
}

/// The reason an emergency opening states, checked on its own: before the patient is
/// even looked up, so that a short reason is refused alike for a patient who exists and
/// one who does not.
pub fn break_glass_reason(reason: &str) -> Result<String, DomainError> {
    let reason = required_text("reason", reason, MAX_REASON)?;
    if reason.chars().count() < 10 {
        return Err(DomainError::field("reason", "say in a sentence why the emergency needs this record"));
    }
    Ok(reason)
}

/// Opens the record in an emergency for a limited time. The reason is required and
/// shown to the patient.
pub fn open_break_glass(ctx: &Context<'_>, patient: &PatientState, reason: &str) -> Result<NewEvent, DomainError> {
    let reason = break_glass_reason(reason)?;
    let body = EventBody::BreakGlassOpened { reason, until: ctx.now + sharing::BREAK_GLASS };
    Ok(ctx.event(Stream::Patient, patient.version + 1, None, DataCategory::Identity, body))
}

fn current_entry(course: &CourseState, item: ItemId) -> Result<&crate::projection::Entry, DomainError> {
    let entry = course.entry(item).ok_or(DomainError::NotFound { what: "entry" })?;
    if entry.status == EntryStatus::EnteredInError {
        return Err(DomainError::rejected("the entry was marked as recorded in error and cannot change"));
    }
    Ok(entry)
}

pub(crate) fn optional_text(field: &'static str, text: &str, max: usize) -> Result<String, DomainError> {
    if text.chars().count() > max {
        return Err(DomainError::field(field, Reason::new("it must be at most {max} characters").with("max", max)));
    }
    crate::directory::printable(field, text)?;
    Ok(text.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::projection::Projections;
    use std::sync::atomic::{AtomicU64, Ordering};
    use time::macros::{date, datetime};

    /// The one event a change makes.
    fn change_one(
        ctx: &Context<'_>,
        course: &CourseState,
        change: &CourseChange,
        facts: &ChangeFacts,
    ) -> Result<NewEvent, DomainError> {
        let mut events = change_course(ctx, course, change, facts)?;
        assert_eq!(events.len(), 1);
        Ok(events.remove(0))
    }

    struct Counter(AtomicU64);
    impl IdSource for Counter {
        fn random_bytes(&self) -> [u8; 16] {
            let n = self.0.fetch_add(1, Ordering::Relaxed) + 1;
            let mut b = [0u8; 16];
            b[8..].copy_from_slice(&n.to_be_bytes());
            b
        }
    }

    fn setup() -> (Counter, OrgId) {
        let ids = Counter(AtomicU64::new(1000));
        let org = OrgId::from_random_bytes([7; 16]);
        (ids, org)
    }

    fn ctx<'a>(ids: &'a Counter, org: OrgId) -> Context<'a> {
        Context {
            actor: UserId::from_random_bytes([1; 16]),
            org: Some(org),
            domain: LegalDomain::Health,
            now: datetime!(2026-03-01 10:00 UTC),
            ids,
        }
    }

    fn opened(ctx: &Context<'_>, org: OrgId) -> CourseState {
        let (_, events) = open_course(
            ctx,
            &OpenCourse {
                title: "Low back pain".into(),
                reason: "Pain for six weeks".into(),
                started_on: date!(2026 - 01 - 15),
            },
            org,
            "general practice",
        )
        .unwrap();
        let patient = PatientId::from_random_bytes([2; 16]);
        let mut p = Projections::default();
        for e in &events {
            p.apply(patient, e);
        }
        p.courses.into_values().next().unwrap()
    }

    fn note(title: &str) -> CourseChange {
        CourseChange::RecordEntry {
            entry_type: EntryType::Note,
            category: DataCategory::ClinicalFindings,
            title: title.into(),
            text: "Examined".into(),
            occurred_on: date!(2026 - 02 - 01),
        }
    }

    #[test]
    fn opening_puts_the_opener_on_the_team() {
        let (ids, org) = setup();
        let c = ctx(&ids, org);
        let course = opened(&c, org);
        assert_eq!(course.version, 2);
        assert!(course.is_on_team(&TeamMember::Organisation { org }));
    }

    #[test]
    fn a_course_cannot_start_in_the_future() {
        let (ids, org) = setup();
        let c = ctx(&ids, org);
        let err = open_course(
            &c,
            &OpenCourse { title: "x".into(), reason: "y".into(), started_on: date!(2026 - 03 - 02) },
            org,
            "gp",
        )
        .unwrap_err();
        assert_eq!(err.code(), "invalid_field");
    }

    #[test]
    fn corrections_keep_history_in_the_log_and_change_the_view() {
        let (ids, org) = setup();
        let c = ctx(&ids, org);
        let mut course = opened(&c, org);
        let recorded = change_one(&c, &course, &note("First look"), &ChangeFacts::default()).unwrap();
        course.apply(&recorded);
        let item = recorded.item.unwrap();
        let corrected = change_one(
            &c,
            &course,
            &CourseChange::CorrectEntry {
                item,
                title: "First examination".into(),
                text: "Examined, no red flags".into(),
                reason: "typo".into(),
            },
            &ChangeFacts::default(),
        )
        .unwrap();
        assert_eq!(corrected.item, Some(item));
        assert_eq!(corrected.category, DataCategory::ClinicalFindings);
        course.apply(&corrected);
        let entry = course.entry(item).unwrap();
        assert_eq!(entry.title, "First examination");
        assert_eq!(entry.revision, 2);
        assert_eq!(course.version, 4);

        let retracted = change_one(
            &c,
            &course,
            &CourseChange::RetractEntry { item, reason: "wrong patient".into() },
            &ChangeFacts::default(),
        )
        .unwrap();
        course.apply(&retracted);
        assert_eq!(course.entry(item).unwrap().status, EntryStatus::EnteredInError);
        // A retracted entry cannot be corrected again.
        let again = change_one(
            &c,
            &course,
            &CourseChange::RetractEntry { item, reason: "again".into() },
            &ChangeFacts::default(),
        );
        assert_eq!(again.unwrap_err().code(), "rejected");
    }

    #[test]
    fn refusals() {
        let (ids, org) = setup();
        let c = ctx(&ids, org);
        let course = opened(&c, org);
        let unknown = ItemId::from_random_bytes([9; 16]);
        let cases: Vec<(CourseChange, &str)> = vec![
            (note("  "), "invalid_field"),
            (
                CourseChange::RecordEntry {
                    entry_type: EntryType::Note,
                    category: DataCategory::Identity,
                    title: "x".into(),
                    text: String::new(),
                    occurred_on: date!(2026 - 02 - 01),
                },
                "invalid_field",
            ),
            (
                CourseChange::RecordEntry {
                    entry_type: EntryType::Note,
                    category: DataCategory::Plan,
                    title: "x".into(),
                    text: String::new(),
                    occurred_on: date!(2026 - 04 - 01),
                },
                "invalid_field",
            ),
            (
                CourseChange::CorrectEntry {
                    item: unknown,
                    title: "x".into(),
                    text: String::new(),
                    reason: "r".into(),
                },
                "not_found",
            ),
            (CourseChange::JoinCareTeam { member: TeamMember::Organisation { org }, role: "again".into() }, "rejected"),
            (
                CourseChange::LeaveCareTeam { member: TeamMember::Organisation { org }, reason: "done".into() },
                "rejected",
            ),
            (CourseChange::ReopenCourse { reason: "r".into() }, "rejected"),
        ];
        for (change, code) in cases {
            let err = change_one(&c, &course, &change, &ChangeFacts::default()).unwrap_err();
            assert_eq!(err.code(), code, "{change:?}");
        }
    }

    #[test]
    fn a_closed_course_takes_only_a_reopening() {
        let (ids, org) = setup();
        let c = ctx(&ids, org);
        let mut course = opened(&c, org);
        course.apply(
            &change_one(&c, &course, &CourseChange::CloseCourse { reason: "well".into() }, &ChangeFacts::default())
                .unwrap(),
        );
        assert_eq!(change_one(&c, &course, &note("late"), &ChangeFacts::default()).unwrap_err().code(), "rejected");
        course.apply(
            &change_one(
                &c,
                &course,
                &CourseChange::ReopenCourse { reason: "pain back".into() },
                &ChangeFacts::default(),
            )
            .unwrap(),
        );
        assert_eq!(course.status, CourseStatus::Open);
        assert!(change_one(&c, &course, &note("late"), &ChangeFacts::default()).is_ok());
    }

    #[test]
    fn change_json_refuses_unknown_fields() {
        let bad = r#"{"kind":"close_course","reason":"x","extra":1}"#;
        assert!(serde_json::from_str::<CourseChange>(bad).is_err());
        let good = r#"{"kind":"close_course","reason":"x"}"#;
        assert!(serde_json::from_str::<CourseChange>(good).is_ok());
    }
}
