-- Each patient's entries on the audit trail, found through an index that follows the
-- trail instead of being written with it. A worklist audits every patient it shows, and
-- an index on the trail itself made each such commit rewrite one random index page per
-- patient. This index is brought up to date in batches, after the entries are durable
-- (sammen-app's audit_log), in a file of its own (sammen-audit-index.db, attached as
-- "audit_index") with its own write lock, so bringing it up to date never holds up an
-- append. `audit_indexed.seq` is the last entry it holds; a patient's entries after it
-- are read from the trail itself. It is derived: emptied, with its mark set back to 0, the
-- indexer builds it again from the trail.

CREATE TABLE audit_index.patient_audit (
    patient_id  TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    PRIMARY KEY (patient_id, seq)
) WITHOUT ROWID;

CREATE TABLE audit_index.audit_indexed (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    seq         INTEGER NOT NULL
);

INSERT INTO audit_index.patient_audit (patient_id, seq)
SELECT patient_id, seq FROM audit.audit_log WHERE patient_id IS NOT NULL;
INSERT INTO audit_index.audit_indexed (id, seq) SELECT 1, COALESCE(MAX(seq), 0) FROM audit.audit_log;

DROP INDEX audit.audit_by_patient;
