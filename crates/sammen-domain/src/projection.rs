//! Current state, derived from the log. Storage keeps these projections in the same
//! transaction as the append and can rebuild them from the log at any time; both go
//! through the `apply` functions here, so they cannot disagree.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use time::{Date, OffsetDateTime};

use crate::cpr::Cpr;
use crate::event::{EntryType, Event, EventBody, NewEvent, Stream, TeamMember};
use crate::ids::{CourseId, ItemId, OrgId, PatientId, ThreadId, UserId};
use crate::messaging::ThreadState;
use crate::sharing::{BreakGlass, Consent, Objection, ProxyGrant};
use crate::vocab::{DataCategory, LegalDomain};

/// The patient's identity stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatientState {
    pub id: PatientId,
    pub cpr: Cpr,
    pub name: String,
    #[serde(with = "time::serde::rfc3339")]
    pub registered_at: OffsetDateTime,
    /// The organisation that registered the patient; it may open the first course.
    pub registered_by: Option<OrgId>,
    pub version: u64,
    /// When the patient's own stream last changed (identity, consents, objections,
    /// proxies): the time of `version`. Projections written before it was kept have
    /// none; theirs is `registered_at` until the next change.
    #[serde(default, with = "time::serde::rfc3339::option", skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<OffsetDateTime>,
    #[serde(default)]
    pub consents: Vec<Consent>,
    #[serde(default)]
    pub objections: Vec<Objection>,
    #[serde(default)]
    pub proxies: Vec<ProxyGrant>,
    #[serde(default)]
    pub break_glass: Vec<BreakGlass>,
}

impl PatientState {
    pub fn from_registration(patient: PatientId, e: &NewEvent) -> Option<Self> {
        match &e.body {
            EventBody::PatientRegistered { cpr, name } => Some(PatientState {
                id: patient,
                cpr: cpr.clone(),
                name: name.clone(),
                registered_at: e.recorded_at,
                registered_by: e.org,
                version: e.version,
                updated_at: Some(e.recorded_at),
                consents: Vec::new(),
                objections: Vec::new(),
                proxies: Vec::new(),
                break_glass: Vec::new(),
            }),
            _ => None,
        }
    }

    pub fn apply(&mut self, e: &NewEvent) {
        let at = e.recorded_at;
        match &e.body {
            EventBody::IdentityCorrected { name, .. } => self.name = name.clone(),
            EventBody::ConsentGiven { recipient, categories, purpose, course, given_by, method, expires_at } => {
                if let Some(id) = e.item {
                    self.consents.push(Consent {
                        id,
                        recipient: *recipient,
                        categories: categories.clone(),
                        purpose: purpose.clone(),
                        course: *course,
                        given_at: at,
                        given_by: *given_by,
                        method: *method,
                        recorded_by: e.actor,
                        recorded_in: e.org,
                        expires_at: *expires_at,
                        withdrawn_at: None,
                    });
                }
            }
            EventBody::ConsentWithdrawn { .. } => {
                if let Some(c) = self.consents.iter_mut().find(|c| Some(c.id) == e.item) {
                    c.withdrawn_at.get_or_insert(at);
                }
            }
            EventBody::ObjectionRecorded { target } => {
                if let Some(id) = e.item {
                    self.objections.push(Objection { id, target: *target, made_at: at, withdrawn_at: None });
                }
            }
            EventBody::ObjectionWithdrawn { .. } => {
                if let Some(o) = self.objections.iter_mut().find(|o| Some(o.id) == e.item) {
                    o.withdrawn_at.get_or_insert(at);
                }
            }
            EventBody::ProxyNamed { user, relationship } => {
                self.proxies.retain(|p| p.user != *user);
                self.proxies.push(ProxyGrant { user: *user, relationship: relationship.clone(), named_at: at });
            }
            EventBody::ProxyRemoved { user, .. } => self.proxies.retain(|p| p.user != *user),
            EventBody::BreakGlassOpened { reason, until } => self.break_glass.push(BreakGlass {
                user: e.actor,
                org: e.org,
                reason: reason.clone(),
                opened_at: at,
                until: *until,
            }),
            _ => {}
        }
        self.version = e.version;
        self.updated_at = Some(at);
    }

