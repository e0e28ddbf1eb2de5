//! Sammen's production engine: PostgreSQL, chosen by a `postgres://` URL.
//!
//! Every patient table leads with `patient_id`, so the schema can be distributed by
//! patient (e.g. Citus) without a redesign. Concurrency is row locks under READ
//! COMMITTED: the compare-and-set `UPDATE ... WHERE version = $n` on the stream's row
//! makes a second writer wait and then find the version moved (a conflict), and the
//! patient row's `last_seq` hands out log positions one writer at a time. The audit
//! head is taken `FOR UPDATE`, so several servers share one chain.
//!
//! Every query is shared with SQLite ([`sammen_store::SqlStore`]); this crate holds
//! only connections, transactions, value conversion and the migrations.

use async_trait::async_trait;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgArguments, PgConnectOptions, PgConnection, PgPoolOptions, PgRow};
use sqlx::{Column, PgPool, Postgres, Row, Transaction, TypeInfo, ValueRef};
use std::str::FromStr;
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
    (4, include_str!("../migrations/0004_language.sql")),
    (5, include_str!("../migrations/0005_audit_index.sql")),
    (6, include_str!("../migrations/0006_events_by_patient_only.sql")),
    (7, include_str!("../migrations/0007_course_state_stamps.sql")),
    (8, include_str!("../migrations/0008_course_state_snapshots.sql")),
];

/// Sammen on PostgreSQL.
pub type PostgresStore = SqlStore<PostgresBackend>;

