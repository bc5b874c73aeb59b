ALTER TABLE users DROP COLUMN email_changes;
