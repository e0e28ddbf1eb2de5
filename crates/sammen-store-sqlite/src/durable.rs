//! Commits made durable after the write lock is let go.
//!
//! With `synchronous=FULL`, SQLite syncs the write-ahead log inside `COMMIT`, while the
//! transaction still holds the one write lock: the next group of appends, the next
//! Bundle, the next batch of audit entries could not even begin until the disk had
//! answered. The write connection therefore commits with `synchronous=NORMAL` (the log
//! is written to the OS, not synced; SQLite still syncs the log's header when it starts
//! the log again, and syncs both files around every checkpoint, so nothing can be torn),
//! and the [`Syncer`] syncs the logs on a thread of its own: one `fdatasync` per file
//! for every commit that returned before it began. A commit's caller hears nothing until
//! a sync that began after its `COMMIT` has finished, so what Sammen answers is on disk
//! exactly as before; meanwhile the next transaction is already writing.
//!
//! What another connection reads may be a commit whose sync has not finished yet (for
//! a millisecond or so). Only a power cut in that moment could take it back, and the
//! write's own caller, and any audit entry written after it, would not have heard yet.
//!
//! A failed sync is sticky: after `fdatasync` has failed, the OS may have dropped the
//! pages it could not write, so no later sync can promise them. Every commit after it is
//! refused until the process is restarted, and SQLite recovers from what is on disk.

use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::{Arc, Weak};
use tokio::sync::watch;

/// How far the syncs have come.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Progress {
    /// Every commit numbered up to this is on disk.
    upto: u64,
    /// A sync failed, here or on the sync thread, or the thread stopped: nothing after
    /// it is promised, and every later commit is refused.
    failed: bool,
}

/// Makes the write connection's commits durable; shared by the backend and its writers.
pub(crate) struct Syncer {
    /// The logs the write connection commits to.
    logs: Logs,
    /// Commits that have returned, numbered from 1.
    committed: AtomicU64,
    /// Wakes the sync thread; one pending nudge is enough, since a round syncs every
    /// commit that returned before it began.
    nudge: SyncSender<()>,
    progress: watch::Sender<Progress>,
}

/// Why a commit was not made durable.
pub(crate) enum CommitError {
    /// `COMMIT` itself failed; the transaction is still open, for the caller to roll back.
    Sql(rusqlite::Error),
    /// The disk did not confirm the write, now or before.
    Disk,
}

pub(crate) const DISK_FAILED: &str = "the disk did not confirm a write; restart Sammen";

/// What a sync round does: `fdatasync` the logs (a test puts something slower here).
pub(crate) type SyncFiles = Box<dyn FnMut() -> std::io::Result<()> + Send>;

impl Syncer {
    /// Starts the sync thread for these logs; it runs until the `Syncer` is dropped.
    pub(crate) fn start(logs: Logs) -> std::io::Result<Arc<Syncer>> {
        Syncer::start_with(logs.clone(), sync_logs(logs))
    }

    /// As [`Syncer::start`], with `sync` doing each round's work.
    pub(crate) fn start_with(logs: Logs, sync: SyncFiles) -> std::io::Result<Arc<Syncer>> {
        let (nudge, nudged) = std::sync::mpsc::sync_channel(1);
        let progress = watch::Sender::new(Progress::default());
        let syncer = Arc::new(Syncer { logs, committed: AtomicU64::new(0), nudge, progress });
        let weak = Arc::downgrade(&syncer);
        std::thread::Builder::new().name("sammen-sync".into()).spawn(move || run(nudged, sync, weak))?;
        Ok(syncer)
    }

    pub(crate) fn logs(&self) -> &Logs {
        &self.logs
    }

    fn failed(&self) -> bool {
        self.progress.borrow().failed
    }

    fn fail(&self, e: &dyn std::fmt::Display) {
        tracing::error!(error = %e, "fdatasync of a write-ahead log failed; every later write is refused");
        self.progress.send_modify(|p| p.failed = true);
    }

    /// Commits the write connection's transaction and decides where its logs are synced.
    ///
    /// A commit that wrote the record (an append, a Bundle) lets go of the write lock
    /// first and is synced by the sync thread ([`Synced::Later`]), so the next one writes
    /// meanwhile. A commit that wrote only the trail (a batch of audit entries for reads)
    /// is synced here, holding the lock, as SQLite's `synchronous=FULL` would: the audit
    /// writer forms its next batch only once this one is durable, so letting go early
    /// gains nothing, and the hand-over to the sync thread and back cost reads 15 %
    /// (BENCHMARKS.md). The trail's `written` flag stays set, for the sync thread: a
    /// commit of the record's that wrote the trail before this one may be waiting for a
    /// round that must not skip it.
    pub(crate) fn commit(&self, conn: &Connection) -> Result<Synced, CommitError> {
        if self.failed() {
            return Err(CommitError::Disk);
        }
        for log in self.logs.iter() {
            log.by_this_commit.store(false, Ordering::SeqCst);
        }
        conn.execute_batch("COMMIT").map_err(CommitError::Sql)?;
        let wrote = || self.logs.iter().filter(|l| l.by_this_commit.load(Ordering::SeqCst));
        if wrote().any(|l| l.schema == "main") {
            return Ok(Synced::Later);
        }
        for log in wrote() {
            if let Err(e) = sync_file(&log.path) {
                self.fail(&e);
                return Err(CommitError::Disk);
            }
        }
        Ok(Synced::Already)
    }

