//! [`Store`] written once, over any [`Backend`]. Both engines run exactly these
//! statements; the engine crates supply connections, transactions and migrations.
//!
//! The write path is [`write_append`]: for each stream, a compare-and-set on the
//! stream's projection row (`UPDATE ... WHERE version = expected`; an insert for a new
//! stream), then the events at the next positions of the patient's log, the stream's
//! open work, the care team index, and the notices and attachments, all in one
//! transaction.

use std::sync::Arc;

use async_trait::async_trait;
use time::{Date, OffsetDateTime};

use sammen_domain::audit::{chain_after, AuditDraft, AuditEntry, AuditHead};
use sammen_domain::clock::{from_micros, to_micros};
use sammen_domain::contact::{ContactRoute, RouteHolder};
use sammen_domain::cpr::Cpr;
use sammen_domain::directory::{ApiToken, Organisation, User};
use sammen_domain::event::{Event, EventBody, NewEvent, Stream, TeamMember};
use sammen_domain::ids::{CourseId, ItemId, OrgId, PatientId, ThreadId, UserId};
use sammen_domain::messaging::ThreadState;
use sammen_domain::projection::{CourseState, PatientState, Projections};
use sammen_domain::worklist::{Assignee, WorkItem};

use crate::append_group::AppendGroup;
use crate::args;
use crate::course_states::{new_stamp, CourseStates};
use crate::rows::{self, *};
use crate::sql::{
    fetch_all, fetch_optional, fetch_scalar, placeholders, values_list, Backend, FromRow, FromVal, Row, Sql, SqlError,
    Val,
};
use crate::{
    Append, CourseSummary, Engine, EventFilter, ForReader, Notice, PatientLog, ReaderLine, Session, Snapshot, Store,
    StoreError, StoreResult, StreamWrite, UnseenChange,
};

/// Rows written per multi-row `INSERT`.
const CHUNK: usize = 400;

/// A course's stored state is a snapshot (migration 0008), rewritten by a change only
/// once this many events have gathered after it; a read folds the events after the
/// snapshot onto it. Rewriting it on every change cost as much as the course is long
/// (the whole state, every measurement in it, for each new measurement); now a change
/// costs that once in this many, and a read that misses the cache folds at most this
/// many events. See BENCHMARKS.md, "Course states kept as snapshots".
pub(crate) const SNAPSHOT_EVERY: u64 = 32;

/// The store on one engine.
pub struct SqlStore<B: Backend> {
    backend: B,
    appends: AppendGroup,
    states: Arc<CourseStates>,
    /// For a unit of work's store, the course states its own writes left; `None` for a
    /// store whose reads see only what is committed, so that a state folded from the
    /// log may be kept for the snapshot's stamp (see [`Store::course`]).
    unit: Option<UnitCourses>,
}

/// The course states a unit of work wrote, each the whole course after the unit's last
/// change to it. Nothing else changes a course while the unit holds it: on SQLite the
/// unit holds the one write connection, on PostgreSQL its change holds the course's row
/// locked (or the row is the unit's own, uncommitted). A read in the unit takes the
/// state from here when its version is the course's, rather than folding the unit's
/// events onto the snapshot again at every step of a Bundle. Gone with the unit.
#[derive(Default)]
struct UnitCourses(std::sync::Mutex<std::collections::HashMap<CourseId, CourseState>>);

impl UnitCourses {
    /// The unit's own state of the course, if it is the one at `version`.
    fn at(&self, course: CourseId, version: i64) -> Option<CourseState> {
        let held = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        held.get(&course).filter(|state| i64_of(state.version) == version).cloned()
    }

    /// Keeps the course states of an append the unit has written.
    fn keep(&self, append: Append) {
        let mut held = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        for w in append.writes {
            if let Snapshot::Course(state) = w.snapshot {
                held.insert(state.id, *state);
            }
        }
    }
}

impl<B: Backend> SqlStore<B> {
    pub fn new(backend: B) -> Self {
        SqlStore { backend, appends: AppendGroup::default(), states: Arc::default(), unit: None }
    }

    /// A unit of work's store over `backend`, sharing its store's decoded course states.
    /// The cache is keyed on the stamp each write of a snapshot draws afresh, so a
    /// snapshot a unit writes can never be mistaken for what is committed. But the unit
    /// reads its own events before they are committed: a state folded from them is not
    /// kept, or a unit that rolls back would leave it standing for the committed stamp.
    /// What the unit wrote it keeps to itself ([`UnitCourses`]).
    pub(crate) fn for_unit(backend: B, states: Arc<CourseStates>) -> Self {
        SqlStore { backend, appends: AppendGroup::default(), states, unit: Some(UnitCourses::default()) }
    }

    pub fn backend(&self) -> &B {
        &self.backend
    }

    async fn read(&self) -> StoreResult<Box<dyn Sql>> {
        self.backend.reader().await
    }
}

/// A unique violation is reported as `what` already existing; anything else fails.
fn unique(what: &'static str) -> impl Fn(SqlError) -> StoreError {
    move |e| match e {
        SqlError::Unique => StoreError::Duplicate(what),
        other => other.into(),
    }
}

fn conflict_or_missing(expected: u64, actual: Option<i64>, what: &'static str) -> StoreError {
    match actual {
        Some(v) => StoreError::Conflict { expected, actual: u64_of(v) },
        None => StoreError::NotFound(what),
    }
}

/// The columns of `courses`: what lists and worklists need, without the state.
fn course_columns(c: &CourseState) -> Vec<Val> {
    args![
        i64_of(c.version),
        c.title.as_str(),
        course_status_text(c.status),
        to_micros(c.updated_at),
        c.key_worker.map(|u| u.to_string()),
        c.origin.as_str(),
        c.opened_org.map(|o| o.to_string()),
    ]
}

/// Inserts a new course; `states`, if given, keeps its decoded state (not for bulk
/// writes such as an import, which would only push out the states in use).
async fn insert_course(
    tx: &mut dyn Sql,
    patient: &str,
    c: &CourseState,
    states: Option<&CourseStates>,
) -> StoreResult<()> {
    let mut a = args![patient, c.id.to_string()];
    a.extend(course_columns(c));
    let r = tx
        .execute(
            "INSERT INTO courses (patient_id, course_id, version, title, status, updated_at, key_worker, origin, opened_org) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            a,
        )
        .await;
    match r {
        Err(SqlError::Unique) => return Err(StoreError::Conflict { expected: 0, actual: 1 }),
        Err(SqlError::ForeignKey) => return Err(StoreError::NotFound("patient")),
        other => other?,
    };
    let (stamp, text) = (new_stamp(), to_json(c)?);
    tx.execute(
        "INSERT INTO course_states (patient_id, course_id, stamp, version, state) VALUES ($1, $2, $3, $4, $5)",
        args![patient, c.id.to_string(), stamp, i64_of(c.version), text.as_str()],
    )
    .await?;
    if let Some(states) = states {
        states.keep(c.id, stamp, &text, c.clone());
    }
    Ok(())
}