    /// When the patient's own stream last changed.
    pub fn last_changed(&self) -> OffsetDateTime {
        self.updated_at.unwrap_or(self.registered_at)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CourseStatus {
    Open,
    Closed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    pub member: TeamMember,
    pub role: String,
    #[serde(with = "time::serde::rfc3339")]
    pub joined_at: OffsetDateTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryStatus {
    Current,
    EnteredInError,
}

/// An item on the course as it reads now. Its earlier wordings are in the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub id: ItemId,
    pub entry_type: EntryType,
    pub category: DataCategory,
    /// The legal domain it was recorded in.
    #[serde(default)]
    pub origin: LegalDomain,
    pub title: String,
    pub text: String,
    pub occurred_on: Date,
    #[serde(with = "time::serde::rfc3339")]
    pub recorded_at: OffsetDateTime,
    pub recorded_by: UserId,
    pub org: Option<OrgId>,
    pub status: EntryStatus,
    /// 1 when first recorded; one more for each correction or retraction.
    pub revision: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub changed_at: OffsetDateTime,
}

/// One course of treatment as it stands now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CourseState {
    pub id: CourseId,
    pub patient: PatientId,
    pub title: String,
    pub reason: String,
    pub started_on: Date,
    pub status: CourseStatus,
    /// The legal domain of the organisation that opened the course.
    #[serde(default)]
    pub origin: LegalDomain,
    #[serde(with = "time::serde::rfc3339")]
    pub opened_at: OffsetDateTime,
    pub opened_by: UserId,
    /// The organisation that opened the course.
    #[serde(default)]
    pub opened_org: Option<OrgId>,
    /// The one named coordinator for the course, if named.
    #[serde(default)]
    pub key_worker: Option<UserId>,
    pub team: Vec<Membership>,
    pub entries: Vec<Entry>,
    #[serde(default)]
    pub care: crate::care::Care,
    pub version: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl CourseState {
    pub fn from_opening(patient: PatientId, e: &NewEvent) -> Option<Self> {
        match (&e.body, e.stream) {
            (EventBody::CourseOpened { title, reason, started_on, origin }, Stream::Course(id)) => Some(CourseState {
                id,
                patient,
                title: title.clone(),
                reason: reason.clone(),
                started_on: *started_on,
                status: CourseStatus::Open,
                origin: *origin,
                opened_at: e.recorded_at,
                opened_by: e.actor,
                opened_org: e.org,
                key_worker: None,
                team: Vec::new(),
                entries: Vec::new(),
                care: crate::care::Care::default(),
                version: e.version,
                updated_at: e.recorded_at,
            }),
            _ => None,
        }
    }

    pub fn entry(&self, id: ItemId) -> Option<&Entry> {
        self.entries.iter().find(|e| e.id == id)
    }

    /// Whether an item with this id is on the course: an entry or a care plan item.
    pub fn has_item(&self, id: ItemId) -> bool {
        self.item_source(id).is_some()
    }

    /// What the policy needs to know of an item: its data category, the legal domain it
    /// was recorded in, and the organisation that recorded it.
    pub fn item_source(&self, id: ItemId) -> Option<(DataCategory, LegalDomain, Option<OrgId>)> {
        if let Some(e) = self.entry(id) {
            return Some((e.category, e.origin, e.org));
        }
        self.care.meta(id).map(|m| (m.category, m.origin, m.org))
    }

    pub fn is_on_team(&self, member: &TeamMember) -> bool {
        self.team.iter().any(|m| &m.member == member)
    }

    /// Folds one event of this course into the state. Events were validated when they
    /// were decided, so an event that does not fit (which only a corrupted log could
    /// hold) changes nothing but the version.
    pub fn apply(&mut self, e: &NewEvent) {
        match &e.body {
            EventBody::CourseClosed { .. } => self.status = CourseStatus::Closed,
            EventBody::CourseReopened { .. } => self.status = CourseStatus::Open,
            EventBody::CareTeamJoined { member, role } if !self.is_on_team(member) => {
                self.team.push(Membership { member: *member, role: role.clone(), joined_at: e.recorded_at });
            }
            EventBody::CareTeamLeft { member, .. } => self.team.retain(|m| &m.member != member),
            EventBody::KeyWorkerNamed { user } => self.key_worker = Some(*user),
            EventBody::Care(record) => {
                let meta = crate::care::ItemMeta {
                    category: e.category,
                    origin: record.origin,
                    org: e.org,
                    by: e.actor,
                    at: e.recorded_at,
                };
                if let crate::care::Effect::KeyWorker(user) = self.care.apply(e.item, meta, record) {
                    self.key_worker = Some(user);
                }
            }
            EventBody::EntryRecorded { entry_type, category, title, text, occurred_on, origin } => {
                if let Some(id) = e.item {
                    self.entries.push(Entry {
                        id,
                        entry_type: *entry_type,
                        category: *category,
                        origin: *origin,
                        title: title.clone(),
                        text: text.clone(),
                        occurred_on: *occurred_on,
                        recorded_at: e.recorded_at,
                        recorded_by: e.actor,
                        org: e.org,
                        status: EntryStatus::Current,
                        revision: 1,
                        changed_at: e.recorded_at,
                    });
                }
            }
            EventBody::EntryCorrected { title, text, .. } => {
                if let Some(entry) = self.entry_mut(e.item) {
                    entry.title = title.clone();
                    entry.text = text.clone();
                    entry.revision += 1;
                    entry.changed_at = e.recorded_at;
                }
            }
            EventBody::EntryRetracted { .. } => {
                if let Some(entry) = self.entry_mut(e.item) {
                    entry.status = EntryStatus::EnteredInError;
                    entry.revision += 1;
                    entry.changed_at = e.recorded_at;
                }
            }
            // Patient-stream events never reach a course.
            _ => {}
        }
        self.version = e.version;
        self.updated_at = e.recorded_at;
    }

    fn entry_mut(&mut self, id: Option<ItemId>) -> Option<&mut Entry> {
        let id = id?;
        self.entries.iter_mut().find(|e| e.id == id)
    }
}

/// Everything derived from one patient's log.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Projections {
    pub patient: Option<PatientState>,
    pub courses: BTreeMap<CourseId, CourseState>,
    pub threads: BTreeMap<ThreadId, ThreadState>,
}

impl Projections {
    /// Folds a patient's whole log, in order, into current state. This is what
    /// `sammen rebuild-projections` runs.
    pub fn fold<'a>(patient: PatientId, events: impl IntoIterator<Item = &'a Event>) -> Self {
        let mut p = Projections::default();
        for e in events {
            p.apply(patient, e);
        }
        p
    }

    pub fn apply(&mut self, patient: PatientId, e: &NewEvent) {
        match e.stream {
            Stream::Patient => match &mut self.patient {
                Some(state) => state.apply(e),
                None => self.patient = PatientState::from_registration(patient, e),
            },
            Stream::Course(id) => match self.courses.get_mut(&id) {
                Some(course) => course.apply(e),
                None => {
                    if let Some(course) = CourseState::from_opening(patient, e) {
                        self.courses.insert(id, course);
                    }
                }
            },
            Stream::Thread(id) => match self.threads.get_mut(&id) {
                Some(thread) => thread.apply(e),
                None => {
                    if let Some(thread) = ThreadState::from_start(patient, e) {
                        self.threads.insert(id, thread);
                    }
                }
            },
        }
    }
}