    /// Waits until the commit that has just returned is on disk. Call it after
    /// `COMMIT` returns, and answer no one before it does.
    pub(crate) async fn durable(&self) -> Result<(), String> {
        let ticket = self.committed.fetch_add(1, Ordering::SeqCst) + 1;
        // Full means a round is already due, which will see this commit.
        let _ = self.nudge.try_send(());
        let mut progress = self.progress.subscribe();
        let reached = progress.wait_for(|p| p.failed || p.upto >= ticket).await.map_err(|e| e.to_string())?;
        if reached.failed {
            return Err(DISK_FAILED.into());
        }
        Ok(())
    }

    /// Commits counted and commits known to be on disk, for tests.
    #[cfg(test)]
    pub(crate) fn counts(&self) -> (u64, u64) {
        (self.committed.load(Ordering::SeqCst), self.progress.borrow().upto)
    }
}

/// The sync thread: for each nudge, reads how many commits have returned, syncs, and
/// then says that many are on disk. It stops when the syncer is gone, or after a failed
/// sync; stopping any other way (a panic) also refuses what waits and what comes.
fn run(nudged: Receiver<()>, mut sync: SyncFiles, syncer: Weak<Syncer>) {
    struct Stopped(Weak<Syncer>);
    impl Drop for Stopped {
        fn drop(&mut self) {
            if let Some(s) = self.0.upgrade() {
                s.progress.send_modify(|p| p.failed = true);
            }
        }
    }
    let stopped = Stopped(syncer);
    while nudged.recv().is_ok() {
        let Some(s) = stopped.0.upgrade() else { return };
        // Read before syncing: a commit counted here returned before the sync began.
        let upto = s.committed.load(Ordering::SeqCst);
        if let Err(e) = sync() {
            s.fail(&e);
            return;
        }
        s.progress.send_modify(|p| p.upto = p.upto.max(upto));
    }
}

/// A write-ahead log the write connection commits to, and whether a commit has written
/// to it since it was last synced: a sync of a log nothing was written to still costs a
/// flush of the disk's cache, as long as one that was (a read's audit entry writes only
/// the trail's log).
pub(crate) struct Log {
    /// The name the write connection knows the file by: `main` or `audit`.
    schema: &'static str,
    path: PathBuf,
    /// Written since the sync thread last synced it.
    written: AtomicBool,
    /// Written by the commit under way (the write connection commits one at a time).
    by_this_commit: AtomicBool,
}

pub(crate) type Logs = Arc<[Log]>;

/// The logs of the record's file and the trail's.
pub(crate) fn logs(record: &Path, trail: &Path) -> Logs {
    let log = |schema, db: &Path| Log {
        schema,
        path: PathBuf::from(format!("{}-wal", db.display())),
        written: AtomicBool::new(false),
        by_this_commit: AtomicBool::new(false),
    };
    Arc::new([log("main", record), log("audit", trail)])
}

/// Where a commit's logs get synced.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Synced {
    /// Nothing to sync (it wrote nothing), or synced already, in place.
    Already,
    /// By the sync thread, after the write lock is let go: [`Syncer::durable`].
    Later,
}

/// Notes, on each commit of the write connection, which logs it wrote. The hook takes the
/// place of SQLite's own autocheckpoint (the two share one slot), so it checkpoints a log
/// that has grown to `checkpoint_at` pages itself, as SQLite's would, for when the
/// checkpointer falls behind.
pub(crate) fn watch_commits(conn: &mut Connection, logs: Logs, checkpoint_at: u32) -> rusqlite::Result<()> {
    conn.wal_hook(Some(move |wal: &mut rusqlite::hooks::Wal, pages: std::ffi::c_int| {
        let name = wal.name().to_bytes();
        for log in logs.iter().filter(|l| l.schema.as_bytes() == name) {
            log.written.store(true, Ordering::SeqCst);
            log.by_this_commit.store(true, Ordering::SeqCst);
        }
        if u32::try_from(pages).unwrap_or(0) >= checkpoint_at {
            // As SQLite's autocheckpoint: passive, and a failure is no failure of the commit.
            let _ = wal.checkpoint();
        }
        Ok(())
    }))
}

