//! The storage conformance suite on SQLite: a fresh database file per test.

use std::path::PathBuf;
use std::sync::Arc;

use sammen_store::conformance::Fixture;
use sammen_store::Store;
use sammen_store_sqlite::SqliteStore;

struct SqliteFixture {
    store: Arc<SqliteStore>,
    dir: PathBuf,
}

impl Fixture for SqliteFixture {
    fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    async fn reopen(&self) -> Arc<dyn Store> {
        Arc::new(sammen_store_sqlite::open(&self.dir.join("sammen.db")).await.expect("open sqlite again"))
    }
}

impl Drop for SqliteFixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn fresh() -> Option<SqliteFixture> {
    let dir = sammen_store_sqlite::test_dir();
    let store = sammen_store_sqlite::open(&dir.join("sammen.db")).await.expect("open sqlite");
    Some(SqliteFixture { store: Arc::new(store), dir })
}

sammen_store::conformance_tests!(fresh);

#[tokio::test]
async fn the_log_and_attachments_refuse_update_and_delete() {
    let f = fresh().await.unwrap();
    let b = f.store.backend();
    for sql in SETUP {
        b.raw_execute(sql).await.unwrap();
    }
    for sql in TAMPER {
        let err = b.raw_execute(sql).await.unwrap_err();
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
}

const SETUP: &[&str] = &[
    "INSERT INTO patients (patient_id, cpr, version, last_seq, state) VALUES ('p', '1', 1, 1, '{}')",
    "INSERT INTO events (patient_id, seq, event_id, stream, version, recorded_at, actor, kind, category, payload) VALUES ('p', 1, 'e', 'patient', 1, 0, 'a', 'k', 'identity', '{}')",
    "INSERT INTO attachments (patient_id, attachment_id, thread_id, content_type, data) VALUES ('p', 'a', 't', 'application/pdf', X'25504446')",
];

const TAMPER: &[&str] = &[
    "UPDATE events SET payload = 'x'",
    "DELETE FROM events",
    "UPDATE attachments SET content_type = 'image/png'",
    "DELETE FROM attachments",
];

/// The writer takes the write lock at once when it is free, and otherwise waits for it:
/// while another process (here another store on the same file) holds it, a write
/// transaction neither fails nor begins, and it begins once the lock is let go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_waits_for_another_process_holding_the_write_lock() {
    let f = fresh().await.unwrap();
    let elsewhere = f.reopen().await;
    let holding = elsewhere.unit_of_work().await.expect("the other process takes the lock");
    let store = f.store.clone();
    let waiting = tokio::spawn(async move { store.unit_of_work().await.map(|unit| unit.store()) });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "a write transaction began while another process held the lock");
    holding.commit().await.unwrap();
    let begun = tokio::time::timeout(std::time::Duration::from_secs(5), waiting).await;
    assert!(matches!(begun, Ok(Ok(Ok(_)))), "the writer did not begin once the lock was free");
    // And with the lock free, the next one begins at once.
    drop(begun);
    let again = tokio::time::timeout(std::time::Duration::from_secs(1), f.store.unit_of_work()).await;
    assert!(matches!(again, Ok(Ok(_))));
}
