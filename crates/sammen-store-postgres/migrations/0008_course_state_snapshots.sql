-- A stored course state becomes a snapshot: the course as it stood at `version`, which
-- may lag behind the course (courses.version). A reader folds the course's events after
-- it onto the snapshot. Rewriting the whole state on every change made each change cost
-- as much as the course is long: a course with two hundred measurements rewrote some
-- fifty kilobytes for every new one. Now a change rewrites it only when enough events
-- have gathered since the snapshot (sammen-store's SNAPSHOT_EVERY).
--
-- The states kept so far are whole, so each is a snapshot at its own version; their
-- text and stamps do not change.

ALTER TABLE course_states ADD COLUMN version BIGINT;
UPDATE course_states SET version = (state::json ->> 'version')::BIGINT;
ALTER TABLE course_states ALTER COLUMN version SET NOT NULL;
