//! The storage conformance suite on PostgreSQL: a fresh database per test.
//! Needs `SAMMEN_TEST_DATABASE_URL` (see `TestDatabase`).

use std::sync::Arc;

use sammen_store::conformance::Fixture;
use sammen_store::Store;
use sammen_store_postgres::TestDatabase;

struct PgFixture(TestDatabase);

impl Fixture for PgFixture {
    fn store(&self) -> Arc<dyn Store> {
        self.0.store.clone()
    }

    async fn reopen(&self) -> Arc<dyn Store> {
        Arc::new(sammen_store_postgres::connect(&self.0.url()).await.expect("connect again"))
    }
}

async fn fresh() -> Option<PgFixture> {
    TestDatabase::create().await.map(PgFixture)
}

sammen_store::conformance_tests!(fresh);

#[tokio::test]
async fn the_log_and_attachments_refuse_update_and_delete() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let b = db.store.backend();
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
    "INSERT INTO attachments (patient_id, attachment_id, thread_id, content_type, data) VALUES ('p', 'a', 't', 'application/pdf', '\\x25504446'::bytea)",
];

const TAMPER: &[&str] = &[
    "UPDATE events SET payload = 'x'",
    "DELETE FROM events",
    "UPDATE attachments SET content_type = 'image/png'",
    "DELETE FROM attachments",
];
