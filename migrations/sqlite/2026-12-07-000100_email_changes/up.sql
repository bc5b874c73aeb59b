-- How many times the user's address changed. Verification keys and reset
-- tokens are signed over it, so that changing the address away and back
-- does not bring back the links sent before.
ALTER TABLE users ADD COLUMN email_changes BIGINT NOT NULL DEFAULT 0;
