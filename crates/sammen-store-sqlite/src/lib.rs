//! Sammen's embedded engine: one SQLite file in the data directory, in WAL mode.
//!
//! Writes go through a single connection and `BEGIN IMMEDIATE`, so a write transaction
//! holds the write lock from its first statement and never fails half-way on a lock
//! upgrade; reads use a small pool of read-only connections and never wait for writes
//! (WAL). A commit is answered only once it is on disk, which the audit trail's promise
//! depends on; the log is synced after the write lock is let go, so the next transaction
//! need not wait for the disk (see [`durable`]). Checkpoints run beside the writer, on a
//! connection of their own (see [`start_checkpointer`]).
//!
//! The audit trail's index by patient is a third file, written only by the indexer on a
//! connection of its own ([`Role`]); the appends' connection attaches it read-only.
//!
//! SQLite is called through `rusqlite`: statements on the async thread that asks, and
//! only what waits, for the disk (`COMMIT`) or for another process's write lock (a
//! `BEGIN IMMEDIATE` that could not take it at once), on Tokio's blocking pool;
//! the indexer's statements and commits on its own thread. Every query is shared with PostgreSQL ([`sammen_store::SqlStore`]);
//! this crate holds only connections, transactions, value conversion and migrations.

use async_trait::async_trait;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags, ToSql};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex};
use time::OffsetDateTime;
use tokio::sync::{OwnedMutexGuard, OwnedSemaphorePermit, Semaphore};

use sammen_domain::clock::to_micros;
use sammen_store::sql::{Backend, Row, Sql, SqlError, SqlTx, Val};
use sammen_store::{Engine, SqlStore, StoreError, StoreResult};

mod durable;
use durable::Syncer;

/// The migrations, in order. Never edit one that has shipped; add a new one.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/0001_foundation.sql")),
    (2, include_str!("../migrations/0002_sharing_and_sign_in.sql")),
    (3, include_str!("../migrations/0003_messages_and_worklists.sql")),
    (4, include_str!("../migrations/0004_language.sql")),
    (5, include_str!("../migrations/0005_audit_index.sql")),
    (6, include_str!("../migrations/0006_events_by_patient_only.sql")),
    (7, include_str!("../migrations/0007_course_state_stamps.sql")),
    (8, include_str!("../migrations/0008_course_state_snapshots.sql")),
];

/// The least time between two checkpoints: each copies what was committed since the last
/// from the write-ahead logs back into the database files, and syncs them.
const CHECKPOINT_GAP: std::time::Duration = std::time::Duration::from_millis(100);
/// How long the checkpointer waits for a commit before it checkpoints anyway.
const CHECKPOINT_IDLE: std::time::Duration = std::time::Duration::from_secs(1);
/// WAL pages at which a committing writer checkpoints by itself: only a fallback, should
/// the checkpointer fall behind (SQLite's default is 1,000). Under steady load a log does
/// reach it (see [`start_checkpointer`]), with every page but the last few copied.
const WRITER_CHECKPOINT_PAGES: u32 = 20_000;

/// Read-only connections kept open for reads.
const READERS: usize = 4;
/// The page cache of the record's file, in KiB, for a reader (and for migrations,
/// checkpoints and the indexer).
const MAIN_CACHE_KIB: u32 = 32_000;
/// The same for the one writer, smaller: when a change rebalances pages, SQLite for a
/// moment gives one of them the number of the page 1 GiB into the file; in a smaller
/// file that lies past the end, and the commit then walks the writer's whole page hash
/// to drop it, a walk as long as the cache is large (3-4 % of the CPU of a create at
/// 32 MB). See BENCHMARKS.md, "The writer's page cache".
const WRITER_CACHE_KIB: u32 = 8_000;
/// How long a statement waits for a lock another process holds.
const BUSY_TIMEOUT_MS: u64 = 10_000;
/// Prepared statements kept per connection.
const STATEMENT_CACHE: usize = 256;

/// Sammen on SQLite.
pub type SqliteStore = SqlStore<SqliteBackend>;