async fn insert_thread(tx: &mut dyn Sql, patient: &str, t: &ThreadState) -> StoreResult<()> {
    let client_id = t.messages.first().and_then(|m| m.body.client_id.clone());
    let r = tx
        .execute(
            "INSERT INTO threads (patient_id, thread_id, course_id, version, started_by, client_id, updated_at, state) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            args![
                patient,
                t.id.to_string(),
                t.course.to_string(),
                i64_of(t.version),
                t.started_by.to_string(),
                client_id,
                to_micros(t.updated_at),
                to_json(t)?
            ],
        )
        .await;
    match r {
        Err(SqlError::Unique) => Err(StoreError::Duplicate("a message with this client message id")),
        Err(SqlError::ForeignKey) => Err(StoreError::NotFound("patient")),
        other => other.map(|_| ()).map_err(Into::into),
    }
}

/// Compare-and-set on a stream's projection row, or its insert for a new stream. For a
/// change to a course that leaves its snapshot as it was, returns the snapshot's stamp:
/// once committed, the state written may be kept under it (see [`Settled`]).
async fn write_snapshot(
    tx: &mut dyn Sql,
    patient: &str,
    w: &StreamWrite,
    states: &CourseStates,
) -> StoreResult<Option<i64>> {
    let new_version = i64_of(w.expected_version + w.events.len() as u64);
    let expected = i64_of(w.expected_version);
    let mut settled = None;
    let (changed, what, current) = match &w.snapshot {
        Snapshot::Patient(state) if w.expected_version == 0 => {
            tx.execute(
                "INSERT INTO patients (patient_id, cpr, version, last_seq, state) VALUES ($1, $2, $3, 0, $4)",
                args![patient, state.cpr.expose(), new_version, to_json(state)?],
            )
            .await
            .map_err(unique("a patient with this CPR number"))?;
            return Ok(None);
        }
        Snapshot::Course(state) if w.expected_version == 0 => {
            return insert_course(tx, patient, state, Some(states)).await.map(|_| None)
        }
        Snapshot::Thread(state) if w.expected_version == 0 => {
            return insert_thread(tx, patient, state).await.map(|_| None)
        }
        Snapshot::Patient(state) => {
            let n = tx
                .execute(
                    "UPDATE patients SET version = $1, state = $2 WHERE patient_id = $3 AND version = $4",
                    args![new_version, to_json(state)?, patient, expected],
                )
                .await?;
            (n, "patient", ("SELECT version FROM patients WHERE patient_id = $1", args![patient]))
        }
        Snapshot::Course(state) => {
            let mut a = course_columns(state);
            a.extend(args![patient, state.id.to_string(), expected]);
            let n = tx
                .execute(
                    "UPDATE courses SET version = $1, title = $2, status = $3, updated_at = $4, \
                     key_worker = $5, origin = $6, opened_org = $7 \
                     WHERE patient_id = $8 AND course_id = $9 AND version = $10",
                    a,
                )
                .await?;
            if n > 0 {
                settled = write_course_snapshot(tx, patient, state, new_version, states).await?;
            }
            let q = "SELECT version FROM courses WHERE patient_id = $1 AND course_id = $2";
            (n, "course", (q, args![patient, state.id.to_string()]))
        }
        Snapshot::Thread(state) => {
            let n = tx
                .execute(
                    "UPDATE threads SET version = $1, updated_at = $2, state = $3 \
                     WHERE patient_id = $4 AND thread_id = $5 AND version = $6",
                    args![
                        new_version,
                        to_micros(state.updated_at),
                        to_json(state)?,
                        patient,
                        state.id.to_string(),
                        expected
                    ],
                )
                .await?;
            let q = "SELECT version FROM threads WHERE patient_id = $1 AND thread_id = $2";
            (n, "thread", (q, args![patient, state.id.to_string()]))
        }
    };
    if changed == 0 {
        let actual: Option<i64> = fetch_scalar(tx, current.0, current.1).await?;
        return Err(conflict_or_missing(w.expected_version, actual, what));
    }
    Ok(settled)
}

/// Rewrites the course's snapshot if [`SNAPSHOT_EVERY`] events have gathered after it
/// (the events themselves are written beside it); otherwise leaves it for reads to fold
/// the events onto, and returns its stamp.
async fn write_course_snapshot(
    tx: &mut dyn Sql,
    patient: &str,
    state: &CourseState,
    new_version: i64,
    states: &CourseStates,
) -> StoreResult<Option<i64>> {
    let q = "SELECT stamp, version FROM course_states WHERE patient_id = $1 AND course_id = $2";
    let (stamp, kept): (i64, i64) = fetch_optional(&mut *tx, q, args![patient, state.id.to_string()])
        .await?
        .ok_or_else(|| rows::corrupt("a course's stored state is missing"))?;
    if u64_of(new_version - kept) < SNAPSHOT_EVERY {
        return Ok(Some(stamp));
    }
    let (stamp, text) = (new_stamp(), to_json(state)?);
    tx.execute(
        "UPDATE course_states SET stamp = $1, version = $2, state = $3 WHERE patient_id = $4 AND course_id = $5",
        args![stamp, new_version, text.as_str(), patient, state.id.to_string()],
    )
    .await?;
    states.keep(state.id, stamp, &text, state.clone());
    Ok(None)
}

/// Appends events at the end of the patient's log; the patient row's `last_seq` hands
/// out positions, and updating it takes the patient's write lock.
async fn insert_events(tx: &mut dyn Sql, patient: PatientId, events: &[NewEvent]) -> StoreResult<()> {
    if events.is_empty() {
        return Ok(());
    }
    let patient = patient.to_string();
    let last: i64 = fetch_scalar(
        tx,
        "UPDATE patients SET last_seq = last_seq + $1 WHERE patient_id = $2 RETURNING last_seq",
        args![events.len() as i64, patient.as_str()],
    )
    .await?
    .ok_or(StoreError::NotFound("patient"))?;
    let first = last - events.len() as i64 + 1;
    for (chunk_no, chunk) in events.chunks(CHUNK).enumerate() {
        let mut a = Vec::with_capacity(chunk.len() * 13);
        for (i, e) in chunk.iter().enumerate() {
            let c = EventColumns::of(e)?;
            a.extend(args![
                patient.as_str(),
                first + (chunk_no * CHUNK + i) as i64,
                c.event_id,
                c.stream,
                c.course_id,
                c.version,
                c.item_id,
                c.recorded_at,
                c.actor,
                c.org_id,
                c.kind,
                c.category,
                c.payload
            ]);
        }
        let q = format!(
            "INSERT INTO events (patient_id, seq, event_id, stream, course_id, version, item_id, recorded_at, actor, org_id, kind, category, payload) VALUES {}",
            values_list(chunk.len(), 13)
        );
        match tx.execute(&q, a).await {
            Err(SqlError::Unique) => return Err(StoreError::Conflict { expected: 0, actual: 0 }),
            other => other?,
        };
    }
    Ok(())
}

fn touches_team(body: &EventBody) -> bool {
    matches!(body, EventBody::CareTeamJoined { .. } | EventBody::CareTeamLeft { .. } | EventBody::CourseOpened { .. })
}

