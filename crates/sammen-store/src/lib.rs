//! The storage trait every engine implements ([`Store`]), the plain row shapes both
//! engines decode ([`rows`]), and one conformance suite they all pass ([`conformance`],
//! behind the `conformance` feature).
//!
//! Storage knows tables and transactions; it does not know rules. It is given events
//! and the projections the domain folded from them, and its promise is that both land
//! together or not at all, and that a stale version changes nothing.

use async_trait::async_trait;
use std::fmt;
use thiserror::Error;
use time::{Date, OffsetDateTime};

use sammen_domain::audit::{AuditDraft, AuditEntry, AuditHead};
use sammen_domain::contact::ContactRoute;
use sammen_domain::cpr::Cpr;
use sammen_domain::directory::{ApiToken, Organisation, User};
use sammen_domain::event::{Event, NewEvent, Stream, TeamMember};
use sammen_domain::ids::{CourseId, ItemId, OrgId, PatientId, ThreadId, UserId};
use sammen_domain::messaging::ThreadState;
use sammen_domain::projection::{CourseState, CourseStatus, PatientState, Projections};
use sammen_domain::vocab::LegalDomain;
use sammen_domain::worklist::WorkItem;

mod append_group;
#[cfg(feature = "conformance")]
pub mod conformance;
mod course_states;
pub mod rows;
pub mod sql;
pub mod sql_store;
pub mod unit;

pub use sql_store::SqlStore;
pub use unit::UnitOfWork;

/// The storage engines Sammen runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Engine::Sqlite => "sqlite",
            Engine::Postgres => "postgres",
        })
    }
}

#[derive(Debug, Clone, Error)]
pub enum StoreError {
    /// Someone else wrote to the stream after the caller read it.
    #[error("version conflict: expected {expected}, found {actual}")]
    Conflict { expected: u64, actual: u64 },
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A unique thing already exists (a login, a SOR code, a CPR number).
    #[error("{0} already exists")]
    Duplicate(&'static str),
    /// Stored data that does not decode: a bug or tampering, never the caller's fault.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The database failed. The message is for the operator's log, not for clients.
    #[error("database error: {0}")]
    Backend(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The projection that an append replaces, alongside its events.
#[derive(Debug, Clone)]
pub enum Snapshot {
    Patient(PatientState),
    /// Boxed: a course's state is much larger than a patient's.
    Course(Box<CourseState>),
    Thread(Box<ThreadState>),
}

/// A message to one person that something happened on a patient's record (e.g. a
/// break-glass opening). It names the patient by id and carries no health data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub id: uuid::Uuid,
    pub recipient: UserId,
    pub patient: PatientId,
    pub at: OffsetDateTime,
    /// A stable kind, e.g. `break_glass`.
    pub kind: String,
    /// An opaque reference, e.g. `patient/<id>`.
    pub object: String,
}

/// A browser session. Only a hash of the cookie's secret is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub hash: String,
    pub user: UserId,
    /// The token every state-changing form must carry.
    pub csrf_token: String,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub ended_at: Option<OffsetDateTime>,
}

impl Session {
    pub fn is_valid_at(&self, now: OffsetDateTime) -> bool {
        self.ended_at.is_none() && self.created_at <= now && now < self.expires_at
    }
}

/// Events for one stream, with the stream's state after them.
#[derive(Debug, Clone)]
pub struct StreamWrite {
    pub stream: Stream,
    /// The stream version the writer saw; 0 when the stream is new.
    pub expected_version: u64,
    pub events: Vec<NewEvent>,
    /// The stream's state after the events.
    pub snapshot: Snapshot,
    /// The open work the stream holds after the events (see
    /// [`sammen_domain::worklist`]); replaces what it held before.
    pub work: Vec<WorkItem>,
    /// Who follows this course and has not seen these events yet (every professional
    /// of the care team but the writer). Empty for other streams.
    pub followers: Vec<UserId>,
}

/// The bytes of a file sent with a message; its description is in the message's event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub id: ItemId,
    pub thread: ThreadId,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// One atomic write to one or more streams of one patient's log: every stream must
/// still be at its expected version, or nothing is written.
#[derive(Debug, Clone)]
pub struct Append {
    pub patient: PatientId,
    pub writes: Vec<StreamWrite>,
    /// Notices the events cause, written in the same transaction.
    pub notices: Vec<Notice>,
    pub attachments: Vec<Attachment>,
    /// The write's own audit entries, chained onto the trail in the same transaction:
    /// they land with the write or not at all, and the writer waits for one commit, not
    /// two.
    pub audit: Vec<AuditDraft>,
}

impl Append {
    /// A write to one stream.
    pub fn one(patient: PatientId, write: StreamWrite) -> Self {
        Append { patient, writes: vec![write], notices: Vec::new(), attachments: Vec::new(), audit: Vec::new() }
    }

