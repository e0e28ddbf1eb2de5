//! The patient's log. Every change to patient data is an [`Event`] appended to the
//! patient's one log; nothing is updated in place or deleted. Current state is a fold
//! of the log (see [`crate::projection`]).

use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

use std::collections::BTreeSet;

use crate::cpr::Cpr;
use crate::ids::{CourseId, EventId, ItemId, OrgId, PatientId, ThreadId, UserId};
use crate::sharing::{ConsentMethod, GivenBy, ObjectionTarget, Recipient};
use crate::vocab::{DataCategory, LegalDomain};

/// Which aggregate an event belongs to. Each stream has its own version, which every
/// write must state (optimistic concurrency): the patient's identity is one stream, and
/// each course of treatment is another, so two professionals working on different
/// courses of one patient do not block each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "stream", content = "id", rename_all = "snake_case")]
pub enum Stream {
    Patient,
    Course(CourseId),
    /// A thread of messages about a course (see [`crate::messaging`]).
    Thread(ThreadId),
}

impl Stream {
    pub fn course(&self) -> Option<CourseId> {
        match self {
            Stream::Course(c) => Some(*c),
            Stream::Patient | Stream::Thread(_) => None,
        }
    }
}

/// Who is on a course's care team: a whole organisation, or one professional.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TeamMember {
    Organisation { org: OrgId },
    Professional { user: UserId, org: OrgId },
}

impl TeamMember {
    pub fn org(&self) -> OrgId {
        match self {
            TeamMember::Organisation { org } | TeamMember::Professional { org, .. } => *org,
        }
    }
}

/// What kind of entry a recorded item is. Goals, steps, handovers and the rest of the
/// care plan are items of their own (see [`crate::care`]); entries are the record's
/// notes and documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryType {
    Note,
    Assessment,
    Finding,
    Treatment,
    Referral,
    Admission,
    Discharge,
    Letter,
    Prescription,
    SickLeave,
    Meeting,
    /// A specialist's answer to a question, filed on the course.
    SpecialistAnswer,
}

impl EntryType {
    pub const ALL: &'static [EntryType] = &[
        EntryType::Note,
        EntryType::Assessment,
        EntryType::Finding,
        EntryType::Treatment,
        EntryType::Referral,
        EntryType::Admission,
        EntryType::Discharge,
        EntryType::Letter,
        EntryType::Prescription,
        EntryType::SickLeave,
        EntryType::Meeting,
        EntryType::SpecialistAnswer,
    ];
}

