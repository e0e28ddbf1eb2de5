//! Group commit for the audit trail.
//!
//! Every read of patient data must be audited before it is answered, and one
//! transaction per read would make reads as slow as durable writes. So callers hand
//! their entry to one writer task and wait; the writer takes everything that queued up
//! while the previous batch was committing and commits it as one transaction. Under
//! load, hundreds of reads share one commit; an answer still waits until its own entry
//! is durable, so no read is ever answered whose audit entry could be lost.

use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

use sammen_domain::audit::AuditDraft;
use sammen_store::Store;

use crate::error::AppError;

/// The most requests committed in one transaction.
const MAX_BATCH: usize = 1024;

struct Request {
    /// Entries that must land together, in order (one read's entry, or one
    /// worklist's entries for every patient it shows).
    drafts: Vec<AuditDraft>,
    done: oneshot::Sender<Result<Vec<u64>, String>>,
}

/// A handle to the audit writer. Cheap to clone.
#[derive(Clone)]
pub struct AuditLog {
    sink: Sink,
}

#[derive(Clone)]
enum Sink {
    /// The group-commit writer task.
    Writer(mpsc::Sender<Request>),
    /// A unit of work's entries, written when the unit commits (with everything else
    /// the unit wrote, so nothing of it is durable before they are), or recorded again
    /// as refused if it rolls back.
    Deferred(Arc<std::sync::Mutex<Vec<AuditDraft>>>),
}

impl AuditLog {
    /// Starts the writer task on the current Tokio runtime. It ends when the last
    /// handle is dropped, after committing what is queued.
    pub fn start(store: Arc<dyn Store>) -> AuditLog {
        let (tx, rx) = mpsc::channel(8 * MAX_BATCH);
        tokio::spawn(write_batches(store, rx));
        AuditLog { sink: Sink::Writer(tx) }
    }

    /// An audit log that keeps its entries in `drafts` for a unit of work to write.
    pub(crate) fn deferred(drafts: Arc<std::sync::Mutex<Vec<AuditDraft>>>) -> AuditLog {
        AuditLog { sink: Sink::Deferred(drafts) }
    }

    /// Whether entries wait for a unit of work to commit.
    pub(crate) fn is_deferred(&self) -> bool {
        matches!(self.sink, Sink::Deferred(_))
    }

    /// Records one entry; returns once it is durable.
    pub async fn record(&self, draft: AuditDraft) -> Result<(), AppError> {
        self.record_all(vec![draft]).await
    }

    /// Records several entries in one commit; returns once all are durable (in a unit
    /// of work: once they are part of it).
    pub async fn record_all(&self, drafts: Vec<AuditDraft>) -> Result<(), AppError> {
        if drafts.is_empty() {
            return Ok(());
        }
        let tx = match &self.sink {
            Sink::Deferred(kept) => {
                kept.lock().unwrap_or_else(|e| e.into_inner()).extend(drafts);
                return Ok(());
            }
            Sink::Writer(tx) => tx,
        };
        let (done, wait) = oneshot::channel();
        tx.send(Request { drafts, done })
            .await
            .map_err(|_| AppError::Internal("the audit writer has stopped".into()))?;
        match wait.await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(AppError::Internal(format!("audit append failed: {e}"))),
            Err(_) => Err(AppError::Internal("the audit writer has stopped".into())),
        }
    }
}

/// Commits everything that queued while the previous commit ran, as one transaction.
/// A request is never split across commits.
async fn write_batches(store: Arc<dyn Store>, mut rx: mpsc::Receiver<Request>) {
    let mut batch: Vec<Request> = Vec::with_capacity(64);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let drafts: Vec<AuditDraft> = batch.iter().flat_map(|r| r.drafts.iter().cloned()).collect();
        match store.append_audit(&drafts).await {
            Ok(entries) => {
                let mut seqs = entries.into_iter().map(|e| e.seq);
                for req in batch.drain(..) {
                    let mine: Vec<u64> = seqs.by_ref().take(req.drafts.len()).collect();
                    let _ = req.done.send(Ok(mine));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, entries = drafts.len(), "audit batch failed; the reads waiting on it are refused");
                for req in batch.drain(..) {
                    let _ = req.done.send(Err(e.to_string()));
                }
            }
        }
    }
}
