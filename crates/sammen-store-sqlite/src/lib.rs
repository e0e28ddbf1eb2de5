//! Sammen's embedded engine: one SQLite file in the data directory, in WAL mode.
//!
//! Writes go through a single connection and `BEGIN IMMEDIATE`, so a write transaction
//! holds the write lock from its first statement and never fails half-way on a lock
//! upgrade; reads use a small pool and never wait for writes (WAL). `synchronous=FULL`:
//! a commit that returned is on disk, which the audit trail's promise depends on.

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection, QueryBuilder, Sqlite, SqlitePool};
use std::path::Path;
use std::time::Duration;
use time::OffsetDateTime;

use sammen_domain::audit::{chain_after, AuditDraft, AuditEntry, AuditHead};
use sammen_domain::clock::to_micros;
use sammen_domain::cpr::Cpr;
use sammen_domain::directory::{ApiToken, Organisation, User};
use sammen_domain::event::{Event, EventBody, NewEvent, TeamMember};
use sammen_domain::ids::{CourseId, OrgId, PatientId, UserId};
use sammen_domain::projection::{CourseState, PatientState, Projections};
use sammen_store::rows::{self, *};
use sammen_store::{
    Append, CourseSummary, Engine, EventFilter, Notice, PatientLog, Session, Snapshot, Store, StoreError, StoreResult,
};

/// The migrations, in order. Never edit one that has shipped; add a new one.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/0001_foundation.sql")),
    (2, include_str!("../migrations/0002_sharing_and_sign_in.sql")),
    (3, include_str!("../migrations/0003_last_look.sql")),
];

pub struct SqliteStore {
    read: SqlitePool,
    write: SqlitePool,
}

fn backend(e: sqlx::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error().is_some_and(|d| d.is_unique_violation())
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and applies pending migrations.
    pub async fn open(path: &Path) -> StoreResult<Self> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            .pragma("temp_store", "memory")
            .pragma("cache_size", "-32000");
        let write = SqlitePoolOptions::new().max_connections(1).connect_with(options.clone()).await.map_err(backend)?;
        let read =
            SqlitePoolOptions::new().max_connections(4).connect_with(options.read_only(true)).await.map_err(backend)?;
        let store = SqliteStore { read, write };
        store.migrate().await?;
        Ok(store)
    }

    /// Applies every migration not applied yet, each in its own transaction.
    pub async fn migrate(&self) -> StoreResult<()> {
        let mut conn = self.write.acquire().await.map_err(backend)?;
        sqlx::raw_sql(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
        )
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
        for (version, sql) in MIGRATIONS {
            let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(backend)?;
            let done: Option<i64> = sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = $1")
                .bind(version)
                .fetch_optional(&mut *tx)
                .await
                .map_err(backend)?;
            if done.is_none() {
                sqlx::raw_sql(sql).execute(&mut *tx).await.map_err(backend)?;
                sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)")
                    .bind(version)
                    .bind(to_micros(OffsetDateTime::now_utc()))
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
            }
            tx.commit().await.map_err(backend)?;
        }
        Ok(())
    }

    /// Runs one SQL statement on the write connection: for tests that tamper with the
    /// database on purpose, and for operators' repair scripts. Not part of [`Store`].
    pub async fn raw_execute(&self, sql: &str) -> StoreResult<u64> {
        sqlx::raw_sql(sql).execute(&self.write).await.map(|r| r.rows_affected()).map_err(backend)
    }

    fn pool_read(&self) -> SqlitePool {
        self.read.clone()
    }

    fn pool_write(&self) -> SqlitePool {
        self.write.clone()
    }

    async fn begin(&self) -> StoreResult<sqlx::Transaction<'static, Sqlite>> {
        self.write.begin_with("BEGIN IMMEDIATE").await.map_err(backend)
    }
}