pub struct SqliteBackend {
    path: PathBuf,
    readers: Arc<Readers>,
    writer: Arc<tokio::sync::Mutex<Option<Connection>>>,
    /// The connection that brings the audit trail's per-patient index up to date (the
    /// one that migrated the database).
    index_writer: Arc<tokio::sync::Mutex<Option<Connection>>>,
    /// Tells the checkpointer a commit has just returned; dropped with the backend (and
    /// its writers), which stops the checkpointer.
    checkpoints: SyncSender<()>,
    /// Syncs the write-ahead logs after the write connection's commits.
    syncer: Arc<Syncer>,
}

/// The read pool: idle connections, and permits for how many may be in use.
struct Readers {
    idle: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
}

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn sql_error(e: rusqlite::Error) -> SqlError {
    use rusqlite::ffi;
    match &e {
        rusqlite::Error::SqliteFailure(f, _) => match f.extended_code {
            ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => SqlError::Unique,
            ffi::SQLITE_CONSTRAINT_FOREIGNKEY => SqlError::ForeignKey,
            _ => SqlError::Other(e.to_string()),
        },
        _ => SqlError::Other(e.to_string()),
    }
}

/// The audit trail's file, beside the record's: `sammen.db` keeps `sammen-audit.db`.
pub fn audit_path(path: &Path) -> PathBuf {
    beside(path, "audit")
}

/// The per-patient index of the audit trail, beside it: `sammen-audit-index.db`. Derived
/// from the trail (see migration 0005); a file of its own so that bringing it up to date
/// takes a write lock of its own, not the one every append waits for.
pub fn audit_index_path(path: &Path) -> PathBuf {
    beside(path, "audit-index")
}

/// `sammen.db` and `audit` make `sammen-audit.db`, in the same directory.
fn beside(path: &Path, what: &str) -> PathBuf {
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "sammen".into());
    path.with_file_name(format!("{stem}-{what}.db"))
}

/// `file:` URI that opens `path` read-only; the characters a URI gives meaning to are
/// escaped.
fn read_only_uri(path: &Path) -> String {
    let mut uri = String::from("file:");
    for c in path.to_string_lossy().chars() {
        match c {
            '%' => uri.push_str("%25"),
            '?' => uri.push_str("%3F"),
            '#' => uri.push_str("%23"),
            c => uri.push(c),
        }
    }
    uri.push_str("?mode=ro");
    uri
}

/// What a connection is for, which decides what it may write and which files it attaches.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Reads, of everything, read-only.
    Read,
    /// The one writer of the record and the trail. It attaches the trail's index
    /// read-only: `BEGIN IMMEDIATE` takes the write lock of every file attached
    /// read-write, and the index's belongs to the indexer, which must never wait for an
    /// append nor make one wait. (A unit of work reads on this connection, the patient's
    /// access log included, so the index must be there to read.)
    Write,
    /// Migrations, checkpoints and the indexer: everything attached, read-write.
    Maintain,
}

/// Opens a connection with Sammen's settings, the audit trail attached as `audit` and
/// its index as `audit_index` (read-only for the writer, see [`Role::Write`]).
///
/// The audit trail is a file of its own because every read appends to it: a commit to
/// a file makes every other connection drop its cached pages of that file, and the
/// record's pages should stay warm while reads are being audited.
fn connect(path: &Path, role: Role) -> rusqlite::Result<Connection> {
    let read_only = role == Role::Read;
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    // URIs, for attaching one file read-only; a plain path still opens as a path.
    let conn = Connection::open_with_flags(path, flags | OpenFlags::SQLITE_OPEN_URI)?;
    conn.busy_timeout(std::time::Duration::from_millis(BUSY_TIMEOUT_MS))?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.execute("ATTACH DATABASE ?1 AS audit", [audit_path(path).to_string_lossy()])?;
    let main_cache = if role == Role::Write { WRITER_CACHE_KIB } else { MAIN_CACHE_KIB };
    conn.execute_batch(&format!(
        "PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY; \
         PRAGMA main.cache_size = -{main_cache}; PRAGMA audit.cache_size = -8000;"
    ))?;
    if !read_only {
        // The writer's commits do not sync the log: the syncer does, after the write lock
        // is let go, before anyone hears (see `durable`). Checkpoints and migrations, on
        // the other connections, sync as they go.
        let sync = if role == Role::Write { "NORMAL" } else { "FULL" };
        // The autocheckpoint is one setting for the whole connection.
        conn.execute_batch(&format!(
            "PRAGMA main.journal_mode = WAL; PRAGMA main.synchronous = {sync}; \
             PRAGMA audit.journal_mode = WAL; PRAGMA audit.synchronous = {sync}; \
             PRAGMA wal_autocheckpoint = {WRITER_CHECKPOINT_PAGES};"
        ))?;
    }
    let index = audit_index_path(path);
    let index = if role == Role::Write { read_only_uri(&index) } else { index.to_string_lossy().into_owned() };
    conn.execute("ATTACH DATABASE ?1 AS audit_index", [index])?;
    conn.execute_batch("PRAGMA audit_index.cache_size = -4000;")?;
    if role == Role::Maintain {
        // Derived data: a catch-up lost to a power cut is done again.
        conn.execute_batch("PRAGMA audit_index.journal_mode = WAL; PRAGMA audit_index.synchronous = NORMAL;")?;
    }
    Ok(conn)
}

