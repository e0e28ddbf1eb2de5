-- The foundation: directory, tokens, the patient log with its projections, audit.
-- Every patient table leads with patient_id.

CREATE TABLE organisations (
    org_id      TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    sector      TEXT NOT NULL,
    sor         TEXT UNIQUE
);

CREATE TABLE users (
    user_id     TEXT PRIMARY KEY,
    login       TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL,
    profession  TEXT,
    org_id      TEXT REFERENCES organisations(org_id),
    patient_id  TEXT,
    disabled    BOOLEAN NOT NULL DEFAULT FALSE
);

CREATE TABLE api_tokens (
    token_id    TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users(user_id),
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT,
    revoked_at  BIGINT
);

CREATE TABLE patients (
    patient_id  TEXT PRIMARY KEY,
    cpr         TEXT NOT NULL UNIQUE,
    version     BIGINT NOT NULL,
    last_seq    BIGINT NOT NULL,
    state       TEXT NOT NULL
);

CREATE TABLE events (
    patient_id  TEXT NOT NULL REFERENCES patients(patient_id),
    seq         BIGINT NOT NULL,
    event_id    TEXT NOT NULL,
    stream      TEXT NOT NULL,
    course_id   TEXT,
    version     BIGINT NOT NULL,
    item_id     TEXT,
    recorded_at BIGINT NOT NULL,
    actor       TEXT NOT NULL,
    org_id      TEXT,
    kind        TEXT NOT NULL,
    category    TEXT NOT NULL,
    payload     TEXT NOT NULL,
    PRIMARY KEY (patient_id, seq),
    UNIQUE (patient_id, stream, version)
);
CREATE INDEX events_by_course ON events (patient_id, course_id, seq);
CREATE INDEX events_by_item ON events (patient_id, item_id) WHERE item_id IS NOT NULL;

-- The log is append-only: the database itself refuses to change or remove an event.
CREATE FUNCTION sammen_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'events are append-only'; END $$;
CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
FOR EACH ROW EXECUTE FUNCTION sammen_events_append_only();

CREATE TABLE courses (
    patient_id  TEXT NOT NULL REFERENCES patients(patient_id),
    course_id   TEXT NOT NULL,
    version     BIGINT NOT NULL,
    title       TEXT NOT NULL,
    status      TEXT NOT NULL,
    state       TEXT NOT NULL,
    PRIMARY KEY (patient_id, course_id)
);

CREATE TABLE care_team (
    patient_id  TEXT NOT NULL,
    course_id   TEXT NOT NULL,
    org_id      TEXT NOT NULL,
    user_id     TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (patient_id, course_id, org_id, user_id)
);
CREATE INDEX care_team_by_org ON care_team (org_id, patient_id);
CREATE INDEX care_team_by_user ON care_team (user_id, patient_id) WHERE user_id <> '';

-- The audit trail lives apart from the record: on SQLite in a file of its own
-- (sammen-audit.db beside sammen.db, attached as "audit"), on PostgreSQL in a schema of
-- its own. On SQLite its commits, one for every read, then never make readers of the
-- record drop their cached pages.
CREATE SCHEMA audit;

CREATE TABLE audit.audit_log (
    seq         BIGINT PRIMARY KEY,
    at          BIGINT NOT NULL,
    actor       TEXT NOT NULL,
    org         TEXT,
    action      TEXT NOT NULL,
    purpose     TEXT NOT NULL,
    patient_id  TEXT,
    object      TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL
);
CREATE INDEX audit_by_patient ON audit.audit_log (patient_id, seq) WHERE patient_id IS NOT NULL;

CREATE TABLE audit.audit_head (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    seq         BIGINT NOT NULL,
    hash        TEXT NOT NULL
);
INSERT INTO audit.audit_head (id, seq, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