/// What happened. Tagged as `{"kind": ..., "data": {...}}` in storage and JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "data", rename_all = "snake_case")]
pub enum EventBody {
    /// The patient became known to Sammen.
    PatientRegistered {
        cpr: Cpr,
        name: String,
    },
    /// The patient's name was wrong or changed.
    IdentityCorrected {
        name: String,
        reason: String,
    },
    /// A course of treatment began.
    CourseOpened {
        title: String,
        /// Why the course exists, in professional words.
        reason: String,
        started_on: Date,
        /// The legal domain of the organisation that opened it: the course's title and
        /// reason are that domain's data.
        #[serde(default)]
        origin: LegalDomain,
    },
    CourseClosed {
        reason: String,
    },
    CourseReopened {
        reason: String,
    },
    CareTeamJoined {
        member: TeamMember,
        role: String,
    },
    CareTeamLeft {
        member: TeamMember,
        reason: String,
    },
    /// The course's key worker: the one named coordinator.
    KeyWorkerNamed {
        user: UserId,
    },
    /// A new item on the course; the event's `item` is its id.
    EntryRecorded {
        entry_type: EntryType,
        category: DataCategory,
        title: String,
        text: String,
        occurred_on: Date,
        /// The legal domain of the organisation that recorded it (health data, social
        /// data, employment data): what may cross to other domains depends on it.
        #[serde(default)]
        origin: LegalDomain,
    },
    /// A correction to an item: the new wording replaces the old in the current view,
    /// and the old wording stays in the item's history.
    EntryCorrected {
        title: String,
        text: String,
        reason: String,
    },
    /// The item was recorded in error. It leaves the current view, not the log.
    EntryRetracted {
        reason: String,
    },
    /// The patient (or a proxy) consented to a recipient seeing categories of a course;
    /// the event's `item` is the consent's id, its actor who recorded it.
    ConsentGiven {
        recipient: Recipient,
        categories: BTreeSet<DataCategory>,
        purpose: String,
        course: CourseId,
        given_by: GivenBy,
        method: ConsentMethod,
        #[serde(with = "time::serde::rfc3339")]
        expires_at: OffsetDateTime,
    },
    ConsentWithdrawn {
        reason: String,
    },
    ObjectionRecorded {
        target: ObjectionTarget,
    },
    ObjectionWithdrawn {
        reason: String,
    },
    ProxyNamed {
        user: UserId,
        relationship: String,
    },
    ProxyRemoved {
        user: UserId,
        reason: String,
    },
    /// Something about the care plan: goals, steps, handovers, episodes, the story,
    /// advice, progress (see [`crate::care`]).
    Care(crate::care::CareRecord),
    /// Something in a thread of messages (see [`crate::messaging`]).
    Thread(crate::messaging::ThreadEvent),
    /// A health professional not on the care team opened the record in an emergency.
    BreakGlassOpened {
        reason: String,
        #[serde(with = "time::serde::rfc3339")]
        until: OffsetDateTime,
    },
}

impl EventBody {
    /// The stable name of the event kind, as stored.
    pub fn kind(&self) -> &'static str {
        match self {
            EventBody::PatientRegistered { .. } => "patient_registered",
            EventBody::IdentityCorrected { .. } => "identity_corrected",
            EventBody::CourseOpened { .. } => "course_opened",
            EventBody::CourseClosed { .. } => "course_closed",
            EventBody::CourseReopened { .. } => "course_reopened",
            EventBody::CareTeamJoined { .. } => "care_team_joined",
            EventBody::CareTeamLeft { .. } => "care_team_left",
            EventBody::KeyWorkerNamed { .. } => "key_worker_named",
            EventBody::EntryRecorded { .. } => "entry_recorded",
            EventBody::EntryCorrected { .. } => "entry_corrected",
            EventBody::EntryRetracted { .. } => "entry_retracted",
            EventBody::ConsentGiven { .. } => "consent_given",
            EventBody::ConsentWithdrawn { .. } => "consent_withdrawn",
            EventBody::ObjectionRecorded { .. } => "objection_recorded",
            EventBody::ObjectionWithdrawn { .. } => "objection_withdrawn",
            EventBody::ProxyNamed { .. } => "proxy_named",
            EventBody::ProxyRemoved { .. } => "proxy_removed",
            EventBody::BreakGlassOpened { .. } => "break_glass_opened",
            EventBody::Care(r) => r.event.kind(),
            EventBody::Thread(t) => t.kind(),
        }
    }
}

/// An event as decided by the domain, before storage gives it its place in the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewEvent {
    pub id: EventId,
    pub stream: Stream,
    /// The stream's version after this event.
    pub version: u64,
    pub item: Option<ItemId>,
    #[serde(with = "time::serde::rfc3339")]
    pub recorded_at: OffsetDateTime,
    pub actor: UserId,
    pub org: Option<OrgId>,
    pub category: DataCategory,
    pub body: EventBody,
}

/// An event in the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub patient: PatientId,
    /// Position in the patient's whole log, from 1, without gaps.
    pub seq: u64,
    #[serde(flatten)]
    pub event: NewEvent,
}

impl std::ops::Deref for Event {
    type Target = NewEvent;
    fn deref(&self) -> &NewEvent {
        &self.event
    }
}
