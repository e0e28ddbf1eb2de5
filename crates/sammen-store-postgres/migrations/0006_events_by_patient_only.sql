-- A patient's events are always read with the patient's id, and the primary key
-- (patient_id, seq) already finds them in order. A filter by course or by item looks
-- through that one patient's log, which is short, so the two indexes below served no
-- read that needed them; but every event written had to go into both, at a random page
-- each, and those were two of the dozen pages a FHIR create wrote to the log.

DROP INDEX events_by_course;
DROP INDEX events_by_item;
