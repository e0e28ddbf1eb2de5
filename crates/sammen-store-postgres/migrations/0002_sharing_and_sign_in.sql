-- Organisation admins, notices to people (break-glass), and browser sessions.

ALTER TABLE users ADD COLUMN password_hash TEXT;
ALTER TABLE users ADD COLUMN org_admin BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE notices (
    notice_id    TEXT PRIMARY KEY,
    recipient_id TEXT NOT NULL,
    patient_id   TEXT NOT NULL,
    at           BIGINT NOT NULL,
    kind         TEXT NOT NULL,
    object       TEXT NOT NULL
);
CREATE INDEX notices_by_recipient ON notices (recipient_id, at);

CREATE TABLE sessions (
    session_hash TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users(user_id),
    csrf_token   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    ended_at     BIGINT
);
