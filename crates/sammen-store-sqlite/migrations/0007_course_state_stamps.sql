-- Each stored course state carries a stamp: a number no other write of any state has
-- had. A reader that holds a course's decoded state (sammen-store's course_states)
-- sends the stamp it holds, and the row answers with its stamp and, only when the two
-- differ, the state's text. Comparing the text itself meant reading all of it, many
-- kilobytes over several overflow pages, on every read.
--
-- The stamp comes before the state in the row: a column after the state could only be
-- reached through the state's overflow pages. Any later change to a stored state,
-- migrations included, must give it a new stamp.

CREATE TABLE course_states_stamped (
    patient_id  TEXT NOT NULL,
    course_id   TEXT NOT NULL,
    stamp       INTEGER NOT NULL,
    state       TEXT NOT NULL,
    PRIMARY KEY (patient_id, course_id)
);
INSERT INTO course_states_stamped (patient_id, course_id, stamp, state)
SELECT patient_id, course_id, random(), state FROM course_states;
DROP TABLE course_states;
ALTER TABLE course_states_stamped RENAME TO course_states;
