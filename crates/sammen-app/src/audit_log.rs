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

/// The most entries committed in one transaction.
const MAX_BATCH: usize = 1024;

struct Request {
    draft: AuditDraft,
    done: oneshot::Sender<Result<u64, String>>,
}

/// A handle to the audit writer. Cheap to clone.
#[derive(Clone)]
pub struct AuditLog {
    tx: mpsc::Sender<Request>,
}

impl AuditLog {
    /// Starts the writer task on the current Tokio runtime. It ends when the last
    /// handle is dropped, after committing what is queued.
    pub fn start(store: Arc<dyn Store>) -> AuditLog {
        let (tx, rx) = mpsc::channel(8 * MAX_BATCH);
        tokio::spawn(write_batches(store, rx));
        AuditLog { tx }
    }

    /// Records one entry and returns its sequence number once it is durable.
    pub async fn record(&self, draft: AuditDraft) -> Result<u64, AppError> {
        let wait = self.enqueue(draft).await?;
        Self::durable(wait).await
    }

    /// Records several entries, queued together so they share commits; returns once
    /// all are durable.
    pub async fn record_all(&self, drafts: Vec<AuditDraft>) -> Result<Vec<u64>, AppError> {
        let mut waits = Vec::with_capacity(drafts.len());
        for draft in drafts {
            waits.push(self.enqueue(draft).await?);
        }
        let mut seqs = Vec::with_capacity(waits.len());
        for wait in waits {
            seqs.push(Self::durable(wait).await?);
        }
        Ok(seqs)
    }

    async fn enqueue(&self, draft: AuditDraft) -> Result<oneshot::Receiver<Result<u64, String>>, AppError> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Request { draft, done })
            .await
            .map_err(|_| AppError::Internal("the audit writer has stopped".into()))?;
        Ok(wait)
    }

    async fn durable(wait: oneshot::Receiver<Result<u64, String>>) -> Result<u64, AppError> {
        match wait.await {
            Ok(Ok(seq)) => Ok(seq),
            Ok(Err(e)) => Err(AppError::Internal(format!("audit append failed: {e}"))),
            Err(_) => Err(AppError::Internal("the audit writer has stopped".into())),
        }
    }
}

async fn write_batches(store: Arc<dyn Store>, mut rx: mpsc::Receiver<Request>) {
    let mut batch: Vec<Request> = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let drafts: Vec<AuditDraft> = batch.iter().map(|r| r.draft.clone()).collect();
        match store.append_audit(&drafts).await {
            Ok(entries) => {
                for (req, entry) in batch.drain(..).zip(entries) {
                    let _ = req.done.send(Ok(entry.seq));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, entries = batch.len(), "audit batch failed; the reads waiting on it are refused");
                for req in batch.drain(..) {
                    let _ = req.done.send(Err(e.to_string()));
                }
            }
        }
    }
}