/// Opens (creating if needed) the database file and applies pending migrations.
pub async fn open(path: &Path) -> StoreResult<SqliteStore> {
    let path = path.to_path_buf();
    let syncer = Syncer::start(durable::logs(&path, &audit_path(&path))).map_err(backend)?;
    let (writer, indexer) = blocking({
        let (path, logs) = (path.clone(), syncer.logs().clone());
        move || {
            let mut maintain = connect(&path, Role::Maintain).map_err(backend)?;
            migrate(&mut maintain)?;
            Ok((connect_writer(&path, logs).map_err(backend)?, maintain))
        }
    })
    .await?;
    let readers = Arc::new(Readers { idle: Mutex::new(Vec::new()), permits: Arc::new(Semaphore::new(READERS)) });
    let checkpointer = start_checkpointer(&path)?;
    let b = SqliteBackend {
        path,
        readers,
        writer: Arc::new(tokio::sync::Mutex::new(Some(writer))),
        index_writer: Arc::new(tokio::sync::Mutex::new(Some(indexer))),
        checkpoints: checkpointer,
        syncer,
    };
    Ok(SqlStore::new(b))
}

/// Checkpoints both write-ahead logs on a connection and a thread of its own, right after
/// a commit returns (at most once per [`CHECKPOINT_GAP`], and at least once per
/// [`CHECKPOINT_IDLE`]), until every sender is dropped.
///
/// Left to SQLite, the commit that fills the log to 1,000 pages copies them all back
/// and syncs the database file before it returns: every few hundred audited reads, one
/// waits several milliseconds longer than the rest (the worklist's p99). A passive
/// checkpoint here never takes the write lock and never waits. SQLite starts a log from
/// its beginning again only when a write begins after a checkpoint copied all of it and
/// no reader is still inside it; under steady load that happens now and then, so a log
/// file grows to thousands of pages (measured: up to the writer's 20,000). That costs
/// disk, not time: a reader searches only the pages not yet copied, and a commit syncs
/// only what it wrote, into a file already that long. It starts just after a commit, not on a timer,
/// because the sync of the database file it ends with holds up a commit's own sync of
/// the log: just after one commit is when the next is furthest away (at 100,000
/// patients, the worklist's audit COMMIT had p99 5.8 ms on a timer, 3.8 ms so).
fn start_checkpointer(path: &Path) -> StoreResult<SyncSender<()>> {
    let (commits, committed) = std::sync::mpsc::sync_channel::<()>(1);
    let conn = connect(path, Role::Maintain).map_err(backend)?;
    std::thread::Builder::new()
        .name("sammen-checkpoint".into())
        .spawn(move || {
            // A failure is logged once, not ten times a second, until checkpoints work again.
            let mut failing = false;
            let mut last = std::time::Instant::now();
            while !matches!(committed.recv_timeout(CHECKPOINT_IDLE), Err(RecvTimeoutError::Disconnected)) {
                if last.elapsed() < CHECKPOINT_GAP {
                    continue;
                }
                last = std::time::Instant::now();
                match conn.execute_batch(
                    "PRAGMA main.wal_checkpoint(PASSIVE); PRAGMA audit.wal_checkpoint(PASSIVE); \
                     PRAGMA audit_index.wal_checkpoint(PASSIVE);",
                ) {
                    Ok(()) => failing = false,
                    Err(e) if !failing => {
                        tracing::warn!(error = %e, "checkpoint failed; a writer will checkpoint instead");
                        failing = true;
                    }
                    Err(_) => {}
                }
            }
        })
        .map_err(backend)?;
    Ok(commits)
}

