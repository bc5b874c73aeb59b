-- Failed logins per scope ("user:<sha256 of the lower-cased username>" or
-- "addr:<client address>"), in fixed windows that open with the first
-- failure. Kept in the database so that every instance shares the counts
-- and a restart does not reset them.
CREATE TABLE login_failures (
    scope TEXT PRIMARY KEY NOT NULL,
    window_start BIGINT NOT NULL,
    failures BIGINT NOT NULL
);

CREATE INDEX login_failures_window_start ON login_failures (window_start);