async fn replace_team(tx: &mut dyn Sql, patient: &str, course: &CourseState) -> StoreResult<()> {
    let course_id = course.id.to_string();
    tx.execute("DELETE FROM care_team WHERE patient_id = $1 AND course_id = $2", args![patient, course_id.as_str()])
        .await?;
    let rows = team_rows(course);
    if rows.is_empty() {
        return Ok(());
    }
    let mut a = Vec::new();
    for (org, user) in rows.iter() {
        a.extend(args![patient, course_id.as_str(), org.as_str(), user.as_str()]);
    }
    let q =
        format!("INSERT INTO care_team (patient_id, course_id, org_id, user_id) VALUES {}", values_list(rows.len(), 4));
    tx.execute(&q, a).await?;
    Ok(())
}

/// Replaces the open work of one stream.
async fn replace_work(tx: &mut dyn Sql, patient: &str, stream: Stream, work: &[WorkItem]) -> StoreResult<()> {
    let stream = stream_text(stream);
    tx.execute("DELETE FROM work_items WHERE patient_id = $1 AND stream = $2", args![patient, stream.as_str()]).await?;
    insert_work(tx, work).await
}

async fn insert_work(tx: &mut dyn Sql, work: &[WorkItem]) -> StoreResult<()> {
    for chunk in work.chunks(CHUNK) {
        let mut a = Vec::with_capacity(chunk.len() * WORK_COLUMN_COUNT);
        for w in chunk {
            a.extend(work_columns(w));
        }
        let q =
            format!("INSERT INTO work_items ({WORK_COLUMNS}) VALUES {}", values_list(chunk.len(), WORK_COLUMN_COUNT));
        tx.execute(&q, a).await?;
    }
    Ok(())
}

/// Tells each follower of a course that it changed: an unseen change, until they look.
async fn mark_unseen(
    tx: &mut dyn Sql,
    patient: &str,
    course: CourseId,
    at: i64,
    followers: &[UserId],
) -> StoreResult<()> {
    let course = course.to_string();
    for chunk in followers.chunks(CHUNK) {
        let mut a = Vec::with_capacity(chunk.len() * 4);
        for user in chunk {
            a.extend(args![user.to_string(), patient, course.as_str(), at]);
        }
        let q = format!(
            "INSERT INTO audit.unseen (user_id, patient_id, course_id, changed_at) VALUES {} \
             ON CONFLICT (user_id, patient_id, course_id) DO UPDATE SET changed_at = excluded.changed_at",
            values_list(chunk.len(), 4)
        );
        tx.execute(&q, a).await?;
    }
    Ok(())
}

async fn insert_notices(tx: &mut dyn Sql, notices: &[Notice]) -> StoreResult<()> {
    for chunk in notices.chunks(CHUNK) {
        let mut a = Vec::with_capacity(chunk.len() * 6);
        for n in chunk {
            a.extend(args![
                n.id.to_string(),
                n.recipient.to_string(),
                n.patient.to_string(),
                to_micros(n.at),
                n.kind.as_str(),
                n.object.as_str()
            ]);
        }
        let q = format!(
            "INSERT INTO notices (notice_id, recipient_id, patient_id, at, kind, object) VALUES {}",
            values_list(chunk.len(), 6)
        );
        tx.execute(&q, a).await?;
    }
    Ok(())
}

/// The course states an append leaves behind that its commit makes true: for each of
/// its writes, the stamp of the snapshot the written state folds forward from, where
/// the write left that snapshot as it was.
///
/// A change holds the course's whole state after it, which is exactly what a read would
/// fold from the snapshot and the events up to the change (the fold is `apply` either
/// way). Kept under the snapshot's stamp once committed, it spares the next read of the
/// course, most often the next change, the fold and the copy a read keeps of it.
#[must_use = "the states may be kept only after the commit"]
pub(crate) struct Settled(Vec<Option<i64>>);

impl Settled {
    /// Keeps the append's course states; call only once the append is committed.
    pub(crate) fn keep(self, append: Append, states: &CourseStates) {
        for (w, stamp) in append.writes.into_iter().zip(self.0) {
            if let (Snapshot::Course(state), Some(stamp)) = (w.snapshot, stamp) {
                states.advance(state.id, stamp, *state);
            }
        }
    }
}

/// Writes one append inside an open transaction. See [`Store::append`].
pub(crate) async fn write_append(
    tx: &mut dyn Sql,
    lock_rows: &str,
    a: &Append,
    states: &CourseStates,
) -> StoreResult<Settled> {
    let patient = a.patient.to_string();
    let mut settled = Vec::with_capacity(a.writes.len());
    for w in &a.writes {
        settled.push(write_snapshot(tx, &patient, w, states).await?);
        insert_events(tx, a.patient, &w.events).await?;
        if let Snapshot::Course(state) = &w.snapshot {
            if w.events.iter().any(|e| touches_team(&e.body)) {
                replace_team(tx, &patient, state).await?;
            }
        }
        replace_work(tx, &patient, w.stream, &w.work).await?;
        if let (Snapshot::Course(state), false) = (&w.snapshot, w.followers.is_empty()) {
            mark_unseen(tx, &patient, state.id, to_micros(state.updated_at), &w.followers).await?;
        }
    }
    insert_notices(tx, &a.notices).await?;
    for f in &a.attachments {
        tx.execute(
            "INSERT INTO attachments (patient_id, attachment_id, thread_id, content_type, data) VALUES ($1, $2, $3, $4, $5)",
            args![patient.as_str(), f.id.to_string(), f.thread.to_string(), f.content_type.as_str(), f.bytes.clone()],
        )
        .await
        .map_err(unique("an attachment with this id"))?;
    }
    write_audit(tx, lock_rows, &a.audit).await?;
    Ok(Settled(settled))
}

/// Writes a patient's projections from scratch (import and rebuild), with the open
/// work each stream holds.
async fn write_projections(
    tx: &mut dyn Sql,
    patient: PatientId,
    p: &Projections,
    work: &[WorkItem],
    new_patient: bool,
) -> StoreResult<()> {
    let id = patient.to_string();
    let state: &PatientState = p.patient.as_ref().ok_or(StoreError::NotFound("patient registration in log"))?;
    if new_patient {
        tx.execute(
            "INSERT INTO patients (patient_id, cpr, version, last_seq, state) VALUES ($1, $2, $3, 0, $4)",
            args![id.as_str(), state.cpr.expose(), i64_of(state.version), to_json(state)?],
        )
        .await
        .map_err(unique("a patient with this CPR number"))?;
    } else {
        tx.execute(
            "UPDATE patients SET version = $1, state = $2, cpr = $3 WHERE patient_id = $4",
            args![i64_of(state.version), to_json(state)?, state.cpr.expose(), id.as_str()],
        )
        .await?;
        for table in ["care_team", "courses", "course_states", "threads", "work_items"] {
            tx.execute(&format!("DELETE FROM {table} WHERE patient_id = $1"), args![id.as_str()]).await?;
        }
    }
    for course in p.courses.values() {
        insert_course(tx, &id, course, None).await?;
        replace_team(tx, &id, course).await?;
    }
    for thread in p.threads.values() {
        insert_thread(tx, &id, thread).await?;
    }
    insert_work(tx, work).await
}

