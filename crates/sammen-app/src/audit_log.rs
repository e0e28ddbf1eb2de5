//! Group commit for the audit trail.
//!
//! Every read of patient data must be audited before it is answered, and one
//! transaction per read would make reads as slow as durable writes. So callers hand
//! their entry to one writer task and wait; the writer takes everything that queued up
//! while the previous batch was committing and commits it as one transaction. Under
//! load, hundreds of reads share one commit; an answer still waits until its own entry
//! is durable, so no read is ever answered whose audit entry could be lost.
//!
//! Each patient can read who looked at their record, so the trail is also indexed by
//! patient. That index is not written with the entries: a worklist audits every patient
//! it shows, and an index kept in step made each of its commits rewrite one random index
//! page per patient. An indexer brings it up to date beside the writer instead, every
//! [`INDEX_BATCH`] entries and whenever reads pause, on its own lock
//! (`Store::index_audit`); a patient's entries it has not reached yet are read from the
//! trail itself, so nothing is ever missing from what they see.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

use sammen_domain::audit::AuditDraft;
use sammen_store::Store;

use crate::error::AppError;

/// The most requests committed in one transaction.
const MAX_BATCH: usize = 1024;

/// The per-patient index of the trail is brought up to date apart from the appends (see
/// `Store::index_audit`), by the indexer: woken every this many entries ...
///
/// Each catch-up rewrites one index page per patient it meets, so the more entries per
/// catch-up, the fewer pages per entry: 16,384 gave FHIR reads and searches 10-20 % more
/// than 2,048 (which had beaten 512), for a longer tail that a patient's access log reads
/// from the trail itself (a few milliseconds at the most). See BENCHMARKS.md.
const INDEX_BATCH: u64 = 16_384;
/// ... and when no read has come for this long.
const INDEX_AFTER_IDLE: std::time::Duration = std::time::Duration::from_secs(1);
/// The most entries indexed in one transaction: one catch-up's worth.
const INDEX_CHUNK: u32 = 16_384;
/// Failures in a row after which the indexer warns.
const FAILURES_WORTH_A_WARNING: u32 = 3;

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
    /// Entries committed with a write rather than by the writer (see
    /// `Sammen::commit_with`), counted so the writer still wakes the indexer for them.
    landed: Arc<AtomicU64>,
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
        let (wake, woken) = mpsc::channel(1);
        start_indexer(store.clone(), woken);
        let landed = Arc::new(AtomicU64::new(0));
        tokio::spawn(write_batches(store, rx, wake, landed.clone()));
        AuditLog { sink: Sink::Writer(tx), landed }
    }

    /// An audit log that keeps its entries in `drafts` for a unit of work to write.
    pub(crate) fn deferred(drafts: Arc<std::sync::Mutex<Vec<AuditDraft>>>) -> AuditLog {
        AuditLog { sink: Sink::Deferred(drafts), landed: Arc::default() }
    }

    /// Counts entries that a write committed with itself, for the indexer.
    pub(crate) fn landed_with_append(&self, entries: u64) {
        self.landed.fetch_add(entries, Ordering::Relaxed);
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
/// A request is never split across commits. Every [`INDEX_BATCH`] entries, and when idle,
/// it wakes the indexer.
async fn write_batches(
    store: Arc<dyn Store>,
    mut rx: mpsc::Receiver<Request>,
    indexer: mpsc::Sender<()>,
    landed: Arc<AtomicU64>,
) {
    let mut batch: Vec<Request> = Vec::with_capacity(64);
    // Entries appended since the indexer was last woken.
    let mut unindexed: u64 = 0;
    loop {
        // Writes commit entries of their own without passing here, so an idle writer still
        // looks every INDEX_AFTER_IDLE.
        let received = match tokio::time::timeout(INDEX_AFTER_IDLE, rx.recv_many(&mut batch, MAX_BATCH)).await {
            Ok(n) => n,
            Err(_) => {
                unindexed += landed.swap(0, Ordering::Relaxed);
                if unindexed > 0 {
                    // Full: the indexer is already due to run.
                    let _ = indexer.try_send(());
                    unindexed = 0;
                }
                continue;
            }
        };
        if received == 0 {
            return;
        }
        let drafts: Vec<AuditDraft> = batch.iter().flat_map(|r| r.drafts.iter().cloned()).collect();
        match store.append_audit(&drafts).await {
            Ok(entries) => {
                unindexed += entries.len() as u64;
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
        unindexed += landed.swap(0, Ordering::Relaxed);
        if unindexed >= INDEX_BATCH {
            let _ = indexer.try_send(());
            unindexed = 0;
        }
    }
}

/// Brings the per-patient index up to date whenever the writer wakes it (and once at
/// start, for what an earlier run left), until the writer stops. It runs beside the
/// writer and never holds up an append (`Store::index_audit`), on a thread of its own: on
/// SQLite its statements, commits included, run where they are called, and that should
/// not be one of the few threads that answer requests.
fn start_indexer(store: Arc<dyn Store>, mut wake: mpsc::Receiver<()>) {
    let runtime = tokio::runtime::Handle::current();
    let spawned = std::thread::Builder::new().name("sammen-audit-index".into()).spawn(move || {
        runtime.block_on(async move {
            let mut failures = 0;
            loop {
                catch_up(&*store, &mut failures).await;
                if wake.recv().await.is_none() {
                    return;
                }
            }
        })
    });
    if let Err(e) = spawned {
        // Reads stay correct without the index (they read the unindexed entries from the
        // trail itself), only slower.
        tracing::error!(error = %e, "the audit trail's indexer could not start");
    }
}

/// Indexes chunk by chunk until the index is up to date. A failure costs only speed (a
/// patient's unindexed entries are read from the trail itself) and is tried again at the
/// next wake. One failure alone is expected when a process ends (its runtime cancels what
/// the indexer was doing), so only failures that repeat are warned about.
async fn catch_up(store: &dyn Store, failures: &mut u32) {
    loop {
        let started = std::time::Instant::now();
        match store.index_audit(INDEX_CHUNK).await {
            Ok(n) => {
                *failures = 0;
                tracing::debug!(entries = n, took_us = started.elapsed().as_micros() as u64, "audit trail indexed");
                if n < INDEX_CHUNK {
                    return;
                }
            }
            Err(e) => {
                *failures += 1;
                if *failures >= FAILURES_WORTH_A_WARNING {
                    tracing::warn!(error = %e, failures = *failures, "indexing the audit trail by patient keeps failing; trying again later");
                } else {
                    tracing::debug!(error = %e, "indexing the audit trail by patient failed; trying again later");
                }
                return;
            }
        }
    }
}
