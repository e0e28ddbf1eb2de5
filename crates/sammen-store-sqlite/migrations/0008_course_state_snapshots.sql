-- A stored course state becomes a snapshot: the course as it stood at `version`, which
-- may lag behind the course (courses.version). A reader folds the course's events after
-- it onto the snapshot. Rewriting the whole state on every change made each change cost
-- as much as the course is long: a course with two hundred measurements rewrote some
-- fifty kilobytes for every new one. Now a change rewrites it only when enough events
-- have gathered since the snapshot (sammen-store's SNAPSHOT_EVERY).
--
-- The version comes before the state in the row, as the stamp does (see 0007). The
-- states kept so far are whole, so each is a snapshot at its own version; their text
-- and stamps do not change.

CREATE TABLE course_states_versioned (
    patient_id  TEXT NOT NULL,
    course_id   TEXT NOT NULL,
    stamp       INTEGER NOT NULL,
    version     INTEGER NOT NULL,
    state       TEXT NOT NULL,
    PRIMARY KEY (patient_id, course_id)
);
INSERT INTO course_states_versioned (patient_id, course_id, stamp, version, state)
SELECT patient_id, course_id, stamp, json_extract(state, '$.version'), state FROM course_states;
DROP TABLE course_states;
ALTER TABLE course_states_versioned RENAME TO course_states;