/// Chains entries onto the audit trail in the caller's transaction: each entry's hash
/// covers the one before, from the trail's head, which moves to the last of them.
/// `lock_rows` locks the head for the transaction where the engine needs it.
async fn write_audit(tx: &mut dyn Sql, lock_rows: &str, drafts: &[AuditDraft]) -> StoreResult<Vec<AuditEntry>> {
    if drafts.is_empty() {
        return Ok(Vec::new());
    }
    let q = format!("SELECT seq, hash FROM audit.audit_head WHERE id = 1{lock_rows}");
    let (seq, hash): (i64, String) =
        fetch_optional(&mut *tx, &q, vec![]).await?.ok_or_else(|| rows::corrupt("the audit head is missing"))?;
    let entries = chain_after(&AuditHead { seq: u64_of(seq), hash }, drafts);
    for chunk in entries.chunks(CHUNK) {
        let mut a = Vec::with_capacity(chunk.len() * 11);
        for e in chunk {
            a.extend(args![
                i64_of(e.seq),
                to_micros(e.draft.at),
                e.draft.actor.as_str(),
                e.draft.org.clone(),
                e.draft.action.as_str(),
                e.draft.purpose.as_str(),
                e.draft.patient.map(|p| p.to_string()),
                e.draft.object.as_str(),
                e.draft.outcome.as_str(),
                e.prev_hash.as_str(),
                e.hash.as_str()
            ]);
        }
        let q = format!("INSERT INTO audit.audit_log ({AUDIT_COLUMNS}) VALUES {}", values_list(chunk.len(), 11));
        tx.execute(&q, a).await?;
    }
    let last = entries.last().expect("drafts is not empty");
    tx.execute(
        "UPDATE audit.audit_head SET seq = $1, hash = $2 WHERE id = 1",
        args![i64_of(last.seq), last.hash.as_str()],
    )
    .await?;
    record_looks(&mut *tx, &entries).await?;
    Ok(entries)
}

/// Upserts each reader's last look at a course, from the audit entries of a commit.
async fn record_looks(tx: &mut dyn Sql, entries: &[AuditEntry]) -> StoreResult<()> {
    // One look per reader and course: the latest. (A statement may not upsert a row twice.)
    let mut looks: std::collections::BTreeMap<(PatientId, CourseId, UserId), i64> = Default::default();
    for e in entries {
        if let Some(key) = e.draft.course_look() {
            let at = looks.entry(key).or_insert(i64::MIN);
            *at = (*at).max(to_micros(e.draft.at));
        }
    }
    let looks: Vec<_> = looks.into_iter().collect();
    for chunk in looks.chunks(CHUNK) {
        let mut upsert = Vec::with_capacity(chunk.len() * 4);
        let mut seen = Vec::with_capacity(chunk.len() * 3);
        for ((patient, course, user), at) in chunk {
            upsert.extend(args![patient.to_string(), course.to_string(), user.to_string(), *at]);
            seen.extend(args![user.to_string(), patient.to_string(), course.to_string()]);
        }
        let q = format!(
            "INSERT INTO audit.last_looks (patient_id, course_id, user_id, at) VALUES {} \
             ON CONFLICT (patient_id, course_id, user_id) DO UPDATE SET at = \
             CASE WHEN excluded.at > last_looks.at THEN excluded.at ELSE last_looks.at END",
            values_list(chunk.len(), 4)
        );
        tx.execute(&q, upsert).await?;
        let q = format!(
            "DELETE FROM audit.unseen WHERE (user_id, patient_id, course_id) IN (VALUES {})",
            values_list(chunk.len(), 3)
        );
        tx.execute(&q, seen).await?;
    }
    Ok(())
}

fn holder_key(h: &RouteHolder) -> String {
    match h {
        RouteHolder::Professional { user } => format!("user/{user}"),
        RouteHolder::Role { org, role } => format!("role/{org}/{role}"),
    }
}

/// Whether the reader (organisation `$org`, user `$user`) is on the care team of the
/// course of the row `alias`.
///
/// Two exact probes, one per index (the organisation's, then the professional's own), not
/// one probe of the course's team filtered by either: each is a single seek, and the first
/// settles it for most lines. A third of the worklist's time went to this test before.
fn on_team(alias: &str, org: usize, user: usize) -> String {
    format!(
        "(EXISTS (SELECT 1 FROM care_team t WHERE t.org_id = ${org} \
           AND t.patient_id = {alias}.patient_id AND t.course_id = {alias}.course_id) \
         OR EXISTS (SELECT 1 FROM care_team t WHERE t.user_id = ${user} AND t.user_id <> '' \
           AND t.patient_id = {alias}.patient_id AND t.course_id = {alias}.course_id))"
    )
}

/// Decodes rows whose last two columns are the patient's state and [`on_team`]; each
/// patient's state is decoded once, however many lines are theirs.
fn for_reader<R: FromRow, T: HasPatient>(
    rows: Vec<Row>,
    decode: impl Fn(R) -> StoreResult<T>,
) -> StoreResult<ForReader<T>> {
    let mut out = ForReader { lines: Vec::with_capacity(rows.len()), patients: Default::default() };
    for mut row in rows {
        let on_team = row.pop().and_then(bool::from_val).ok_or_else(|| rows::corrupt("on team"))?;
        let state = row.pop().and_then(String::from_val).ok_or_else(|| rows::corrupt("patient state"))?;
        let item = decode(R::from_row(row)?)?;
        if let std::collections::hash_map::Entry::Vacant(v) = out.patients.entry(item.patient()) {
            v.insert(from_json(&state, "patient projection")?);
        }
        out.lines.push(ReaderLine { item, on_team });
    }
    Ok(out)
}

/// A line that concerns one patient.
trait HasPatient {
    fn patient(&self) -> PatientId;
}
impl HasPatient for WorkItem {
    fn patient(&self) -> PatientId {
        self.patient
    }
}
impl HasPatient for UnseenChange {
    fn patient(&self) -> PatientId {
        self.patient
    }
}

fn id_list<T: ToString>(ids: &[T]) -> Vec<Val> {
    ids.iter().map(|i| Val::from(i.to_string())).collect()
}

#[async_trait]
impl<B: Backend> Store for SqlStore<B> {
    fn engine(&self) -> Engine {
        self.backend.engine()
    }

    fn appends_carry_audit(&self) -> bool {
        self.backend.groups_appends()
    }

    async fn unit_of_work(&self) -> StoreResult<crate::UnitOfWork> {
        if self.backend.in_unit() {
            return Err(StoreError::Backend("units of work do not nest".into()));
        }
        let tx = self.backend.writer().await?;
        Ok(crate::UnitOfWork::begin(self.backend.engine(), self.backend.lock_rows(), tx, self.states.clone()))
    }

    async fn schema_version(&self) -> StoreResult<i64> {
        self.backend.schema_version().await
    }

    async fn is_empty(&self) -> StoreResult<bool> {
        let n: Option<i64> = fetch_scalar(
            &mut *self.read().await?,
            "SELECT (SELECT COUNT(*) FROM organisations) + (SELECT COUNT(*) FROM users) + (SELECT COUNT(*) FROM patients)",
            vec![],
        )
        .await?;
        Ok(n == Some(0))
    }

