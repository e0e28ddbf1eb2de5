//! Sammen's embedded engine: one SQLite file in the data directory, in WAL mode.
//!
//! Writes go through a single connection and `BEGIN IMMEDIATE`, so a write transaction
//! holds the write lock from its first statement and never fails half-way on a lock
//! upgrade; reads use a small pool and never wait for writes (WAL). `synchronous=FULL`:
//! a commit that returned is on disk, which the audit trail's promise depends on.
//!
//! Every query is shared with PostgreSQL ([`sammen_store::SqlStore`]); this crate holds
//! only connections, transactions, value conversion and the migrations.

use async_trait::async_trait;
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Connection, Row, Sqlite, SqliteConnection, SqlitePool, Transaction, TypeInfo, ValueRef};
use std::path::Path;
use std::time::Duration;
use time::OffsetDateTime;

use sammen_domain::clock::to_micros;
use sammen_store::sql::{Backend, Sql, SqlError, SqlTx, Val};
use sammen_store::{Engine, SqlStore, StoreError, StoreResult};

/// The migrations, in order. Never edit one that has shipped; add a new one.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/0001_foundation.sql")),
    (2, include_str!("../migrations/0002_sharing_and_sign_in.sql")),
    (3, include_str!("../migrations/0003_messages_and_worklists.sql")),
];

/// Sammen on SQLite.
pub type SqliteStore = SqlStore<SqliteBackend>;

pub struct SqliteBackend {
    read: SqlitePool,
    write: SqlitePool,
}

fn backend(e: sqlx::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn sql_error(e: sqlx::Error) -> SqlError {
    match e.as_database_error() {
        Some(d) if d.is_unique_violation() => SqlError::Unique,
        Some(d) if d.is_foreign_key_violation() => SqlError::ForeignKey,
        _ => SqlError::Other(e.to_string()),
    }
}

/// Opens (creating if needed) the database file and applies pending migrations.
pub async fn open(path: &Path) -> StoreResult<SqliteStore> {
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
    let b = SqliteBackend { read, write };
    b.migrate().await?;
    Ok(SqlStore::new(b))
}

impl SqliteBackend {
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

    /// Runs SQL on the write connection: for tests that tamper with the database on
    /// purpose, and for operators' repair scripts. Not part of the store.
    pub async fn raw_execute(&self, sql: &str) -> StoreResult<u64> {
        sqlx::raw_sql(sql).execute(&self.write).await.map(|r| r.rows_affected()).map_err(backend)
    }
}

fn bind<'q>(
    mut q: sqlx::query::Query<'q, Sqlite, SqliteArguments<'q>>,
    args: &'q [Val],
) -> sqlx::query::Query<'q, Sqlite, SqliteArguments<'q>> {
    for a in args {
        q = match a {
            Val::Int(v) => q.bind(*v),
            Val::Text(v) => q.bind(v.as_deref()),
            Val::Bool(v) => q.bind(*v),
            Val::Bytes(v) => q.bind(v.as_slice()),
        };
    }
    q
}

/// A row as values, by each value's own storage class (SQLite's types are per value).
fn values(row: &SqliteRow) -> Result<Vec<Val>, SqlError> {
    let mut out = Vec::with_capacity(row.columns().len());
    for i in 0..row.columns().len() {
        let raw = row.try_get_raw(i).map_err(sql_error)?;
        let v = if raw.is_null() {
            Val::Text(None)
        } else {
            match raw.type_info().name() {
                "INTEGER" | "BOOLEAN" => Val::Int(Some(row.try_get_unchecked::<i64, _>(i).map_err(sql_error)?)),
                "BLOB" => Val::Bytes(row.try_get_unchecked::<Vec<u8>, _>(i).map_err(sql_error)?),
                "REAL" => return Err(SqlError::Other("Sammen stores no floating-point values".into())),
                _ => Val::Text(Some(row.try_get_unchecked::<String, _>(i).map_err(sql_error)?)),
            }
        };
        out.push(v);
    }
    Ok(out)
}

async fn execute(conn: &mut SqliteConnection, sql: &str, args: Vec<Val>) -> Result<u64, SqlError> {
    bind(sqlx::query(sql), &args).execute(conn).await.map(|r| r.rows_affected()).map_err(sql_error)
}

async fn fetch(conn: &mut SqliteConnection, sql: &str, args: Vec<Val>) -> Result<Vec<Vec<Val>>, SqlError> {
    let rows = bind(sqlx::query(sql), &args).fetch_all(conn).await.map_err(sql_error)?;
    rows.iter().map(values).collect()
}

struct Reader(PoolConnection<Sqlite>);
struct Writer(Transaction<'static, Sqlite>);

#[async_trait]
impl Sql for Reader {
    async fn execute(&mut self, sql: &str, args: Vec<Val>) -> Result<u64, SqlError> {
        execute(&mut self.0, sql, args).await
    }
    async fn fetch(&mut self, sql: &str, args: Vec<Val>) -> Result<Vec<Vec<Val>>, SqlError> {
        fetch(&mut self.0, sql, args).await
    }
}

#[async_trait]
impl Sql for Writer {
    async fn execute(&mut self, sql: &str, args: Vec<Val>) -> Result<u64, SqlError> {
        execute(&mut self.0, sql, args).await
    }
    async fn fetch(&mut self, sql: &str, args: Vec<Val>) -> Result<Vec<Vec<Val>>, SqlError> {
        fetch(&mut self.0, sql, args).await
    }
}

#[async_trait]
impl SqlTx for Writer {
    async fn commit(self: Box<Self>) -> Result<(), SqlError> {
        self.0.commit().await.map_err(sql_error)
    }
}

#[async_trait]
impl Backend for SqliteBackend {
    fn engine(&self) -> Engine {
        Engine::Sqlite
    }

    async fn reader(&self) -> StoreResult<Box<dyn Sql>> {
        Ok(Box::new(Reader(self.read.acquire().await.map_err(backend)?)))
    }

    async fn writer(&self) -> StoreResult<Box<dyn SqlTx>> {
        Ok(Box::new(Writer(self.write.begin_with("BEGIN IMMEDIATE").await.map_err(backend)?)))
    }

    fn lock_rows(&self) -> &'static str {
        ""
    }

    async fn schema_version(&self) -> StoreResult<i64> {
        sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
            .fetch_one(&self.read)
            .await
            .map_err(backend)
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