/// Syncs each log a commit has written to since its last sync. A log that is not there
/// has been checkpointed into its database file and removed, and that checkpoint synced
/// the file.
fn sync_logs(logs: Logs) -> SyncFiles {
    Box::new(move || {
        for log in logs.iter() {
            // Taken before the sync: a commit that notes it afterwards is synced next round.
            if !log.written.swap(false, Ordering::SeqCst) {
                continue;
            }
            sync_file(&log.path)?;
        }
        Ok(())
    })
}

/// `fdatasync` of a log, if it is there.
fn sync_file(path: &Path) -> std::io::Result<()> {
    match std::fs::OpenOptions::new().write(true).open(path) {
        Ok(f) => f.sync_data(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A commit is not reported durable while its sync has not finished, and is once it
    /// has; commits that come while a sync runs are covered by the next one.
    #[tokio::test]
    async fn a_commit_waits_for_a_sync_that_began_after_it() {
        let (go, gate) = std::sync::mpsc::channel::<()>();
        let rounds = Arc::new(AtomicU64::new(0));
        let counted = rounds.clone();
        let dir = crate::test_dir();
        let syncer = Syncer::start_with(
            logs(&dir.join("r.db"), &dir.join("r-audit.db")),
            Box::new(move || {
                gate.recv().map_err(std::io::Error::other)?;
                counted.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }),
        )
        .unwrap();

        let first = tokio::spawn({
            let s = syncer.clone();
            async move { s.durable().await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!first.is_finished(), "answered before its sync finished");
        assert_eq!(syncer.counts(), (1, 0));

        // A second commit while the first round is held: the held round read the count
        // before it began, so it must not cover the second.
        let second = tokio::spawn({
            let s = syncer.clone();
            async move { s.durable().await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        go.send(()).unwrap();
        first.await.unwrap().unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!second.is_finished(), "covered by a sync that began before it");
        go.send(()).unwrap();
        second.await.unwrap().unwrap();
        assert_eq!(syncer.counts(), (2, 2));
        assert_eq!(rounds.load(Ordering::SeqCst), 2);
    }

    /// After a failed sync, that commit and every later one is refused.
    #[tokio::test]
    async fn a_failed_sync_refuses_every_later_commit() {
        let dir = crate::test_dir();
        let logs = logs(&dir.join("r.db"), &dir.join("r-audit.db"));
        let syncer = Syncer::start_with(logs, Box::new(|| Err(std::io::Error::other("disk gone")))).unwrap();
        assert!(syncer.durable().await.is_err());
        assert!(syncer.durable().await.is_err());
    }

    /// The write connection notes which logs a commit wrote, and only those are synced:
    /// an entry on the trail alone leaves the record's log out, and is synced in place.
    #[tokio::test]
    async fn each_commit_is_synced_where_it_should_be() {
        let dir = crate::test_dir();
        let (record, trail) = (dir.join("r.db"), dir.join("r-audit.db"));
        let logs = logs(&record, &trail);
        let mut conn = Connection::open(&record).unwrap();
        conn.execute("ATTACH DATABASE ?1 AS audit", [trail.to_string_lossy()]).unwrap();
        conn.execute_batch(
            "PRAGMA main.journal_mode = WAL; PRAGMA audit.journal_mode = WAL; \
             CREATE TABLE main.r (x); CREATE TABLE audit.t (x);",
        )
        .unwrap();
        watch_commits(&mut conn, logs.clone(), 1_000).unwrap();
        let written = |l: &Logs| l.iter().map(|l| l.written.load(Ordering::SeqCst)).collect::<Vec<_>>();
        let syncer = Syncer::start(logs.clone()).unwrap();
        let ok = |r: Result<Synced, CommitError>| r.ok().expect("committed");

        // The trail alone: synced in place, and left marked for the sync thread.
        conn.execute_batch("BEGIN; INSERT INTO audit.t VALUES (1);").unwrap();
        assert_eq!(ok(syncer.commit(&conn)), Synced::Already);
        assert_eq!(written(&logs), [false, true]);

        // The record and the trail: left to the sync thread, which syncs both.
        conn.execute_batch("BEGIN; INSERT INTO main.r VALUES (1); INSERT INTO audit.t VALUES (2);").unwrap();
        assert_eq!(ok(syncer.commit(&conn)), Synced::Later);
        assert_eq!(written(&logs), [true, true]);
        syncer.durable().await.unwrap();
        assert_eq!(written(&logs), [false, false]);
        assert_eq!(syncer.counts(), (1, 1));

        // Nothing written: nothing to sync.
        conn.execute_batch("BEGIN; SELECT * FROM main.r;").unwrap();
        assert_eq!(ok(syncer.commit(&conn)), Synced::Already);
        assert_eq!(written(&logs), [false, false]);
    }
}
