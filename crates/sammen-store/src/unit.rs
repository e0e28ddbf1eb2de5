//! A unit of work: several use cases that must land together or not at all (a FHIR
//! transaction Bundle), run against a store whose every read and write happens inside
//! one open transaction.
//!
//! The use cases need not know: they are given a [`Store`] like any other. Its reads see
//! the unit's own writes; each of its write transactions is a savepoint inside the one
//! transaction; and nothing is durable until [`UnitOfWork::commit`]. Dropped without a
//! commit, the transaction rolls back, and with it everything the unit wrote.
//!
//! While a unit is open it holds the engine's write transaction (on SQLite the one
//! write connection), so other writers wait for it: units are for short batches.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::course_states::CourseStates;
use crate::sql::{Backend, Row, Sql, SqlError, SqlTx, Val};
use crate::{Engine, SqlStore, Store, StoreError, StoreResult};

type Slot = Option<Box<dyn SqlTx>>;

/// The one open transaction, shared by every connection the unit's store hands out.
struct Pinned {
    tx: Arc<Mutex<Slot>>,
    /// A savepoint was left neither released nor rolled back (a write failed part-way):
    /// the unit can only be rolled back.
    spoiled: AtomicBool,
}

/// A [`Backend`] whose readers and writers are all the unit's one transaction.
pub(crate) struct UnitBackend {
    engine: Engine,
    lock_rows: &'static str,
    pinned: Arc<Pinned>,
}

/// The transaction, leased to one reader or writer at a time.
struct Lease {
    guard: OwnedMutexGuard<Slot>,
    /// For a writer: its savepoint is open (not yet released).
    savepoint: bool,
    pinned: Arc<Pinned>,
}

const SAVEPOINT: &str = "sammen_unit_write";

impl Lease {
    fn tx(&mut self) -> Result<&mut Box<dyn SqlTx>, SqlError> {
        self.guard.as_mut().ok_or_else(|| SqlError::Other("the unit of work has ended".into()))
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if self.savepoint {
            self.pinned.spoiled.store(true, Ordering::SeqCst);
        }
    }
}

#[async_trait]
impl Sql for Lease {
    async fn execute(&mut self, sql: &str, args: Vec<Val>) -> Result<u64, SqlError> {
        self.tx()?.execute(sql, args).await
    }
    async fn fetch(&mut self, sql: &str, args: Vec<Val>) -> Result<Vec<Row>, SqlError> {
        self.tx()?.fetch(sql, args).await
    }
}

#[async_trait]
impl SqlTx for Lease {
    /// Releases the savepoint: the write joins the unit, durable only when it commits.
    async fn commit(mut self: Box<Self>) -> Result<(), SqlError> {
        self.tx()?.execute(&format!("RELEASE SAVEPOINT {SAVEPOINT}"), Vec::new()).await?;
        self.savepoint = false;
        Ok(())
    }
}

impl UnitBackend {
    async fn lease(&self) -> Lease {
        Lease { guard: self.pinned.tx.clone().lock_owned().await, savepoint: false, pinned: self.pinned.clone() }
    }
}

#[async_trait]
impl Backend for UnitBackend {
    fn engine(&self) -> Engine {
        self.engine
    }

    async fn reader(&self) -> StoreResult<Box<dyn Sql>> {
        Ok(Box::new(self.lease().await))
    }

    async fn writer(&self) -> StoreResult<Box<dyn SqlTx>> {
        let mut lease = self.lease().await;
        lease.tx()?.execute(&format!("SAVEPOINT {SAVEPOINT}"), Vec::new()).await?;
        lease.savepoint = true;
        Ok(Box::new(lease))
    }

    fn lock_rows(&self) -> &'static str {
        self.lock_rows
    }

    async fn schema_version(&self) -> StoreResult<i64> {
        let rows = self.lease().await.fetch("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", vec![]).await?;
        match rows.first().and_then(|row| row.first()) {
            Some(Val::Int(Some(v))) => Ok(*v),
            _ => Err(StoreError::Corrupt("schema_migrations".into())),
        }
    }

    fn in_unit(&self) -> bool {
        true
    }
}

/// An open unit of work. Use [`UnitOfWork::store`] for its reads and writes, then
/// [`UnitOfWork::commit`]; dropping it rolls everything back.
pub struct UnitOfWork {
    store: Arc<dyn Store>,
    pinned: Arc<Pinned>,
}

impl UnitOfWork {
    pub(crate) fn begin(
        engine: Engine,
        lock_rows: &'static str,
        tx: Box<dyn SqlTx>,
        states: Arc<CourseStates>,
    ) -> Self {
        let pinned = Arc::new(Pinned { tx: Arc::new(Mutex::new(Some(tx))), spoiled: AtomicBool::new(false) });
        let backend = UnitBackend { engine, lock_rows, pinned: pinned.clone() };
        UnitOfWork { store: Arc::new(SqlStore::for_unit(backend, states)), pinned }
    }

    /// The store whose reads and writes belong to this unit.
    pub fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    /// Makes everything the unit wrote durable at once. Refused, with everything rolled
    /// back, if one of its writes failed part-way.
    pub async fn commit(self) -> StoreResult<()> {
        let tx = self.pinned.tx.lock().await.take().ok_or_else(|| StoreError::Backend("the unit has ended".into()))?;
        if self.pinned.spoiled.load(Ordering::SeqCst) {
            drop(tx);
            return Err(StoreError::Backend("a write in the unit failed part-way; the unit was rolled back".into()));
        }
        tx.commit().await.map_err(Into::into)
    }

    /// Undoes everything the unit wrote, now rather than when the last handle to its
    /// store is gone.
    pub async fn rollback(self) {
        drop(self.pinned.tx.lock().await.take());
    }
}
