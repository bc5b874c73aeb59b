-- Signed-in console sessions. The cookie carries a random id; only its
-- SHA-256 is kept here, so a copy of this table signs nobody in.
CREATE TABLE console_sessions (
    id BIGSERIAL PRIMARY KEY,
    digest BYTEA NOT NULL UNIQUE,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL
);

CREATE INDEX console_sessions_user_id ON console_sessions (user_id);
CREATE INDEX console_sessions_last_seen_at ON console_sessions (last_seen_at);
CREATE INDEX console_sessions_created_at ON console_sessions (created_at);
