-- A token's scopes, space-separated; empty for an unrestricted token, which
-- is what every token issued before scopes existed becomes.
ALTER TABLE tokens ADD COLUMN scopes TEXT NOT NULL DEFAULT '';
