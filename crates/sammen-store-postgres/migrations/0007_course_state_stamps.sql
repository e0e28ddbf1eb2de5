-- Each stored course state carries a stamp: a number no other write of any state has
-- had. A reader that holds a course's decoded state (sammen-store's course_states)
-- sends the stamp it holds, and the row answers with its stamp and, only when the two
-- differ, the state's text. Comparing the text itself meant reading all of it on every
-- read (here from its TOAST table, which a column beside it never touches).
--
-- Any later change to a stored state, migrations included, must give it a new stamp.

ALTER TABLE course_states ADD COLUMN stamp BIGINT;
UPDATE course_states SET stamp = floor((random() - 0.5) * 1.8e19)::BIGINT;
ALTER TABLE course_states ALTER COLUMN stamp SET NOT NULL;
