-- The language each person chose for the pages (da or en); none means Danish.
ALTER TABLE users ADD COLUMN language TEXT;