/// Writes one append inside an open transaction. See [`Store::append`].
async fn write_append(conn: &mut SqliteConnection, a: &Append) -> StoreResult<()> {
    let new_version = i64_of(a.expected_version + a.events.len() as u64);
    let patient = a.patient.to_string();
    match &a.snapshot {
        Snapshot::Patient(state) if a.expected_version == 0 => {
            let inserted = sqlx::query(
                "INSERT INTO patients (patient_id, cpr, version, last_seq, state) VALUES ($1, $2, $3, 0, $4)",
            )
            .bind(&patient)
            .bind(state.cpr.expose())
            .bind(new_version)
            .bind(to_json(state)?)
            .execute(&mut *conn)
            .await;
            match inserted {
                Err(e) if is_unique_violation(&e) => {
                    return Err(StoreError::Duplicate("a patient with this CPR number"))
                }
                other => other.map_err(backend)?,
            };
        }
        Snapshot::Patient(state) => {
            let changed =
                sqlx::query("UPDATE patients SET version = $1, state = $2 WHERE patient_id = $3 AND version = $4")
                    .bind(new_version)
                    .bind(to_json(state)?)
                    .bind(&patient)
                    .bind(i64_of(a.expected_version))
                    .execute(&mut *conn)
                    .await
                    .map_err(backend)?
                    .rows_affected();
            if changed == 0 {
                let actual: Option<i64> = sqlx::query_scalar("SELECT version FROM patients WHERE patient_id = $1")
                    .bind(&patient)
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(backend)?;
                return Err(conflict_or_missing(a.expected_version, actual, "patient"));
            }
        }
        Snapshot::Course(state) if a.expected_version == 0 => {
            let inserted = sqlx::query("INSERT INTO courses (patient_id, course_id, version, title, status, state) VALUES ($1, $2, $3, $4, $5, $6)")
                .bind(&patient)
                .bind(state.id.to_string())
                .bind(new_version)
                .bind(&state.title)
                .bind(course_status_text(state.status))
                .bind(to_json(state)?)
                .execute(&mut *conn)
                .await;
            match inserted {
                Err(e) if is_unique_violation(&e) => return Err(StoreError::Conflict { expected: 0, actual: 1 }),
                Err(e) if e.as_database_error().is_some_and(|d| d.is_foreign_key_violation()) => {
                    return Err(StoreError::NotFound("patient"))
                }
                other => other.map_err(backend)?,
            };
        }
        Snapshot::Course(state) => {
            let course = state.id.to_string();
            let changed = sqlx::query("UPDATE courses SET version = $1, title = $2, status = $3, state = $4 WHERE patient_id = $5 AND course_id = $6 AND version = $7")
                .bind(new_version)
                .bind(&state.title)
                .bind(course_status_text(state.status))
                .bind(to_json(state)?)
                .bind(&patient)
                .bind(&course)
                .bind(i64_of(a.expected_version))
                .execute(&mut *conn)
                .await
                .map_err(backend)?
                .rows_affected();
            if changed == 0 {
                let actual: Option<i64> =
                    sqlx::query_scalar("SELECT version FROM courses WHERE patient_id = $1 AND course_id = $2")
                        .bind(&patient)
                        .bind(&course)
                        .fetch_optional(&mut *conn)
                        .await
                        .map_err(backend)?;
                return Err(conflict_or_missing(a.expected_version, actual, "course"));
            }
        }
    }
    insert_events(conn, a.patient, &a.events).await?;
    for n in &a.notices {
        sqlx::query("INSERT INTO notices (notice_id, recipient_id, patient_id, at, kind, object) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(n.id.to_string())
            .bind(n.recipient.to_string())
            .bind(n.patient.to_string())
            .bind(to_micros(n.at))
            .bind(&n.kind)
            .bind(&n.object)
            .execute(&mut *conn)
            .await
            .map_err(backend)?;
    }
    if let Snapshot::Course(state) = &a.snapshot {
        if a.events.iter().any(|e| touches_team(&e.body)) {
            replace_team(conn, a.patient, state).await?;
        }
    }
    Ok(())
}

fn conflict_or_missing(expected: u64, actual: Option<i64>, what: &'static str) -> StoreError {
    match actual {
        Some(v) => StoreError::Conflict { expected, actual: u64_of(v) },
        None => StoreError::NotFound(what),
    }
}

fn touches_team(body: &EventBody) -> bool {
    matches!(body, EventBody::CareTeamJoined { .. } | EventBody::CareTeamLeft { .. } | EventBody::CourseOpened { .. })
}

/// Appends events at the end of the patient's log; the patient row's `last_seq`
/// hands out positions, and updating it takes the patient's write lock.
async fn insert_events(conn: &mut SqliteConnection, patient: PatientId, events: &[NewEvent]) -> StoreResult<()> {
    if events.is_empty() {
        return Ok(());
    }
    let patient = patient.to_string();
    let last: i64 =
        sqlx::query_scalar("UPDATE patients SET last_seq = last_seq + $1 WHERE patient_id = $2 RETURNING last_seq")
            .bind(events.len() as i64)
            .bind(&patient)
            .fetch_optional(&mut *conn)
            .await
            .map_err(backend)?
            .ok_or(StoreError::NotFound("patient"))?;
    let first = last - events.len() as i64 + 1;
    let cols: Vec<EventColumns> = events.iter().map(EventColumns::of).collect::<StoreResult<_>>()?;
    for chunk in cols.chunks(500).enumerate() {
        let (chunk_no, chunk) = chunk;
        let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
            "INSERT INTO events (patient_id, seq, event_id, stream, course_id, version, item_id, recorded_at, actor, org_id, kind, category, payload) ",
        );
        qb.push_values(chunk.iter().enumerate(), |mut b, (i, c)| {
            b.push_bind(&patient)
                .push_bind(first + (chunk_no * 500 + i) as i64)
                .push_bind(&c.event_id)
                .push_bind(&c.stream)
                .push_bind(&c.course_id)
                .push_bind(c.version)
                .push_bind(&c.item_id)
                .push_bind(c.recorded_at)
                .push_bind(&c.actor)
                .push_bind(&c.org_id)
                .push_bind(c.kind)
                .push_bind(c.category)
                .push_bind(&c.payload);
        });
        match qb.build().execute(&mut *conn).await {
            Err(e) if is_unique_violation(&e) => return Err(StoreError::Conflict { expected: 0, actual: 0 }),
            other => other.map_err(backend)?,
        };
    }
    Ok(())
}

