//! Group commit of appends, for an engine that writes one transaction at a time.
//!
//! On SQLite every write waits for the one write lock, and each commit waits for the
//! disk (`synchronous = FULL`). Appends that arrive while one commits would each wait
//! for a commit of their own; here they wait together and share the next one. Each
//! append runs in a savepoint of its own, so one that is refused (a stream moved on
//! since it was read) is rolled back alone and the others still land. An append's
//! caller hears its result only after the commit that holds it is durable.
//!
//! The group is written by a task of its own: a caller that goes away (a client that
//! hangs up) cannot cut short a commit that others are waiting for.

use std::sync::{Arc, Mutex};

use tokio::sync::{oneshot, Mutex as AsyncMutex, OwnedMutexGuard};

use crate::course_states::CourseStates;
use crate::sql::{Backend, Sql, SqlTx};
use crate::sql_store::{write_append, Settled};
use crate::{Append, StoreError, StoreResult};

struct Queued {
    append: Append,
    done: oneshot::Sender<StoreResult<()>>,
}

#[derive(Default)]
pub(crate) struct AppendGroup {
    queue: Mutex<Vec<Queued>>,
    /// Held from taking a group until its callers have their results: whoever holds
    /// it next finds their own append already answered, or leads the next group.
    turn: Arc<AsyncMutex<()>>,
}

impl AppendGroup {
    pub(crate) async fn append(
        &self,
        backend: &dyn Backend,
        append: Append,
        states: &Arc<CourseStates>,
    ) -> StoreResult<()> {
        let (done, mut result) = oneshot::channel();
        self.queued().push(Queued { append, done });
        let turn = self.turn.clone().lock_owned().await;
        match result.try_recv() {
            Ok(r) => return r,
            Err(oneshot::error::TryRecvError::Closed) => return Err(unanswered()),
            Err(oneshot::error::TryRecvError::Empty) => {}
        }
        // This caller leads: everything queued by now goes into one transaction.
        match backend.writer().await {
            Ok(tx) => {
                let group = std::mem::take(&mut *self.queued());
                tokio::spawn(write_group(tx, backend.lock_rows(), group, states.clone(), turn));
            }
            Err(e) => {
                // Nothing of the queue can be written now; none of it may land later.
                for q in std::mem::take(&mut *self.queued()) {
                    let _ = q.done.send(Err(e.clone()));
                }
            }
        }
        result.await.unwrap_or_else(|_| Err(unanswered()))
    }

    fn queued(&self) -> std::sync::MutexGuard<'_, Vec<Queued>> {
        // A panic while holding this lock leaves only a vector behind: still usable.
        self.queue.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn unanswered() -> StoreError {
    StoreError::Backend("the group commit ended without an answer".into())
}

/// How one append in a group ended when it did not land.
enum Failed {
    /// The append was refused and rolled back; the group goes on.
    Refused(StoreError),
    /// The transaction itself failed: nothing of the group can be committed.
    Broken(StoreError),
}

async fn write_group(
    mut tx: Box<dyn SqlTx>,
    lock_rows: &'static str,
    group: Vec<Queued>,
    states: Arc<CourseStates>,
    turn: OwnedMutexGuard<()>,
) {
    let alone = group.len() == 1;
    let mut written = Vec::with_capacity(group.len());
    let mut broken: Option<StoreError> = None;
    for q in group {
        if let Some(e) = &broken {
            let _ = q.done.send(Err(e.clone()));
            continue;
        }
        match write_one(&mut *tx, lock_rows, &q.append, &states, alone).await {
            Ok(settled) => written.push((q.done, q.append, settled)),
            Err(Failed::Refused(e)) => {
                let _ = q.done.send(Err(e));
            }
            Err(Failed::Broken(e)) => {
                broken = Some(e.clone());
                let _ = q.done.send(Err(e));
            }
        }
    }
    let result = match broken {
        Some(e) => Err(e),
        // Nothing to keep: dropping the transaction rolls it back.
        None if written.is_empty() => Ok(()),
        None => tx.commit().await.map_err(StoreError::from),
    };
    for (done, append, settled) in written {
        // Kept before the caller hears, so that its next read finds the state.
        if result.is_ok() {
            settled.keep(append, &states);
        }
        let _ = done.send(result.clone());
    }
    drop(turn);
}

async fn write_one(
    tx: &mut dyn Sql,
    lock_rows: &str,
    append: &Append,
    states: &CourseStates,
    alone: bool,
) -> Result<Settled, Failed> {
    if alone {
        // A refusal rolls back the whole transaction, which holds only this append.
        return write_append(tx, lock_rows, append, states).await.map_err(Failed::Refused);
    }
    let broken = |e: crate::sql::SqlError| Failed::Broken(e.into());
    tx.execute("SAVEPOINT append", Vec::new()).await.map_err(broken)?;
    match write_append(tx, lock_rows, append, states).await {
        Ok(settled) => tx.execute("RELEASE append", Vec::new()).await.map(|_| settled).map_err(broken),
        Err(refused) => {
            tx.execute("ROLLBACK TO append", Vec::new()).await.map_err(broken)?;
            tx.execute("RELEASE append", Vec::new()).await.map_err(broken)?;
            Err(Failed::Refused(refused))
        }
    }
}
