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
}

async fn fresh() -> Option<PgFixture> {
    TestDatabase::create().await.map(PgFixture)
}

sammen_store::conformance_tests!(fresh);

#[tokio::test]
async fn the_log_refuses_update_and_delete() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    db.store
        .raw_execute("INSERT INTO patients (patient_id, cpr, version, last_seq, state) VALUES ('p', '1', 1, 1, '{}')")
        .await
        .unwrap();
    db.store
        .raw_execute("INSERT INTO events (patient_id, seq, event_id, stream, version, recorded_at, actor, kind, category, payload) VALUES ('p', 1, 'e', 'patient', 1, 0, 'a', 'k', 'identity', '{}')")
        .await
        .unwrap();
    for sql in ["UPDATE events SET payload = 'x'", "DELETE FROM events"] {
        let err = db.store.raw_execute(sql).await.unwrap_err();
        assert!(err.to_string().contains("append-only"), "{err}");
    }
}