pub struct PostgresBackend {
    pool: PgPool,
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

fn options(url: &str) -> StoreResult<PgConnectOptions> {
    PgConnectOptions::from_str(url).map_err(|_| StoreError::Backend("the PostgreSQL URL is not valid".to_string()))
}

/// Connects and applies pending migrations.
pub async fn connect(url: &str) -> StoreResult<PostgresStore> {
    connect_with(options(url)?).await
}

/// Connects to another database on the same server as `url`, and migrates it.
pub async fn connect_database(url: &str, database: &str) -> StoreResult<PostgresStore> {
    connect_with(options(url)?.database(database)).await
}

pub async fn connect_with(options: PgConnectOptions) -> StoreResult<PostgresStore> {
    let pool = PgPoolOptions::new()
        .max_connections(16)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await
        .map_err(backend)?;
    let b = PostgresBackend { pool };
    b.migrate().await?;
    Ok(SqlStore::new(b))
}

/// Runs one statement on the server of `url` outside any database of Sammen's: to
/// create or drop the databases that benchmarks and tests use.
pub async fn on_server(url: &str, sql: &str) -> StoreResult<u64> {
    let pool = PgPoolOptions::new().max_connections(1).connect_with(options(url)?).await.map_err(backend)?;
    let r = sqlx::raw_sql(sql).execute(&pool).await.map(|r| r.rows_affected()).map_err(backend);
    pool.close().await;
    r
}

impl PostgresBackend {
    /// Applies every migration not applied yet, each in its own transaction, under an
    /// advisory lock so that two servers starting together do not race.
    pub async fn migrate(&self) -> StoreResult<()> {
        let mut conn = self.pool.acquire().await.map_err(backend)?;
        sqlx::raw_sql(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
        )
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
        for (version, sql) in MIGRATIONS {
            let mut tx = self.pool.begin().await.map_err(backend)?;
            sqlx::query("SELECT pg_advisory_xact_lock(7245001)").execute(&mut *tx).await.map_err(backend)?;
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

    /// Runs SQL: for tests that tamper with the database on purpose, and for
    /// operators' repair scripts. Not part of the store.
    pub async fn raw_execute(&self, sql: &str) -> StoreResult<u64> {
        sqlx::raw_sql(sql).execute(&self.pool).await.map(|r| r.rows_affected()).map_err(backend)
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

fn bind<'q>(
    mut q: sqlx::query::Query<'q, Postgres, PgArguments>,
    args: &'q [Val],
) -> sqlx::query::Query<'q, Postgres, PgArguments> {
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

/// A row as values, by each column's type.
fn values(row: &PgRow) -> Result<Vec<Val>, SqlError> {
    let mut out = Vec::with_capacity(row.columns().len());
    for (i, col) in row.columns().iter().enumerate() {
        let null = row.try_get_raw(i).map_err(sql_error)?.is_null();
        let v = match col.type_info().name() {
            "INT8" => Val::Int(row.try_get::<Option<i64>, _>(i).map_err(sql_error)?),
            "INT4" => Val::Int(row.try_get::<Option<i32>, _>(i).map_err(sql_error)?.map(i64::from)),
            "INT2" => Val::Int(row.try_get::<Option<i16>, _>(i).map_err(sql_error)?.map(i64::from)),
            "BOOL" if null => Val::Int(None),
            "BOOL" => Val::Bool(row.try_get::<bool, _>(i).map_err(sql_error)?),
            "BYTEA" if null => Val::Text(None),
            "BYTEA" => Val::Bytes(row.try_get::<Vec<u8>, _>(i).map_err(sql_error)?),
            "TEXT" | "VARCHAR" | "NAME" | "BPCHAR" => {
                Val::Text(row.try_get::<Option<String>, _>(i).map_err(sql_error)?)
            }
            other => return Err(SqlError::Other(format!("unexpected column type {other}"))),
        };
        out.push(v);
    }
    Ok(out)
}

async fn execute(conn: &mut PgConnection, sql: &str, args: Vec<Val>) -> Result<u64, SqlError> {
    bind(sqlx::query(sql), &args).execute(conn).await.map(|r| r.rows_affected()).map_err(sql_error)
}

async fn fetch(conn: &mut PgConnection, sql: &str, args: Vec<Val>) -> Result<Vec<Vec<Val>>, SqlError> {
    let rows = bind(sqlx::query(sql), &args).fetch_all(conn).await.map_err(sql_error)?;
    rows.iter().map(values).collect()
}

struct Reader(PoolConnection<Postgres>);
struct Writer(Transaction<'static, Postgres>);

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
impl Backend for PostgresBackend {
    fn engine(&self) -> Engine {
        Engine::Postgres
    }

    async fn reader(&self) -> StoreResult<Box<dyn Sql>> {
        Ok(Box::new(Reader(self.pool.acquire().await.map_err(backend)?)))
    }

    async fn writer(&self) -> StoreResult<Box<dyn SqlTx>> {
        Ok(Box::new(Writer(self.pool.begin().await.map_err(backend)?)))
    }

    fn lock_rows(&self) -> &'static str {
        " FOR UPDATE"
    }

    async fn schema_version(&self) -> StoreResult<i64> {
        sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
            .fetch_one(&self.pool)
            .await
            .map_err(backend)
    }
}

/// A fresh, empty database for one test, dropped again when the value is dropped.
///
/// The server comes from `SAMMEN_TEST_DATABASE_URL`. When it is unset the PostgreSQL
/// tests skip, unless `SAMMEN_REQUIRE_POSTGRES=1`, which CI sets so that a silently
/// skipped PostgreSQL half fails the run instead.
pub struct TestDatabase {
    pub store: std::sync::Arc<PostgresStore>,
    admin: PgConnectOptions,
    admin_url: String,
    name: String,
}

impl TestDatabase {
    /// A URL for this database, for tests that run the binary.
    pub fn url(&self) -> String {
        match self.admin_url.split_once('?') {
            Some((base, query)) => {
                format!("{}/{}?{query}", base.rsplit_once('/').map(|(b, _)| b).unwrap_or(base), self.name)
            }
            None => {
                format!("{}/{}", self.admin_url.rsplit_once('/').map(|(b, _)| b).unwrap_or(&self.admin_url), self.name)
            }
        }
    }

    pub async fn create() -> Option<TestDatabase> {
        let url = match std::env::var("SAMMEN_TEST_DATABASE_URL") {
            Ok(url) if !url.is_empty() => url,
            _ => {
                if std::env::var("SAMMEN_REQUIRE_POSTGRES").as_deref() == Ok("1") {
                    panic!("SAMMEN_REQUIRE_POSTGRES=1 but SAMMEN_TEST_DATABASE_URL is not set");
                }
                eprintln!("skipped: set SAMMEN_TEST_DATABASE_URL to run the PostgreSQL tests");
                return None;
            }
        };
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        let admin = PgConnectOptions::from_str(&url).expect("SAMMEN_TEST_DATABASE_URL is a valid URL");
        let name = format!(
            "sammen_test_{}_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed),
            OffsetDateTime::now_utc().unix_timestamp_nanos() % 1_000_000_000
        );
        let admin_pool = PgPoolOptions::new()
            .max_connections(1)
            .connect_with(admin.clone())
            .await
            .expect("connect to SAMMEN_TEST_DATABASE_URL");
        sqlx::raw_sql(&format!("CREATE DATABASE {name}")).execute(&admin_pool).await.expect("create test database");
        admin_pool.close().await;
        let store = connect_with(admin.clone().database(&name)).await.expect("open test database");
        Some(TestDatabase { store: std::sync::Arc::new(store), admin, admin_url: url, name })
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let admin = self.admin.clone();
        let name = std::mem::take(&mut self.name);
        // Drop cannot await; a short-lived thread with its own runtime drops the
        // database (FORCE ends the store's open connections) even after a panic.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build();
            if let Ok(rt) = rt {
                rt.block_on(async move {
                    if let Ok(admin) = PgPoolOptions::new().max_connections(1).connect_with(admin).await {
                        let _ = sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                            .execute(&admin)
                            .await;
                    }
                });
            }
        })
        .join();
    }
}