    pub fn with_notices(mut self, notices: Vec<Notice>) -> Self {
        self.notices = notices;
        self
    }
}

/// Lines for one reader's worklist, each with what the policy asks about the reader
/// and the patient: whether the reader is on the course's care team (personally or
/// through their organisation), and the patient's state, once per patient. Read in
/// one query per source, so a worklist costs a few statements, not one per patient.
#[derive(Debug, Clone)]
pub struct ForReader<T> {
    pub lines: Vec<ReaderLine<T>>,
    pub patients: std::collections::HashMap<PatientId, PatientState>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReaderLine<T> {
    pub item: T,
    /// The reader is on the care team of the line's course.
    pub on_team: bool,
}

impl<T> ForReader<T> {
    pub fn items(&self) -> impl Iterator<Item = &T> {
        self.lines.iter().map(|l| &l.item)
    }
}

/// A course a professional follows, that changed after their last look.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnseenChange {
    pub patient: PatientId,
    pub course: CourseId,
    pub title: String,
    /// Where the course's title comes from, for the policy.
    pub origin: LegalDomain,
    pub opened_org: Option<OrgId>,
    pub changed_at: OffsetDateTime,
}

/// A course in a patient's list of courses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CourseSummary {
    pub id: CourseId,
    pub title: String,
    pub status: CourseStatus,
    pub version: u64,
    /// Where the course's title comes from, for the policy: the legal domain and the
    /// organisation that opened it.
    pub origin: LegalDomain,
    pub opened_org: Option<OrgId>,
}

/// A whole patient log written at once (generated data, imports).
#[derive(Debug, Clone)]
pub struct PatientLog {
    pub patient: PatientId,
    pub events: Vec<NewEvent>,
    pub projections: Projections,
    /// The open work the projections hold.
    pub work: Vec<WorkItem>,
}

/// Which events of a patient's log to read.
#[derive(Debug, Clone, Copy, Default)]
pub struct EventFilter {
    pub course: Option<CourseId>,
    pub item: Option<ItemId>,
    /// Only events recorded after this instant.
    pub since: Option<OffsetDateTime>,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    fn engine(&self) -> Engine;
    /// Whether a write's audit entries should travel in its append ([`Append::audit`]).
    /// True where writes take turns anyway (SQLite's one write lock, appends grouped into
    /// one commit); false where appends run side by side (PostgreSQL), as the trail's
    /// head, locked until commit, would make them take turns.
    fn appends_carry_audit(&self) -> bool;
    /// The highest migration applied.
    async fn schema_version(&self) -> StoreResult<i64>;
    /// True when no organisation, user or patient exists yet.
    async fn is_empty(&self) -> StoreResult<bool>;
    /// Opens a unit of work: a store whose reads and writes all land together, or
    /// not at all (see [`unit`]). Units do not nest.
    async fn unit_of_work(&self) -> StoreResult<UnitOfWork>;

    // The directory.
    async fn add_organisation(&self, org: &Organisation) -> StoreResult<()>;
    async fn organisation(&self, id: OrgId) -> StoreResult<Option<Organisation>>;
    async fn organisations(&self) -> StoreResult<Vec<Organisation>>;
    async fn add_user(&self, user: &User) -> StoreResult<()>;
    async fn set_user_disabled(&self, id: UserId, disabled: bool) -> StoreResult<()>;
    async fn user(&self, id: UserId) -> StoreResult<Option<User>>;
    async fn user_by_login(&self, login: &str) -> StoreResult<Option<User>>;
    async fn users(&self) -> StoreResult<Vec<User>>;

    // Bearer tokens.
    async fn add_token(&self, token: &ApiToken) -> StoreResult<()>;
    /// The token with this hash and the user it was issued to, in one look-up: every
    /// request with a bearer token asks this first.
    async fn token_holder(&self, hash: &str) -> StoreResult<Option<(ApiToken, User)>>;
    async fn tokens(&self) -> StoreResult<Vec<ApiToken>>;
    /// Marks a token revoked; false if no such token or it was revoked already.
    async fn revoke_token(&self, id: &str, at: OffsetDateTime) -> StoreResult<bool>;

    // The patient log and its projections.
    /// Appends events and replaces each stream's projection and open work in one
    /// transaction, if and only if every stream is still at its expected version.
    async fn append(&self, append: Append) -> StoreResult<()>;
    async fn patient(&self, id: PatientId) -> StoreResult<Option<PatientState>>;
    async fn patient_by_cpr(&self, cpr: &Cpr) -> StoreResult<Option<PatientId>>;
    async fn course(&self, patient: PatientId, course: CourseId) -> StoreResult<Option<CourseState>>;
    async fn course_summaries(&self, patient: PatientId) -> StoreResult<Vec<CourseSummary>>;
    /// Every care team member of every course of the patient.
    async fn care_team(&self, patient: PatientId) -> StoreResult<Vec<(CourseId, TeamMember)>>;
    /// Several patients at once (missing ones are left out).
    async fn patients(&self, ids: &[PatientId]) -> StoreResult<Vec<PatientState>>;
    /// Every care team member of every course of several patients.
    async fn care_teams(&self, ids: &[PatientId]) -> StoreResult<Vec<(PatientId, CourseId, TeamMember)>>;