    async fn add_organisation(&self, org: &Organisation) -> StoreResult<()> {
        let mut tx = self.backend.writer().await?;
        tx.execute(
            "INSERT INTO organisations (org_id, name, sector, sor) VALUES ($1, $2, $3, $4)",
            args![org.id.to_string(), org.name.as_str(), org.sector.as_str(), org.sor.as_ref().map(|s| s.as_str())],
        )
        .await
        .map_err(unique("an organisation with this SOR code"))?;
        tx.commit().await.map_err(Into::into)
    }

    async fn organisation(&self, id: OrgId) -> StoreResult<Option<Organisation>> {
        let q = format!("SELECT {ORG_COLUMNS} FROM organisations WHERE org_id = $1");
        let row: Option<OrgRow> = fetch_optional(&mut *self.read().await?, &q, args![id.to_string()]).await?;
        row.map(decode_org).transpose()
    }

    async fn organisations(&self) -> StoreResult<Vec<Organisation>> {
        let q = format!("SELECT {ORG_COLUMNS} FROM organisations ORDER BY name, org_id");
        let rows: Vec<OrgRow> = fetch_all(&mut *self.read().await?, &q, vec![]).await?;
        rows.into_iter().map(decode_org).collect()
    }

    async fn add_user(&self, user: &User) -> StoreResult<()> {
        let (kind, profession, org, patient) = user_columns(user);
        let mut tx = self.backend.writer().await?;
        let r = tx
            .execute(
                "INSERT INTO users (user_id, login, name, kind, profession, org_id, patient_id, disabled, org_admin, email, \
                 language) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                args![
                    user.id.to_string(),
                    user.login.as_str(),
                    user.name.as_str(),
                    kind,
                    profession,
                    org,
                    patient,
                    user.disabled,
                    user.org_admin,
                    user.email.clone(),
                    user.language.clone()
                ],
            )
            .await;
        match r {
            Err(SqlError::Unique) => return Err(StoreError::Duplicate("a user with this login")),
            Err(SqlError::ForeignKey) => return Err(StoreError::NotFound("organisation")),
            other => other?,
        };
        tx.commit().await.map_err(Into::into)
    }

    async fn set_user_disabled(&self, id: UserId, disabled: bool) -> StoreResult<()> {
        self.update_user("UPDATE users SET disabled = $1 WHERE user_id = $2", args![disabled, id.to_string()]).await
    }

    async fn user(&self, id: UserId) -> StoreResult<Option<User>> {
        let q = format!("SELECT {USER_COLUMNS} FROM users WHERE user_id = $1");
        let row: Option<UserRow> = fetch_optional(&mut *self.read().await?, &q, args![id.to_string()]).await?;
        row.map(decode_user).transpose()
    }

    async fn user_by_login(&self, login: &str) -> StoreResult<Option<User>> {
        let q = format!("SELECT {USER_COLUMNS} FROM users WHERE login = $1");
        let row: Option<UserRow> = fetch_optional(&mut *self.read().await?, &q, args![login]).await?;
        row.map(decode_user).transpose()
    }

    async fn users(&self) -> StoreResult<Vec<User>> {
        let q = format!("SELECT {USER_COLUMNS} FROM users ORDER BY login");
        let rows: Vec<UserRow> = fetch_all(&mut *self.read().await?, &q, vec![]).await?;
        rows.into_iter().map(decode_user).collect()
    }

    async fn add_token(&self, t: &ApiToken) -> StoreResult<()> {
        let mut tx = self.backend.writer().await?;
        tx.execute(
            "INSERT INTO api_tokens (token_id, user_id, token_hash, created_at, expires_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6)",
            args![
                t.id.as_str(),
                t.user.to_string(),
                t.hash.as_str(),
                to_micros(t.created_at),
                t.expires_at.map(to_micros),
                t.revoked_at.map(to_micros)
            ],
        )
        .await
        .map_err(unique("a token with this id"))?;
        tx.commit().await.map_err(Into::into)
    }

    async fn token_holder(&self, hash: &str) -> StoreResult<Option<(ApiToken, User)>> {
        static QUERY: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
            let of = |table: &str, columns: &str| {
                columns.split(", ").map(|c| format!("{table}.{c}")).collect::<Vec<_>>().join(", ")
            };
            format!(
                "SELECT {}, {} FROM api_tokens t JOIN users u ON u.user_id = t.user_id WHERE t.token_hash = $1",
                of("t", TOKEN_COLUMNS),
                of("u", USER_COLUMNS)
            )
        });
        let rows = self.read().await?.fetch(&QUERY, args![hash]).await?;
        let Some(mut token) = rows.into_iter().next() else { return Ok(None) };
        let user = token.split_off(TOKEN_COLUMNS.split(", ").count());
        Ok(Some((decode_token(TokenRow::from_row(token)?)?, decode_user(UserRow::from_row(user)?)?)))
    }

    async fn tokens(&self) -> StoreResult<Vec<ApiToken>> {
        let q = format!("SELECT {TOKEN_COLUMNS} FROM api_tokens ORDER BY created_at, token_id");
        let rows: Vec<TokenRow> = fetch_all(&mut *self.read().await?, &q, vec![]).await?;
        rows.into_iter().map(decode_token).collect()
    }

    async fn revoke_token(&self, id: &str, at: OffsetDateTime) -> StoreResult<bool> {
        let mut tx = self.backend.writer().await?;
        let n = tx
            .execute(
                "UPDATE api_tokens SET revoked_at = $1 WHERE token_id = $2 AND revoked_at IS NULL",
                args![to_micros(at), id],
            )
            .await?;
        tx.commit().await?;
        Ok(n > 0)
    }

    async fn append(&self, append: Append) -> StoreResult<()> {
        if self.backend.groups_appends() {
            // A group commits what it writes; a unit's backend writes in the unit's
            // transaction and never groups.
            debug_assert!(self.unit.is_none(), "a unit's appends are grouped");
            return self.appends.append(&self.backend, append, &self.states).await;
        }
        let mut tx = self.backend.writer().await?;
        let settled = write_append(&mut *tx, self.backend.lock_rows(), &append, &self.states).await?;
        tx.commit().await?;
        // A unit's appends are not committed yet: what they wrote is the unit's own.
        match &self.unit {
            None => settled.keep(append, &self.states),
            Some(unit) => unit.keep(append),
        }
        Ok(())
    }

    async fn patient(&self, id: PatientId) -> StoreResult<Option<PatientState>> {
        let q = "SELECT state FROM patients WHERE patient_id = $1";
        let state: Option<String> = fetch_scalar(&mut *self.read().await?, q, args![id.to_string()]).await?;
        state.map(|s| from_json(&s, "patient projection")).transpose()
    }

    async fn patient_by_cpr(&self, cpr: &Cpr) -> StoreResult<Option<PatientId>> {
        let q = "SELECT patient_id FROM patients WHERE cpr = $1";
        let id: Option<String> = fetch_scalar(&mut *self.read().await?, q, args![cpr.expose()]).await?;
        id.map(|i| PatientId::parse(&i).map_err(|_| rows::corrupt("patient id"))).transpose()
    }

    async fn course(&self, patient: PatientId, course: CourseId) -> StoreResult<Option<CourseState>> {
        // The snapshot's text comes back only if its stamp is not the one of the state
        // held (see course_states); the course's version says how far to fold.
        let q = "SELECT s.stamp, CASE WHEN s.stamp = $3 THEN NULL ELSE s.state END, c.version \
                 FROM course_states s JOIN courses c ON c.patient_id = s.patient_id AND c.course_id = s.course_id \
                 WHERE s.patient_id = $1 AND s.course_id = $2";
        let mut conn = self.read().await?;
        let mut held = self.states.held_stamp(course);
        let (stamp, mut state, current) = loop {
            let a = args![patient.to_string(), course.to_string(), held];
            let row: Option<(i64, Option<String>, i64)> = fetch_optional(&mut *conn, q, a).await?;
            let Some((stamp, text, current)) = row else { return Ok(None) };
            if let Some(own) = self.unit.as_ref().and_then(|u| u.at(course, current)) {
                return Ok(Some(own));
            }
            match text {
                Some(text) => break (stamp, self.states.decode(course, stamp, &text)?, current),
                None => match self.states.hit(course, stamp) {
                    // A state held can only be behind the course, never ahead of it.
                    Some(state) if i64_of(state.version) <= current => break (stamp, state, current),
                    // Another read replaced the entry meanwhile: read the text.
                    _ => held = None,
                },
            }
        };
        if i64_of(state.version) < current {
            let q = format!(
                "SELECT {EVENT_COLUMNS} FROM events WHERE patient_id = $1 AND stream = $2 AND version > $3 ORDER BY version"
            );
            let a = args![patient.to_string(), stream_text(Stream::Course(course)), i64_of(state.version)];
            let rows: Vec<EventRow> = fetch_all(&mut *conn, &q, a).await?;
            for row in rows {
                state.apply(&decode_event(row)?.event);
            }
            if self.unit.is_none() {
                self.states.advance(course, stamp, state.clone());
            }
        }
        Ok(Some(state))
    }

    async fn course_summaries(&self, patient: PatientId) -> StoreResult<Vec<CourseSummary>> {
        let q = "SELECT course_id, title, status, version, origin, opened_org FROM courses WHERE patient_id = $1 ORDER BY course_id";
        let rows: Vec<CourseSummaryRow> = fetch_all(&mut *self.read().await?, q, args![patient.to_string()]).await?;
        rows.into_iter().map(decode_course_summary).collect()
    }

    async fn care_team(&self, patient: PatientId) -> StoreResult<Vec<(CourseId, TeamMember)>> {
        let q = "SELECT course_id, org_id, user_id FROM care_team WHERE patient_id = $1 ORDER BY course_id, org_id, user_id";
        let rows: Vec<(String, String, String)> =
            fetch_all(&mut *self.read().await?, q, args![patient.to_string()]).await?;
        rows.into_iter().map(decode_team_row).collect()
    }

    async fn patients(&self, ids: &[PatientId]) -> StoreResult<Vec<PatientState>> {
        let mut out = Vec::with_capacity(ids.len());
        let mut conn = self.read().await?;
        for chunk in ids.chunks(CHUNK) {
            let q = format!("SELECT state FROM patients WHERE patient_id IN ({})", placeholders(1, chunk.len()));
            let rows: Vec<(String,)> = fetch_all(&mut *conn, &q, id_list(chunk)).await?;
            for (state,) in rows {
                out.push(from_json(&state, "patient projection")?);
            }
        }
        Ok(out)
    }

    async fn care_teams(&self, ids: &[PatientId]) -> StoreResult<Vec<(PatientId, CourseId, TeamMember)>> {
        let mut out = Vec::new();
        let mut conn = self.read().await?;
        for chunk in ids.chunks(CHUNK) {
            let q = format!(
                "SELECT patient_id, course_id, org_id, user_id FROM care_team WHERE patient_id IN ({})",
                placeholders(1, chunk.len())
            );
            let rows: Vec<(String, String, String, String)> = fetch_all(&mut *conn, &q, id_list(chunk)).await?;
            for (patient, course, org, user) in rows {
                let patient = PatientId::parse(&patient).map_err(|_| rows::corrupt("patient id"))?;
                let (course, member) = decode_team_row((course, org, user))?;
                out.push((patient, course, member));
            }
        }
        Ok(out)
    }

    async fn thread(&self, patient: PatientId, thread: ThreadId) -> StoreResult<Option<ThreadState>> {
        let q = "SELECT state FROM threads WHERE patient_id = $1 AND thread_id = $2";
        let a = args![patient.to_string(), thread.to_string()];
        let state: Option<String> = fetch_scalar(&mut *self.read().await?, q, a).await?;
        state.map(|s| from_json(&s, "thread projection")).transpose()
    }

    async fn threads(&self, patient: PatientId, course: CourseId) -> StoreResult<Vec<ThreadState>> {
        let q =
            "SELECT state FROM threads WHERE patient_id = $1 AND course_id = $2 ORDER BY updated_at DESC, thread_id";
        let a = args![patient.to_string(), course.to_string()];
        let rows: Vec<(String,)> = fetch_all(&mut *self.read().await?, q, a).await?;
        rows.into_iter().map(|(s,)| from_json(&s, "thread projection")).collect()
    }

    async fn thread_by_client_id(
        &self,
        patient: PatientId,
        user: UserId,
        client_id: &str,
    ) -> StoreResult<Option<ThreadId>> {
        let q = "SELECT thread_id FROM threads WHERE patient_id = $1 AND started_by = $2 AND client_id = $3";
        let a = args![patient.to_string(), user.to_string(), client_id];
        let id: Option<String> = fetch_scalar(&mut *self.read().await?, q, a).await?;
        id.map(|i| ThreadId::parse(&i).map_err(|_| rows::corrupt("thread id"))).transpose()
    }

    async fn attachment(&self, patient: PatientId, id: ItemId) -> StoreResult<Option<(String, Vec<u8>)>> {
        let q = "SELECT content_type, data FROM attachments WHERE patient_id = $1 AND attachment_id = $2";
        fetch_optional(&mut *self.read().await?, q, args![patient.to_string(), id.to_string()]).await
    }

    async fn work_for(
        &self,
        user: UserId,
        org: Option<OrgId>,
        today: Date,
        limit: u32,
    ) -> StoreResult<ForReader<WorkItem>> {
        // The key worker's items are found through the courses they are key worker of,
        // by two list lookups, so the engine seeks rather than scans every key worker
        // row. Dates are ISO text, so `Show` compares them as text (the same rule as
        // `Show::shown`).
        let shown = "(show_rule = 'always' OR due IS NULL \
                      OR (show_rule = 'until_due' AND due >= $6) OR (show_rule = 'after_due' AND due < $7))";
        let q = format!(
            "SELECT w.*, p.state, {on_team} FROM ( \
               SELECT {WORK_COLUMNS} FROM work_items WHERE assignee = $1 AND {shown} \
               UNION ALL SELECT {WORK_COLUMNS} FROM work_items WHERE assignee = $2 AND {shown} \
               UNION ALL SELECT {WORK_COLUMNS} FROM work_items WHERE assignee = 'key_worker' AND {shown} \
                 AND patient_id IN (SELECT patient_id FROM courses WHERE key_worker = $3) \
                 AND course_id IN (SELECT course_id FROM courses WHERE key_worker = $4) \
             ) w JOIN patients p ON p.patient_id = w.patient_id LIMIT $5",
            on_team = on_team("w", 8, 9)
        );
        let me = assignee_key(&Assignee::User { user });
        let mine = org.map(|org| assignee_key(&Assignee::Org { org })).unwrap_or_default();
        let day = rows::date_text(today);
        let (org, user) = (org.map(|o| o.to_string()).unwrap_or_default(), user.to_string());
        let a = args![me, mine, user.as_str(), user.as_str(), i64::from(limit), day.as_str(), day.as_str(), org, user];
        let rows = self.read().await?.fetch(&q, a).await.map_err(StoreError::from)?;
        for_reader(rows, |r: WorkRow| decode_work(r))
    }

    async fn unseen_changes(
        &self,
        user: UserId,
        org: Option<OrgId>,
        limit: u32,
    ) -> StoreResult<ForReader<UnseenChange>> {
        let q = format!(
            "SELECT u.patient_id, u.course_id, c.title, c.origin, c.opened_org, u.changed_at, p.state, {on_team} \
             FROM audit.unseen u JOIN courses c ON c.patient_id = u.patient_id AND c.course_id = u.course_id \
             JOIN patients p ON p.patient_id = u.patient_id \
             WHERE u.user_id = $1 ORDER BY u.changed_at DESC, u.course_id LIMIT $2",
            on_team = on_team("u", 3, 1)
        );
        let a = args![user.to_string(), i64::from(limit), org.map(|o| o.to_string()).unwrap_or_default()];
        let rows = self.read().await?.fetch(&q, a).await.map_err(StoreError::from)?;
        for_reader(rows, |r: UnseenRow| decode_unseen(r))
    }

    async fn memberships(&self, user: UserId, org: Option<OrgId>) -> StoreResult<Vec<(PatientId, CourseId)>> {
        let (org, user) = (org.map(|o| o.to_string()).unwrap_or_default(), user.to_string());
        let q = "SELECT patient_id, course_id FROM care_team WHERE org_id = $1 \
                 UNION SELECT patient_id, course_id FROM care_team WHERE user_id = $2 AND user_id <> ''";
        let rows: Vec<(String, String)> = fetch_all(&mut *self.read().await?, q, args![org, user]).await?;
        rows.into_iter()
            .map(|(p, c)| {
                let p = PatientId::parse(&p).map_err(|_| rows::corrupt("patient id"))?;
                let c = CourseId::parse(&c).map_err(|_| rows::corrupt("course id"))?;
                Ok((p, c))
            })
            .collect()
    }

    async fn last_look(
        &self,
        patient: PatientId,
        course: CourseId,
        user: UserId,
    ) -> StoreResult<Option<OffsetDateTime>> {
        let q = "SELECT at FROM audit.last_looks WHERE patient_id = $1 AND course_id = $2 AND user_id = $3";
        let a = args![patient.to_string(), course.to_string(), user.to_string()];
        let at: Option<i64> = fetch_scalar(&mut *self.read().await?, q, a).await?;
        Ok(at.map(from_micros))
    }

    async fn events(&self, patient: PatientId, filter: EventFilter) -> StoreResult<Vec<Event>> {
        let mut q = format!("SELECT {EVENT_COLUMNS} FROM events WHERE patient_id = $1");
        let mut a = args![patient.to_string()];
        if let Some(course) = filter.course {
            a.push(course.to_string().into());
            q.push_str(&format!(" AND course_id = ${}", a.len()));
        }
        if let Some(item) = filter.item {
            a.push(item.to_string().into());
            q.push_str(&format!(" AND item_id = ${}", a.len()));
        }
        if let Some(since) = filter.since {
            a.push(to_micros(since).into());
            q.push_str(&format!(" AND recorded_at > ${}", a.len()));
        }
        q.push_str(" ORDER BY seq");
        let rows: Vec<EventRow> = fetch_all(&mut *self.read().await?, &q, a).await?;
        rows.into_iter().map(decode_event).collect()
    }

    async fn patient_ids(&self, after: Option<PatientId>, limit: u32) -> StoreResult<Vec<PatientId>> {
        let q = "SELECT patient_id FROM patients WHERE patient_id > $1 ORDER BY patient_id LIMIT $2";
        let a = args![after.map(|a| a.to_string()).unwrap_or_default(), i64::from(limit)];
        let ids: Vec<(String,)> = fetch_all(&mut *self.read().await?, q, a).await?;
        ids.iter().map(|(i,)| PatientId::parse(i).map_err(|_| rows::corrupt("patient id"))).collect()
    }

    async fn count_patients(&self) -> StoreResult<u64> {
        let n: Option<i64> = fetch_scalar(&mut *self.read().await?, "SELECT COUNT(*) FROM patients", vec![]).await?;
        Ok(u64_of(n.unwrap_or(0)))
    }

    async fn replace_projections(
        &self,
        patient: PatientId,
        projections: &Projections,
        work: &[WorkItem],
    ) -> StoreResult<()> {
        let mut tx = self.backend.writer().await?;
        write_projections(&mut *tx, patient, projections, work, false).await?;
        tx.commit().await.map_err(Into::into)
    }

    async fn import(&self, logs: &[PatientLog]) -> StoreResult<()> {
        let mut tx = self.backend.writer().await?;
        for log in logs {
            write_projections(&mut *tx, log.patient, &log.projections, &log.work, true).await?;
            insert_events(&mut *tx, log.patient, &log.events).await?;
        }
        tx.commit().await.map_err(Into::into)
    }

    async fn append_audit(&self, drafts: &[AuditDraft]) -> StoreResult<Vec<AuditEntry>> {
        if drafts.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.backend.writer().await?;
        let entries = write_audit(&mut *tx, self.backend.lock_rows(), drafts).await?;
        tx.commit().await?;
        Ok(entries)
    }

    async fn notices_for(&self, user: UserId, limit: u32) -> StoreResult<Vec<Notice>> {
        let q = format!(
            "SELECT {NOTICE_COLUMNS} FROM notices WHERE recipient_id = $1 ORDER BY at DESC, notice_id LIMIT $2"
        );
        let a = args![user.to_string(), i64::from(limit)];
        let rows: Vec<NoticeRow> = fetch_all(&mut *self.read().await?, &q, a).await?;
        rows.into_iter().map(decode_notice).collect()
    }

    async fn add_session(&self, s: &Session) -> StoreResult<()> {
        let mut tx = self.backend.writer().await?;
        tx.execute(
            "INSERT INTO sessions (session_hash, user_id, csrf_token, created_at, expires_at, ended_at) VALUES ($1, $2, $3, $4, $5, $6)",
            args![
                s.hash.as_str(),
                s.user.to_string(),
                s.csrf_token.as_str(),
                to_micros(s.created_at),
                to_micros(s.expires_at),
                s.ended_at.map(to_micros)
            ],
        )
        .await?;
        tx.commit().await.map_err(Into::into)
    }

    async fn session(&self, hash: &str) -> StoreResult<Option<Session>> {
        let q = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE session_hash = $1");
        let row: Option<SessionRow> = fetch_optional(&mut *self.read().await?, &q, args![hash]).await?;
        row.map(decode_session).transpose()
    }

    async fn end_session(&self, hash: &str, at: OffsetDateTime) -> StoreResult<()> {
        let mut tx = self.backend.writer().await?;
        tx.execute(
            "UPDATE sessions SET ended_at = $1 WHERE session_hash = $2 AND ended_at IS NULL",
            args![to_micros(at), hash],
        )
        .await?;
        tx.commit().await.map_err(Into::into)
    }

    async fn set_org_admin(&self, id: UserId, admin: bool) -> StoreResult<()> {
        self.update_user("UPDATE users SET org_admin = $1 WHERE user_id = $2", args![admin, id.to_string()]).await
    }

    async fn set_password(&self, id: UserId, hash: &str) -> StoreResult<()> {
        self.update_user("UPDATE users SET password_hash = $1 WHERE user_id = $2", args![hash, id.to_string()]).await
    }

    async fn set_user_email(&self, id: UserId, email: Option<&str>) -> StoreResult<()> {
        self.update_user("UPDATE users SET email = $1 WHERE user_id = $2", args![email, id.to_string()]).await
    }

    async fn set_user_language(&self, id: UserId, language: &str) -> StoreResult<()> {
        self.update_user("UPDATE users SET language = $1 WHERE user_id = $2", args![language, id.to_string()]).await
    }

    async fn password_hash(&self, id: UserId) -> StoreResult<Option<String>> {
        let q = "SELECT password_hash FROM users WHERE user_id = $1";
        let hash: Option<Option<String>> = fetch_scalar(&mut *self.read().await?, q, args![id.to_string()]).await?;
        Ok(hash.flatten())
    }

    async fn set_contact_routes(&self, holder: &RouteHolder, routes: &[ContactRoute]) -> StoreResult<()> {
        let key = holder_key(holder);
        let mut tx = self.backend.writer().await?;
        tx.execute("DELETE FROM contact_routes WHERE holder = $1", args![key.as_str()]).await?;
        for (i, r) in routes.iter().enumerate() {
            if r.holder != *holder {
                return Err(StoreError::Corrupt("a contact route for another holder".into()));
            }
            tx.execute(
                "INSERT INTO contact_routes (holder, ordinal, route) VALUES ($1, $2, $3)",
                args![key.as_str(), i as i64, to_json(r)?],
            )
            .await?;
        }
        tx.commit().await.map_err(Into::into)
    }

    async fn contact_routes(&self) -> StoreResult<Vec<ContactRoute>> {
        let q = "SELECT route FROM contact_routes ORDER BY holder, ordinal";
        let rows: Vec<(String,)> = fetch_all(&mut *self.read().await?, q, vec![]).await?;
        rows.into_iter().map(|(r,)| from_json(&r, "contact route")).collect()
    }

    async fn audit_head(&self) -> StoreResult<AuditHead> {
        let q = "SELECT seq, hash FROM audit.audit_head WHERE id = 1";
        let (seq, hash): (i64, String) = fetch_optional(&mut *self.read().await?, q, vec![])
            .await?
            .ok_or_else(|| rows::corrupt("the audit head is missing"))?;
        Ok(AuditHead { seq: u64_of(seq), hash })
    }

    async fn audit_page(&self, after_seq: u64, limit: u32) -> StoreResult<Vec<AuditEntry>> {
        let q = format!("SELECT {AUDIT_COLUMNS} FROM audit.audit_log WHERE seq > $1 ORDER BY seq LIMIT $2");
        let rows: Vec<AuditRow> =
            fetch_all(&mut *self.read().await?, &q, args![i64_of(after_seq), i64::from(limit)]).await?;
        rows.into_iter().map(decode_audit).collect()
    }

    async fn audit_for_patient(&self, patient: PatientId, limit: u32) -> StoreResult<Vec<AuditEntry>> {
        // One statement: the index and its mark are read together, so the entries the index
        // holds never reach past the mark and the rest are read from the trail after it.
        // (On SQLite the trail's file and the index's each have their own snapshot, and
        // either may be a little ahead: the index's entries are taken only up to the
        // trail's head, and the trail's from past the index's mark.) The index only finds
        // entries; whose they are is the trail's to say.
        let q = format!(
            "SELECT {AUDIT_COLUMNS} FROM audit.audit_log WHERE patient_id = $1 AND seq IN \
               (SELECT seq FROM audit_index.patient_audit WHERE patient_id = $2 \
                  AND seq <= (SELECT seq FROM audit.audit_head WHERE id = 1) ORDER BY seq DESC LIMIT $3) \
             UNION ALL \
             SELECT {AUDIT_COLUMNS} FROM audit.audit_log \
               WHERE seq > (SELECT seq FROM audit_index.audit_indexed WHERE id = 1) AND patient_id = $4 \
             ORDER BY seq DESC LIMIT $5"
        );
        let (p, limit) = (patient.to_string(), i64::from(limit));
        let a = args![p.as_str(), p.as_str(), limit, p.as_str(), limit];
        let rows: Vec<AuditRow> = fetch_all(&mut *self.read().await?, &q, a).await?;
        rows.into_iter().map(decode_audit).collect()
    }

    async fn audit_indexed(&self) -> StoreResult<u64> {
        let q = "SELECT seq FROM audit_index.audit_indexed WHERE id = 1";
        let seq: i64 = fetch_scalar(&mut *self.read().await?, q, vec![])
            .await?
            .ok_or_else(|| rows::corrupt("the audit index mark is missing"))?;
        Ok(u64_of(seq))
    }

    async fn index_audit(&self, limit: u32) -> StoreResult<u32> {
        let mut tx = self.backend.index_writer().await?;
        // A write first, so the index's lock is taken before anything is read (two
        // indexers take turns, and neither reads a mark the other is moving).
        let q = "UPDATE audit_index.audit_indexed SET seq = seq WHERE id = 1 RETURNING seq";
        let from: i64 =
            fetch_scalar(&mut *tx, q, vec![]).await?.ok_or_else(|| rows::corrupt("the audit index mark is missing"))?;
        let q = "SELECT MAX(seq) FROM (SELECT seq FROM audit.audit_log WHERE seq > $1 ORDER BY seq LIMIT $2) s";
        let upto: Option<Option<i64>> = fetch_scalar(&mut *tx, q, args![from, i64::from(limit)]).await?;
        let Some(upto) = upto.flatten() else { return Ok(0) };
        // In key order, so each index page is visited once.
        tx.execute(
            "INSERT INTO audit_index.patient_audit (patient_id, seq) SELECT patient_id, seq FROM audit.audit_log \
             WHERE seq > $1 AND seq <= $2 AND patient_id IS NOT NULL ORDER BY patient_id, seq",
            args![from, upto],
        )
        .await?;
        tx.execute("UPDATE audit_index.audit_indexed SET seq = $1 WHERE id = 1", args![upto]).await?;
        tx.commit().await?;
        Ok(u32::try_from(upto - from).unwrap_or(u32::MAX))
    }
}

impl<B: Backend> SqlStore<B> {
    /// Runs an `UPDATE` of one user; not found if no user has the id.
    async fn update_user(&self, q: &str, a: Vec<Val>) -> StoreResult<()> {
        let mut tx = self.backend.writer().await?;
        let n = tx.execute(q, a).await?;
        if n == 0 {
            return Err(StoreError::NotFound("user"));
        }
        tx.commit().await.map_err(Into::into)
    }
}