async fn replace_team(conn: &mut SqliteConnection, patient: PatientId, course: &CourseState) -> StoreResult<()> {
    let patient = patient.to_string();
    let course_id = course.id.to_string();
    sqlx::query("DELETE FROM care_team WHERE patient_id = $1 AND course_id = $2")
        .bind(&patient)
        .bind(&course_id)
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
    for (org, user) in team_rows(course) {
        sqlx::query("INSERT INTO care_team (patient_id, course_id, org_id, user_id) VALUES ($1, $2, $3, $4)")
            .bind(&patient)
            .bind(&course_id)
            .bind(org)
            .bind(user)
            .execute(&mut *conn)
            .await
            .map_err(backend)?;
    }
    Ok(())
}

/// Writes a patient's projections from scratch (import and rebuild).
async fn write_projections(
    conn: &mut SqliteConnection,
    patient: PatientId,
    p: &Projections,
    new_patient: bool,
) -> StoreResult<()> {
    let id = patient.to_string();
    let state: &PatientState = p.patient.as_ref().ok_or(StoreError::NotFound("patient registration in log"))?;
    if new_patient {
        let inserted =
            sqlx::query("INSERT INTO patients (patient_id, cpr, version, last_seq, state) VALUES ($1, $2, $3, 0, $4)")
                .bind(&id)
                .bind(state.cpr.expose())
                .bind(i64_of(state.version))
                .bind(to_json(state)?)
                .execute(&mut *conn)
                .await;
        match inserted {
            Err(e) if is_unique_violation(&e) => return Err(StoreError::Duplicate("a patient with this CPR number")),
            other => other.map_err(backend)?,
        };
    } else {
        sqlx::query("UPDATE patients SET version = $1, state = $2, cpr = $3 WHERE patient_id = $4")
            .bind(i64_of(state.version))
            .bind(to_json(state)?)
            .bind(state.cpr.expose())
            .bind(&id)
            .execute(&mut *conn)
            .await
            .map_err(backend)?;
        for table in ["care_team", "courses"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE patient_id = $1"))
                .bind(&id)
                .execute(&mut *conn)
                .await
                .map_err(backend)?;
        }
    }
    for course in p.courses.values() {
        sqlx::query("INSERT INTO courses (patient_id, course_id, version, title, status, state) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(&id)
            .bind(course.id.to_string())
            .bind(i64_of(course.version))
            .bind(&course.title)
            .bind(course_status_text(course.status))
            .bind(to_json(course)?)
            .execute(&mut *conn)
            .await
            .map_err(backend)?;
        replace_team(conn, patient, course).await?;
    }
    Ok(())
}

#[async_trait]
impl Store for SqliteStore {
    fn engine(&self) -> Engine {
        Engine::Sqlite
    }

    async fn schema_version(&self) -> StoreResult<i64> {
        sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
            .fetch_one(&self.read)
            .await
            .map_err(backend)
    }

    async fn is_empty(&self) -> StoreResult<bool> {
        let n: i64 = sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM organisations) + (SELECT COUNT(*) FROM users) + (SELECT COUNT(*) FROM patients)",
        )
        .fetch_one(&self.read)
        .await
        .map_err(backend)?;
        Ok(n == 0)
    }

    async fn add_organisation(&self, org: &Organisation) -> StoreResult<()> {
        let r = sqlx::query("INSERT INTO organisations (org_id, name, sector, sor) VALUES ($1, $2, $3, $4)")
            .bind(org.id.to_string())
            .bind(&org.name)
            .bind(org.sector.as_str())
            .bind(org.sor.as_ref().map(|s| s.as_str().to_string()))
            .execute(&self.write)
            .await;
        match r {
            Err(e) if is_unique_violation(&e) => Err(StoreError::Duplicate("an organisation with this SOR code")),
            other => other.map(|_| ()).map_err(backend),
        }
    }

    async fn organisation(&self, id: OrgId) -> StoreResult<Option<Organisation>> {
        let row: Option<OrgRow> = sqlx::query_as(&format!("SELECT {ORG_COLUMNS} FROM organisations WHERE org_id = $1"))
            .bind(id.to_string())
            .fetch_optional(&self.read)
            .await
            .map_err(backend)?;
        row.map(decode_org).transpose()
    }

    async fn organisations(&self) -> StoreResult<Vec<Organisation>> {
        let rows: Vec<OrgRow> =
            sqlx::query_as(&format!("SELECT {ORG_COLUMNS} FROM organisations ORDER BY name, org_id"))
                .fetch_all(&self.read)
                .await
                .map_err(backend)?;
        rows.into_iter().map(decode_org).collect()
    }

    async fn add_user(&self, user: &User) -> StoreResult<()> {
        let (kind, profession, org, patient) = user_columns(user);
        let r = sqlx::query("INSERT INTO users (user_id, login, name, kind, profession, org_id, patient_id, disabled, org_admin) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
            .bind(user.id.to_string())
            .bind(&user.login)
            .bind(&user.name)
            .bind(kind)
            .bind(profession)
            .bind(org)
            .bind(patient)
            .bind(user.disabled)
            .bind(user.org_admin)
            .execute(&self.write)
            .await;
        match r {
            Err(e) if is_unique_violation(&e) => Err(StoreError::Duplicate("a user with this login")),
            Err(e) if e.as_database_error().is_some_and(|d| d.is_foreign_key_violation()) => {
                Err(StoreError::NotFound("organisation"))
            }
            other => other.map(|_| ()).map_err(backend),
        }
    }

    async fn set_user_disabled(&self, id: UserId, disabled: bool) -> StoreResult<()> {
        let n = sqlx::query("UPDATE users SET disabled = $1 WHERE user_id = $2")
            .bind(disabled)
            .bind(id.to_string())
            .execute(&self.write)
            .await
            .map_err(backend)?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound("user"));
        }
        Ok(())
    }

    async fn user(&self, id: UserId) -> StoreResult<Option<User>> {
        let row: Option<UserRow> = sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE user_id = $1"))
            .bind(id.to_string())
            .fetch_optional(&self.read)
            .await
            .map_err(backend)?;
        row.map(decode_user).transpose()
    }

    async fn user_by_login(&self, login: &str) -> StoreResult<Option<User>> {
        let row: Option<UserRow> = sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE login = $1"))
            .bind(login)
            .fetch_optional(&self.read)
            .await
            .map_err(backend)?;
        row.map(decode_user).transpose()
    }

    async fn users(&self) -> StoreResult<Vec<User>> {
        let rows: Vec<UserRow> = sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY login"))
            .fetch_all(&self.read)
            .await
            .map_err(backend)?;
        rows.into_iter().map(decode_user).collect()
    }

    async fn add_token(&self, t: &ApiToken) -> StoreResult<()> {
        let r = sqlx::query("INSERT INTO api_tokens (token_id, user_id, token_hash, created_at, expires_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(&t.id)
            .bind(t.user.to_string())
            .bind(&t.hash)
            .bind(to_micros(t.created_at))
            .bind(t.expires_at.map(to_micros))
            .bind(t.revoked_at.map(to_micros))
            .execute(&self.write)
            .await;
        match r {
            Err(e) if is_unique_violation(&e) => Err(StoreError::Duplicate("a token with this id")),
            other => other.map(|_| ()).map_err(backend),
        }
    }

    async fn token_by_hash(&self, hash: &str) -> StoreResult<Option<ApiToken>> {
        let row: Option<TokenRow> =
            sqlx::query_as(&format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE token_hash = $1"))
                .bind(hash)
                .fetch_optional(&self.read)
                .await
                .map_err(backend)?;
        row.map(decode_token).transpose()
    }

    async fn tokens(&self) -> StoreResult<Vec<ApiToken>> {
        let rows: Vec<TokenRow> =
            sqlx::query_as(&format!("SELECT {TOKEN_COLUMNS} FROM api_tokens ORDER BY created_at, token_id"))
                .fetch_all(&self.read)
                .await
                .map_err(backend)?;
        rows.into_iter().map(decode_token).collect()
    }

    async fn revoke_token(&self, id: &str, at: OffsetDateTime) -> StoreResult<bool> {
        let n = sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE token_id = $2 AND revoked_at IS NULL")
            .bind(to_micros(at))
            .bind(id)
            .execute(&self.write)
            .await
            .map_err(backend)?
            .rows_affected();
        Ok(n > 0)
    }

    async fn append(&self, append: Append) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        write_append(&mut tx, &append).await?;
        tx.commit().await.map_err(backend)
    }

    async fn patient(&self, id: PatientId) -> StoreResult<Option<PatientState>> {
        let state: Option<String> = sqlx::query_scalar("SELECT state FROM patients WHERE patient_id = $1")
            .bind(id.to_string())
            .fetch_optional(&self.read)
            .await
            .map_err(backend)?;
        state.map(|s| from_json(&s, "patient projection")).transpose()
    }

    async fn patient_by_cpr(&self, cpr: &Cpr) -> StoreResult<Option<PatientId>> {
        let id: Option<String> = sqlx::query_scalar("SELECT patient_id FROM patients WHERE cpr = $1")
            .bind(cpr.expose())
            .fetch_optional(&self.read)
            .await
            .map_err(backend)?;
        id.map(|i| PatientId::parse(&i).map_err(|_| rows::corrupt("patient id"))).transpose()
    }

    async fn course(&self, patient: PatientId, course: CourseId) -> StoreResult<Option<CourseState>> {
        let state: Option<String> =
            sqlx::query_scalar("SELECT state FROM courses WHERE patient_id = $1 AND course_id = $2")
                .bind(patient.to_string())
                .bind(course.to_string())
                .fetch_optional(&self.read)
                .await
                .map_err(backend)?;
        state.map(|s| from_json(&s, "course projection")).transpose()
    }

    async fn course_summaries(&self, patient: PatientId) -> StoreResult<Vec<CourseSummary>> {
        let rows: Vec<CourseSummaryRow> = sqlx::query_as(
            "SELECT course_id, title, status, version FROM courses WHERE patient_id = $1 ORDER BY course_id",
        )
        .bind(patient.to_string())
        .fetch_all(&self.read)
        .await
        .map_err(backend)?;
        rows.into_iter().map(decode_course_summary).collect()
    }

    async fn care_team(&self, patient: PatientId) -> StoreResult<Vec<(CourseId, TeamMember)>> {
        let rows: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT course_id, org_id, user_id FROM care_team WHERE patient_id = $1 ORDER BY course_id, org_id, user_id",
        )
        .bind(patient.to_string())
        .fetch_all(&self.read)
        .await
        .map_err(backend)?;
        rows.into_iter().map(decode_team_row).collect()
    }

    async fn events(&self, patient: PatientId, filter: EventFilter) -> StoreResult<Vec<Event>> {
        let mut qb: QueryBuilder<Sqlite> =
            QueryBuilder::new(format!("SELECT {EVENT_COLUMNS} FROM events WHERE patient_id = "));
        qb.push_bind(patient.to_string());
        if let Some(course) = filter.course {
            qb.push(" AND course_id = ").push_bind(course.to_string());
        }
        if let Some(item) = filter.item {
            qb.push(" AND item_id = ").push_bind(item.to_string());
        }
        if let Some(since) = filter.since {
            qb.push(" AND recorded_at > ").push_bind(to_micros(since));
        }
        qb.push(" ORDER BY seq");
        let rows: Vec<EventRow> = qb.build_query_as().fetch_all(&self.read).await.map_err(backend)?;
        rows.into_iter().map(decode_event).collect()
    }

    async fn patient_ids(&self, after: Option<PatientId>, limit: u32) -> StoreResult<Vec<PatientId>> {
        let ids: Vec<String> =
            sqlx::query_scalar("SELECT patient_id FROM patients WHERE patient_id > $1 ORDER BY patient_id LIMIT $2")
                .bind(after.map(|a| a.to_string()).unwrap_or_default())
                .bind(i64::from(limit))
                .fetch_all(&self.read)
                .await
                .map_err(backend)?;
        ids.iter().map(|i| PatientId::parse(i).map_err(|_| rows::corrupt("patient id"))).collect()
    }

    async fn count_patients(&self) -> StoreResult<u64> {
        let n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM patients").fetch_one(&self.read).await.map_err(backend)?;
        Ok(u64_of(n))
    }

    async fn replace_projections(&self, patient: PatientId, projections: &Projections) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        write_projections(&mut tx, patient, projections, false).await?;
        tx.commit().await.map_err(backend)
    }

    async fn import(&self, logs: &[PatientLog]) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        for log in logs {
            write_projections(&mut tx, log.patient, &log.projections, true).await?;
            insert_events(&mut tx, log.patient, &log.events).await?;
        }
        tx.commit().await.map_err(backend)
    }

    async fn append_audit(&self, drafts: &[AuditDraft]) -> StoreResult<Vec<AuditEntry>> {
        if drafts.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.begin().await?;
        let (seq, hash): (i64, String) = sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
            .fetch_one(&mut *tx)
            .await
            .map_err(backend)?;
        let entries = chain_after(&AuditHead { seq: u64_of(seq), hash }, drafts);
        for chunk in entries.chunks(500) {
            let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(format!("INSERT INTO audit_log ({AUDIT_COLUMNS}) "));
            qb.push_values(chunk, |mut b, e| {
                b.push_bind(i64_of(e.seq))
                    .push_bind(to_micros(e.draft.at))
                    .push_bind(&e.draft.actor)
                    .push_bind(&e.draft.org)
                    .push_bind(e.draft.action.as_str())
                    .push_bind(e.draft.purpose.as_str())
                    .push_bind(e.draft.patient.map(|p| p.to_string()))
                    .push_bind(&e.draft.object)
                    .push_bind(e.draft.outcome.as_str())
                    .push_bind(&e.prev_hash)
                    .push_bind(&e.hash);
            });
            qb.build().execute(&mut *tx).await.map_err(backend)?;
        }
        let last = entries.last().expect("drafts is not empty");
        sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
            .bind(i64_of(last.seq))
            .bind(&last.hash)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(entries)
    }

    async fn notices_for(&self, user: UserId, limit: u32) -> StoreResult<Vec<Notice>> {
        let rows: Vec<NoticeRow> = sqlx::query_as(&format!(
            "SELECT {NOTICE_COLUMNS} FROM notices WHERE recipient_id = $1 ORDER BY at DESC, notice_id LIMIT $2"
        ))
        .bind(user.to_string())
        .bind(i64::from(limit))
        .fetch_all(&self.pool_read())
        .await
        .map_err(backend)?;
        rows.into_iter().map(decode_notice).collect()
    }

    async fn add_session(&self, s: &Session) -> StoreResult<()> {
        sqlx::query("INSERT INTO sessions (session_hash, user_id, csrf_token, created_at, expires_at, ended_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(&s.hash)
            .bind(s.user.to_string())
            .bind(&s.csrf_token)
            .bind(to_micros(s.created_at))
            .bind(to_micros(s.expires_at))
            .bind(s.ended_at.map(to_micros))
            .execute(&self.pool_write())
            .await
            .map(|_| ())
            .map_err(backend)
    }

    async fn session(&self, hash: &str) -> StoreResult<Option<Session>> {
        let row: Option<SessionRow> =
            sqlx::query_as(&format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE session_hash = $1"))
                .bind(hash)
                .fetch_optional(&self.pool_read())
                .await
                .map_err(backend)?;
        row.map(decode_session).transpose()
    }

    async fn end_session(&self, hash: &str, at: OffsetDateTime) -> StoreResult<()> {
        sqlx::query("UPDATE sessions SET ended_at = $1 WHERE session_hash = $2 AND ended_at IS NULL")
            .bind(to_micros(at))
            .bind(hash)
            .execute(&self.pool_write())
            .await
            .map(|_| ())
            .map_err(backend)
    }

    async fn set_org_admin(&self, id: UserId, admin: bool) -> StoreResult<()> {
        let n = sqlx::query("UPDATE users SET org_admin = $1 WHERE user_id = $2")
            .bind(admin)
            .bind(id.to_string())
            .execute(&self.pool_write())
            .await
            .map_err(backend)?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound("user"));
        }
        Ok(())
    }

    async fn set_password(&self, id: UserId, hash: &str) -> StoreResult<()> {
        let n = sqlx::query("UPDATE users SET password_hash = $1 WHERE user_id = $2")
            .bind(hash)
            .bind(id.to_string())
            .execute(&self.pool_write())
            .await
            .map_err(backend)?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound("user"));
        }
        Ok(())
    }

    async fn password_hash(&self, id: UserId) -> StoreResult<Option<String>> {
        sqlx::query_scalar::<_, Option<String>>("SELECT password_hash FROM users WHERE user_id = $1")
            .bind(id.to_string())
            .fetch_optional(&self.pool_read())
            .await
            .map(Option::flatten)
            .map_err(backend)
    }

    async fn audit_head(&self) -> StoreResult<AuditHead> {
        let (seq, hash): (i64, String) = sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
            .fetch_one(&self.read)
            .await
            .map_err(backend)?;
        Ok(AuditHead { seq: u64_of(seq), hash })
    }

    async fn audit_page(&self, after_seq: u64, limit: u32) -> StoreResult<Vec<AuditEntry>> {
        let rows: Vec<AuditRow> =
            sqlx::query_as(&format!("SELECT {AUDIT_COLUMNS} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2"))
                .bind(i64_of(after_seq))
                .bind(i64::from(limit))
                .fetch_all(&self.read)
                .await
                .map_err(backend)?;
        rows.into_iter().map(decode_audit).collect()
    }

    async fn last_look(
        &self,
        patient: PatientId,
        actor: &str,
        objects: &[String],
    ) -> StoreResult<Option<OffsetDateTime>> {
        let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new("SELECT at FROM audit_log WHERE patient_id = ");
        qb.push_bind(patient.to_string()).push(" AND actor = ").push_bind(actor.to_string());
        qb.push(" AND action = 'read' AND outcome = 'permitted' AND object IN (");
        let mut list = qb.separated(", ");
        for o in objects {
            list.push_bind(o.clone());
        }
        qb.push(") ORDER BY seq DESC LIMIT 1");
        let at: Option<i64> = qb.build_query_scalar().fetch_optional(&self.pool_read()).await.map_err(backend)?;
        Ok(at.map(sammen_domain::clock::from_micros))
    }

    async fn audit_for_patient(&self, patient: PatientId, limit: u32) -> StoreResult<Vec<AuditEntry>> {
        let rows: Vec<AuditRow> = sqlx::query_as(&format!(
            "SELECT {AUDIT_COLUMNS} FROM audit_log WHERE patient_id = $1 ORDER BY seq DESC LIMIT $2"
        ))
        .bind(patient.to_string())
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await
        .map_err(backend)?;
        rows.into_iter().map(decode_audit).collect()
    }
}

/// A new, empty directory under the system's temp dir, for tests.
pub fn test_dir() -> std::path::PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
    let dir = std::env::temp_dir().join(format!(
        "sammen-test-{}-{}-{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("create test dir");
    dir
}