    // Threads of messages.
    async fn thread(&self, patient: PatientId, thread: ThreadId) -> StoreResult<Option<ThreadState>>;
    /// The threads of a course, newest first.
    async fn threads(&self, patient: PatientId, course: CourseId) -> StoreResult<Vec<ThreadState>>;
    /// The thread this user started with this client message id, if any.
    async fn thread_by_client_id(
        &self,
        patient: PatientId,
        user: UserId,
        client_id: &str,
    ) -> StoreResult<Option<ThreadId>>;
    /// An attachment's content type and bytes.
    async fn attachment(&self, patient: PatientId, id: ItemId) -> StoreResult<Option<(String, Vec<u8>)>>;

    // Worklists.
    /// Open work for this user that is shown on `today` (see
    /// [`sammen_domain::worklist::Show`]): assigned to them, to their organisation, or to
    /// them as key worker of the course; with whether they are on each course's team.
    async fn work_for(
        &self,
        user: UserId,
        org: Option<OrgId>,
        today: Date,
        limit: u32,
    ) -> StoreResult<ForReader<WorkItem>>;
    /// Courses the user follows that changed after the user's last look, newest first;
    /// with whether they are on each course's team.
    async fn unseen_changes(
        &self,
        user: UserId,
        org: Option<OrgId>,
        limit: u32,
    ) -> StoreResult<ForReader<UnseenChange>>;
    /// The courses whose care team the user is on, personally or through their
    /// organisation.
    async fn memberships(&self, user: UserId, org: Option<OrgId>) -> StoreResult<Vec<(PatientId, CourseId)>>;
    /// When the user last read or wrote this course (kept from the audit trail).
    async fn last_look(
        &self,
        patient: PatientId,
        course: CourseId,
        user: UserId,
    ) -> StoreResult<Option<OffsetDateTime>>;
    /// Events in log order.
    async fn events(&self, patient: PatientId, filter: EventFilter) -> StoreResult<Vec<Event>>;
    /// Patient ids in a stable order, a page at a time.
    async fn patient_ids(&self, after: Option<PatientId>, limit: u32) -> StoreResult<Vec<PatientId>>;
    async fn count_patients(&self) -> StoreResult<u64>;
    /// Replaces every projection of a patient, and the open work they hold, with the
    /// given ones (a rebuild).
    async fn replace_projections(
        &self,
        patient: PatientId,
        projections: &Projections,
        work: &[WorkItem],
    ) -> StoreResult<()>;
    /// Writes whole new patient logs, all in one transaction.
    async fn import(&self, logs: &[PatientLog]) -> StoreResult<()>;

    // Notices, sessions, organisation admins.
    /// The user's notices, newest first.
    async fn notices_for(&self, user: UserId, limit: u32) -> StoreResult<Vec<Notice>>;
    async fn add_session(&self, session: &Session) -> StoreResult<()>;
    async fn session(&self, hash: &str) -> StoreResult<Option<Session>>;
    async fn end_session(&self, hash: &str, at: OffsetDateTime) -> StoreResult<()>;
    async fn set_org_admin(&self, id: UserId, admin: bool) -> StoreResult<()>;
    async fn set_password(&self, id: UserId, hash: &str) -> StoreResult<()>;
    async fn password_hash(&self, id: UserId) -> StoreResult<Option<String>>;
    async fn set_user_email(&self, id: UserId, email: Option<&str>) -> StoreResult<()>;
    async fn set_user_language(&self, id: UserId, language: &str) -> StoreResult<()>;

    // How to reach people (directory data).
    /// Replaces every route of one holder (a professional, or a role at an
    /// organisation) with `routes`.
    async fn set_contact_routes(
        &self,
        holder: &sammen_domain::contact::RouteHolder,
        routes: &[ContactRoute],
    ) -> StoreResult<()>;
    async fn contact_routes(&self) -> StoreResult<Vec<ContactRoute>>;

    // The audit trail.
    /// Chains and stores the drafts, in order, in one transaction (a group commit).
    async fn append_audit(&self, drafts: &[AuditDraft]) -> StoreResult<Vec<AuditEntry>>;
    async fn audit_head(&self) -> StoreResult<AuditHead>;
    async fn audit_page(&self, after_seq: u64, limit: u32) -> StoreResult<Vec<AuditEntry>>;
    /// The patient's entries, newest first: those the per-patient index holds and those
    /// appended since it was last brought up to date.
    async fn audit_for_patient(&self, patient: PatientId, limit: u32) -> StoreResult<Vec<AuditEntry>>;
    /// Brings the per-patient index of the audit trail up to date by at most `limit`
    /// entries, in one transaction; returns how many entries it went through (fewer than
    /// `limit`: it is up to date). The index is derived from the trail, so appending
    /// never waits for it.
    async fn index_audit(&self, limit: u32) -> StoreResult<u32>;
    /// The last entry the per-patient index holds.
    async fn audit_indexed(&self) -> StoreResult<u64>;
}
