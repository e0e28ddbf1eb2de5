-- Messages about a course, the open work each course and thread holds (worklists),
-- each reader's last look at a course, and how to reach people.
--
-- The new course columns and work_items are derived from the log; for data written
-- before this migration, `sammen rebuild-projections` fills them.

-- A course's state (a JSON document of many kilobytes) moves to its own table, so the
-- lists and worklists that scan many courses read narrow rows.
CREATE TABLE course_states (
    patient_id  TEXT NOT NULL,
    course_id   TEXT NOT NULL,
    state       TEXT NOT NULL,
    PRIMARY KEY (patient_id, course_id)
);
INSERT INTO course_states (patient_id, course_id, state) SELECT patient_id, course_id, state FROM courses;
ALTER TABLE courses DROP COLUMN state;
ALTER TABLE courses ADD COLUMN updated_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE courses ADD COLUMN key_worker TEXT;
ALTER TABLE courses ADD COLUMN origin TEXT NOT NULL DEFAULT 'health';
ALTER TABLE courses ADD COLUMN opened_org TEXT;
CREATE INDEX courses_by_key_worker ON courses (key_worker) WHERE key_worker IS NOT NULL;

-- Who is on which care team, read by organisation or person without touching the table.
DROP INDEX care_team_by_org;
DROP INDEX care_team_by_user;
CREATE INDEX care_team_by_org ON care_team (org_id, patient_id, course_id);
CREATE INDEX care_team_by_user ON care_team (user_id, patient_id, course_id) WHERE user_id <> '';

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

-- The open work each stream holds, one row per piece of work and assignee
-- ('user/<id>', 'org/<id>', or 'key_worker' for whoever is the course's key worker):
-- kept in order of assignee, so a worklist is one range read.
CREATE TABLE work_items (
    assignee       TEXT NOT NULL,
    patient_id     TEXT NOT NULL,
    stream         TEXT NOT NULL,
    item_id        TEXT NOT NULL,
    kind           TEXT NOT NULL,
    course_id      TEXT NOT NULL,
    due            TEXT,
    show_rule      TEXT NOT NULL,
    since          INTEGER NOT NULL,
    title          TEXT NOT NULL,
    category       TEXT NOT NULL,
    origin         TEXT NOT NULL,
    author_org     TEXT,
    PRIMARY KEY (assignee, patient_id, stream, item_id, kind)
) WITHOUT ROWID;
CREATE INDEX work_items_by_stream ON work_items (patient_id, stream);

-- Courses that changed since each follower last looked: written for every follower
-- when a course changes, removed when they look (fan-out on write, so a worklist
-- reads only what is new to its reader). Looks come from the audit trail and are kept
-- beside it.
CREATE TABLE audit.unseen (
    user_id     TEXT NOT NULL,
    patient_id  TEXT NOT NULL,
    course_id   TEXT NOT NULL,
    changed_at  INTEGER NOT NULL,
    PRIMARY KEY (user_id, patient_id, course_id)
) WITHOUT ROWID;

CREATE TABLE audit.last_looks (
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
