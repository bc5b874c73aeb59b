-- Server secrets that must survive restarts, such as a generated SECRET_KEY
-- (used only when none is configured).
CREATE TABLE secrets (
    name TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- Password resets look users up by e-mail without regard to case.
CREATE INDEX users_email_lower ON users (lower(email));
