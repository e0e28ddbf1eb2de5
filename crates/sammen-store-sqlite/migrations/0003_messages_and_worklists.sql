-- Messages about a course, the open work each course and thread holds (worklists),
-- each reader's last look at a course, and how to reach people.
--
-- The new course columns and work_items are derived from the log; for data written
-- before this migration, `sammen rebuild-projections` fills them.

ALTER TABLE courses ADD COLUMN updated_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE courses ADD COLUMN key_worker TEXT;
ALTER TABLE courses ADD COLUMN origin TEXT NOT NULL DEFAULT 'health';
ALTER TABLE courses ADD COLUMN opened_org TEXT;
CREATE INDEX courses_by_key_worker ON courses (key_worker) WHERE key_worker IS NOT NULL;

CREATE TABLE threads (
    patient_id  TEXT NOT NULL REFERENCES patients(patient_id),
    thread_id   TEXT NOT NULL,
    course_id   TEXT NOT NULL,
    version     INTEGER NOT NULL,
    started_by  TEXT NOT NULL,
    client_id   TEXT,
    updated_at  INTEGER NOT NULL,
    state       TEXT NOT NULL,
    PRIMARY KEY (patient_id, thread_id)
);
CREATE INDEX threads_by_course ON threads (patient_id, course_id, updated_at);
CREATE UNIQUE INDEX threads_by_client_id ON threads (patient_id, started_by, client_id) WHERE client_id IS NOT NULL;

-- Files sent with messages. Like the log, never changed or removed.
CREATE TABLE attachments (
    patient_id    TEXT NOT NULL REFERENCES patients(patient_id),
    attachment_id TEXT NOT NULL,
    thread_id     TEXT NOT NULL,
    content_type  TEXT NOT NULL,
    data          BLOB NOT NULL,
    PRIMARY KEY (patient_id, attachment_id)
);
CREATE TRIGGER attachments_no_update BEFORE UPDATE ON attachments
BEGIN SELECT RAISE(ABORT, 'attachments are append-only'); END;
CREATE TRIGGER attachments_no_delete BEFORE DELETE ON attachments
BEGIN SELECT RAISE(ABORT, 'attachments are append-only'); END;

CREATE TABLE work_items (
    patient_id     TEXT NOT NULL,
    stream         TEXT NOT NULL,
    course_id      TEXT NOT NULL,
    item_id        TEXT NOT NULL,
    kind           TEXT NOT NULL,
    assignee_user  TEXT,
    assignee_org   TEXT,
    for_key_worker INTEGER NOT NULL,
    due            TEXT,
    show_rule      TEXT NOT NULL,
    since          INTEGER NOT NULL,
    title          TEXT NOT NULL,
    category       TEXT NOT NULL,
    origin         TEXT NOT NULL,
    author_org     TEXT
);
CREATE INDEX work_items_by_stream ON work_items (patient_id, stream);
CREATE INDEX work_items_by_user ON work_items (assignee_user) WHERE assignee_user IS NOT NULL;
CREATE INDEX work_items_by_org ON work_items (assignee_org) WHERE assignee_org IS NOT NULL;
CREATE INDEX work_items_for_key_worker ON work_items (patient_id, course_id) WHERE for_key_worker;

CREATE TABLE last_looks (
    patient_id  TEXT NOT NULL,
    course_id   TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    at          INTEGER NOT NULL,
    PRIMARY KEY (patient_id, course_id, user_id)
);

CREATE TABLE contact_routes (
    holder      TEXT NOT NULL,
    ordinal     INTEGER NOT NULL,
    route       TEXT NOT NULL,
    PRIMARY KEY (holder, ordinal)
);

ALTER TABLE users ADD COLUMN email TEXT;