/// Runs blocking work on Tokio's blocking pool.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> StoreResult<T> + Send + 'static) -> StoreResult<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| StoreError::Backend(format!("a database task failed: {e}")))?
}

/// Applies every migration not applied yet, each in its own transaction.
fn migrate(conn: &mut Connection) -> StoreResult<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
    )
    .map_err(backend)?;
    for (version, sql) in MIGRATIONS {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(backend)?;
        let done: bool = tx
            .query_row("SELECT COUNT(*) FROM schema_migrations WHERE version = ?", [version], |r| r.get::<_, i64>(0))
            .map_err(backend)?
            > 0;
        if !done {
            tx.execute_batch(sql).map_err(backend)?;
            tx.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                [*version, to_micros(OffsetDateTime::now_utc())],
            )
            .map_err(backend)?;
        }
        tx.commit().map_err(backend)?;
    }
    Ok(())
}

impl SqliteBackend {
    /// Runs one SQL statement on the write connection: for tests that tamper with the
    /// database on purpose, and for operators' repair scripts. Not part of the store. The
    /// trail's index is read-only here (it is the indexer's).
    pub async fn raw_execute(&self, sql: &str) -> StoreResult<u64> {
        let mut w = connection(self).await?;
        let sql = sql.to_string();
        let conn = w.take().ok_or_else(|| backend("the write connection is gone"))?;
        let (conn, result) = tokio::task::spawn_blocking(move || {
            let r = conn.execute(&sql, []).map(|n| n as u64).map_err(|e| StoreError::Backend(e.to_string()));
            (conn, r)
        })
        .await
        .map_err(backend)?;
        *w = Some(conn);
        let n = result?;
        self.syncer.durable().await.map_err(backend)?;
        Ok(n)
    }
}

/// A write connection, opened if there is none yet or a cancelled write took the last one
/// with it.
async fn connection(b: &SqliteBackend) -> StoreResult<OwnedMutexGuard<Option<Connection>>> {
    let mut guard = b.writer.clone().lock_owned().await;
    if guard.is_none() {
        let (path, logs) = (b.path.clone(), b.syncer.logs().clone());
        *guard = Some(blocking(move || connect_writer(&path, logs).map_err(backend)).await?);
    }
    Ok(guard)
}

/// The write connection, which notes the logs each commit writes (see [`durable`]).
fn connect_writer(path: &Path, logs: durable::Logs) -> rusqlite::Result<Connection> {
    let mut conn = connect(path, Role::Write)?;
    durable::watch_commits(&mut conn, logs, WRITER_CHECKPOINT_PAGES)?;
    Ok(conn)
}

/// Binds a value as SQLite sees it.
struct Param<'a>(&'a Val);

impl ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self.0 {
            Val::Int(Some(i)) => ToSqlOutput::Borrowed(ValueRef::Integer(*i)),
            Val::Bool(b) => ToSqlOutput::Borrowed(ValueRef::Integer(i64::from(*b))),
            Val::Text(Some(s)) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Val::Bytes(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
            Val::Int(None) | Val::Text(None) => ToSqlOutput::Borrowed(ValueRef::Null),
        })
    }
}

/// Rewrites `$1`-style placeholders as plain `?`, with the arguments in the order the
/// placeholders appear. SQLite looks numbered and named parameters up in a list, so a
/// statement with many of them (a long `IN` list, a multi-row insert) binds in time
/// quadratic in their number; plain `?` binds in constant time each.
///
/// With `typed`, a text argument's placeholder is written `CAST(? AS TEXT)`. SQLite plans
/// a join or an `ORDER BY` with a plain `?` by looking at the value bound to it, and so
/// marks the statement stale at every new binding and prepares it again from its text
/// on the next run (`sqlite3_stmt_status` counts one re-prepare per run); a placeholder
/// whose type is stated is planned once. Reads use it; writes, whose multi-row inserts
/// vary in length, do not.
fn positional(sql: &str, args: Vec<Val>, typed: bool) -> (String, Vec<Val>) {
    let bytes = sql.as_bytes();
    // Each placeholder: where it starts and ends in `sql`, and the argument it names.
    let mut found: Vec<(usize, usize, usize)> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'$' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit) {
            let start = i + 1;
            let mut end = start;
            while end < bytes.len() && bytes[end].is_ascii_digit() {
                end += 1;
            }
            found.push((i, end, sql[start..end].parse::<usize>().unwrap_or(0)));
            i = end;
        } else {
            i += 1;
        }
    }
    let in_order = found.len() == args.len() && found.iter().enumerate().all(|(k, f)| f.2 == k + 1);
    let args: Vec<Val> = if in_order {
        args
    } else {
        found.iter().map(|f| args.get(f.2.wrapping_sub(1)).cloned().unwrap_or(Val::Text(None))).collect()
    };
    let mut out = String::with_capacity(sql.len() + found.len() * 16);
    let mut copied = 0;
    for ((from, to, _), arg) in found.iter().zip(&args) {
        out.push_str(&sql[copied..*from]);
        out.push_str(if typed && matches!(arg, Val::Text(Some(_))) { "CAST(? AS TEXT)" } else { "?" });
        copied = *to;
    }
    out.push_str(&sql[copied..]);
    (out, args)
}

fn run_execute(conn: &Connection, sql: &str, args: Vec<Val>) -> Result<u64, SqlError> {
    let (sql, args) = positional(sql, args, false);
    let mut stmt = conn.prepare_cached(&sql).map_err(sql_error)?;
    let n = stmt.execute(rusqlite::params_from_iter(args.iter().map(Param))).map_err(sql_error)?;
    Ok(n as u64)
}

fn run_fetch(conn: &Connection, sql: &str, args: Vec<Val>) -> Result<Vec<Row>, SqlError> {
    let (sql, args) = positional(sql, args, true);
    let mut stmt = conn.prepare_cached(&sql).map_err(sql_error)?;
    let columns = stmt.column_count();
    let mut rows = stmt.query(rusqlite::params_from_iter(args.iter().map(Param))).map_err(sql_error)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(sql_error)? {
        let mut values = Vec::with_capacity(columns);
        for i in 0..columns {
            values.push(match row.get_ref(i).map_err(sql_error)? {
                ValueRef::Null => Val::Text(None),
                ValueRef::Integer(v) => Val::Int(Some(v)),
                ValueRef::Text(t) => Val::Text(Some(
                    std::str::from_utf8(t).map_err(|_| SqlError::Other("text that is not UTF-8".into()))?.to_owned(),
                )),
                ValueRef::Blob(b) => Val::Bytes(b.to_vec()),
                ValueRef::Real(_) => return Err(SqlError::Other("Sammen stores no floating-point values".into())),
            });
        }
        out.push(values);
    }
    Ok(out)
}

/// Runs one statement on a connection on the blocking pool, and gives it back.
async fn on_connection<T: Send + 'static>(
    slot: &mut Option<Connection>,
    f: impl FnOnce(&Connection) -> Result<T, SqlError> + Send + 'static,
) -> Result<T, SqlError> {
    let conn = slot.take().ok_or_else(|| SqlError::Other("the connection was lost by a cancelled call".into()))?;
    let (conn, result) = tokio::task::spawn_blocking(move || {
        let r = f(&conn);
        (conn, r)
    })
    .await
    .map_err(|e| SqlError::Other(format!("a database task failed: {e}")))?;
    *slot = Some(conn);
    result
}

/// `BEGIN IMMEDIATE` if the write lock is free now; false, with nothing begun, if not.
fn begin_at_once(conn: &Connection) -> bool {
    let busy = |t: u64| conn.busy_timeout(std::time::Duration::from_millis(t));
    let begun = busy(0).is_ok() && conn.execute_batch("BEGIN IMMEDIATE").is_ok();
    // The connection's own wait again, for every later statement. (Setting it cannot
    // fail on an open connection; were it to, those statements would only wait less.)
    let _ = busy(BUSY_TIMEOUT_MS);
    begun
}

/// A read connection from the pool; it goes back to the pool when dropped.
struct Reader {
    conn: Option<Connection>,
    readers: Arc<Readers>,
    _permit: OwnedSemaphorePermit,
}

impl Drop for Reader {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.readers.idle.lock().unwrap_or_else(|e| e.into_inner()).push(conn);
        }
    }
}

/// The write connection inside `BEGIN IMMEDIATE`; rolled back if dropped uncommitted.
struct Writer {
    guard: OwnedMutexGuard<Option<Connection>>,
    open: bool,
    /// Where to say a commit has just returned; none for the index's writer, whose
    /// commits are checkpointed with the next append's, in the lull just after it.
    checkpoints: Option<SyncSender<()>>,
    /// What makes a commit durable before it is answered, on the blocking pool. None for
    /// the index's writer: its file is derived and synced only at checkpoints (a catch-up
    /// lost to a power cut is done again), and it commits on the calling thread, the
    /// indexer's own, which may block.
    syncer: Option<Arc<Syncer>>,
}

impl Drop for Writer {
    fn drop(&mut self) {
        if self.open {
            if let Some(conn) = self.guard.as_ref() {
                // Quick and local; a rollback that fails leaves SQLite to roll back when
                // the next BEGIN finds the transaction open.
                let _ = conn.execute_batch("ROLLBACK");
            }
        }
    }
}

/// Reads run where they are asked, on the async thread, not on the blocking pool: a read
/// is a few index seeks in pages the OS has cached and never waits for a lock (WAL), so
/// it takes tens of microseconds, less than handing it to another thread and waking the
/// caller again costs (the largest item in a profile of FHIR reads). What waits for the
/// disk (`BEGIN IMMEDIATE`, `COMMIT`) still goes to the blocking pool.
#[async_trait]
impl Sql for Reader {
    async fn execute(&mut self, sql: &str, args: Vec<Val>) -> Result<u64, SqlError> {
        run_execute(self.connection()?, sql, args)
    }
    async fn fetch(&mut self, sql: &str, args: Vec<Val>) -> Result<Vec<Row>, SqlError> {
        run_fetch(self.connection()?, sql, args)
    }
}

impl Reader {
    fn connection(&self) -> Result<&Connection, SqlError> {
        self.conn.as_ref().ok_or_else(|| SqlError::Other("the read connection is gone".into()))
    }
}

/// Inside a write transaction, statements run on the async thread too: they change pages
/// in memory and the log, and only `COMMIT` (on the blocking pool) waits for the disk.
#[async_trait]
impl Sql for Writer {
    async fn execute(&mut self, sql: &str, args: Vec<Val>) -> Result<u64, SqlError> {
        run_execute(self.connection()?, sql, args)
    }
    async fn fetch(&mut self, sql: &str, args: Vec<Val>) -> Result<Vec<Row>, SqlError> {
        run_fetch(self.connection()?, sql, args)
    }
}

impl Writer {
    fn connection(&self) -> Result<&Connection, SqlError> {
        self.guard.as_ref().ok_or_else(|| SqlError::Other("the write connection is gone".into()))
    }
}

#[async_trait]
impl SqlTx for Writer {
    async fn commit(mut self: Box<Self>) -> Result<(), SqlError> {
        let synced = match self.syncer.clone() {
            // The indexer's, on its own thread.
            None => {
                self.connection()?.execute_batch("COMMIT").map_err(sql_error)?;
                durable::Synced::Already
            }
            Some(syncer) => {
                on_connection(&mut self.guard, move |c| {
                    syncer.commit(c).map_err(|e| match e {
                        durable::CommitError::Sql(e) => sql_error(e),
                        durable::CommitError::Disk => SqlError::Other(durable::DISK_FAILED.into()),
                    })
                })
                .await?
            }
        };
        self.open = false;
        let (syncer, checkpoints) = (self.syncer.take(), self.checkpoints.take());
        // Let go of the write connection before waiting for the disk: the next
        // transaction writes while this one's log is synced.
        drop(self);
        if let (durable::Synced::Later, Some(syncer)) = (synced, syncer) {
            syncer.durable().await.map_err(SqlError::Other)?;
        }
        // Full means a checkpoint is already due.
        if let Some(c) = checkpoints {
            let _ = c.try_send(());
        }
        Ok(())
    }
}

#[async_trait]
impl Backend for SqliteBackend {
    fn engine(&self) -> Engine {
        Engine::Sqlite
    }

    async fn reader(&self) -> StoreResult<Box<dyn Sql>> {
        let permit = self.readers.permits.clone().acquire_owned().await.map_err(backend)?;
        let idle = self.readers.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let conn = match idle {
            Some(c) => c,
            None => {
                let path = self.path.clone();
                blocking(move || connect(&path, Role::Read).map_err(backend)).await?
            }
        };
        Ok(Box::new(Reader { conn: Some(conn), readers: self.readers.clone(), _permit: permit }))
    }

    async fn writer(&self) -> StoreResult<Box<dyn SqlTx>> {
        let mut guard = connection(self).await?;
        // No other connection of this process takes the record's write lock, so it is
        // almost always free: take it here without waiting, and go to the blocking pool
        // (to wait for it) only if another process holds it.
        if !guard.as_ref().is_some_and(begin_at_once) {
            on_connection(&mut guard, |c| c.execute_batch("BEGIN IMMEDIATE").map_err(sql_error)).await?;
        }
        Ok(Box::new(Writer {
            guard,
            open: true,
            checkpoints: Some(self.checkpoints.clone()),
            syncer: Some(self.syncer.clone()),
        }))
    }

    /// A deferred transaction on a connection of its own: `BEGIN IMMEDIATE` would take the
    /// write lock of every attached file, the record's and the trail's too. This one only
    /// reads the trail, and takes the index's write lock with its first statement (a write
    /// to the index), which no append ever holds ([`Role::Write`]). Everything runs on the
    /// calling thread, the indexer's own: nothing of it needs the blocking pool.
    async fn index_writer(&self) -> StoreResult<Box<dyn SqlTx>> {
        let mut guard = self.index_writer.clone().lock_owned().await;
        if guard.is_none() {
            *guard = Some(connect(&self.path, Role::Maintain).map_err(backend)?);
        }
        let conn = guard.as_ref().ok_or_else(|| backend("the index connection is gone"))?;
        if !conn.is_autocommit() {
            // A transaction a failed rollback left open would refuse every BEGIN after it.
            let _ = conn.execute_batch("ROLLBACK");
        }
        conn.execute_batch("BEGIN").map_err(backend)?;
        Ok(Box::new(Writer { guard, open: true, checkpoints: None, syncer: None }))
    }

    fn lock_rows(&self) -> &'static str {
        ""
    }

    /// One write transaction at a time, each commit waiting for the disk: appends that
    /// queue for the write lock share a commit.
    fn groups_appends(&self) -> bool {
        true
    }

    async fn schema_version(&self) -> StoreResult<i64> {
        let mut r = self.reader().await?;
        let rows = r.fetch("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", vec![]).await?;
        match rows.first().and_then(|row| row.first()) {
            Some(Val::Int(Some(v))) => Ok(*v),
            _ => Err(StoreError::Corrupt("schema_migrations".into())),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_positional() {
        let (sql, args) =
            positional("SELECT a FROM t WHERE x = $2 AND y = $1 AND z = $2", vec![1.into(), "b".into()], false);
        assert_eq!(sql, "SELECT a FROM t WHERE x = ? AND y = ? AND z = ?");
        assert_eq!(args, vec![Val::from("b"), Val::from(1), Val::from("b")]);
        let (sql, args) = positional("VALUES ($1, $2), ($3, $4)", vec![1.into(), 2.into(), 3.into(), 4.into()], false);
        assert_eq!(sql, "VALUES (?, ?), (?, ?)");
        assert_eq!(args.len(), 4);
        let (sql, _) =
            positional("SELECT a FROM t WHERE x = $2 AND y = $1 LIMIT $3", vec![1.into(), "b".into(), 5.into()], true);
        assert_eq!(sql, "SELECT a FROM t WHERE x = CAST(? AS TEXT) AND y = ? LIMIT ?");
    }

    /// A read with a join and an ORDER BY, run with a new value each time, is prepared
    /// once, not again on every run.
    #[test]
    fn reads_are_not_prepared_again_for_each_value() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE p (id TEXT PRIMARY KEY, name TEXT); CREATE TABLE c (p TEXT, id TEXT, PRIMARY KEY (p, id));",
        )
        .unwrap();
        let q = "SELECT c.id, p.name FROM c JOIN p ON p.id = c.p WHERE c.p = $1 ORDER BY c.id";
        for n in 0..5 {
            run_fetch(&conn, q, vec![format!("patient-{n}").into()]).unwrap();
        }
        let (sql, _) = positional(q, vec!["x".into()], true);
        let stmt = conn.prepare_cached(&sql).unwrap();
        assert_eq!(stmt.get_status(rusqlite::StatementStatus::RePrepare), 0);
    }
}
