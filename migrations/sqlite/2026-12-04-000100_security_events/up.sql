-- Security events: an append-only record of what happened to accounts and
-- devices, written in the transaction of the change it records. Never a
-- key, a password, a code or a digest. `user_id` has no foreign key: the
-- record outlives what it is about. Swept after EVENTS_RETENTION.
CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    at BIGINT NOT NULL,
    -- login, login_failed, throttled, logout, revoked, password_changed, ...
    kind TEXT NOT NULL,
    user_id BIGINT,
    client TEXT,
    -- self, admin:<id>, cli or system
    actor TEXT NOT NULL,
    ip TEXT,
    user_agent TEXT,
    -- how: for `revoked` the path that revoked (logout_all, expired, ...)
    detail TEXT
);

CREATE INDEX events_user_id ON events (user_id, id);
CREATE INDEX events_kind ON events (kind, id);
CREATE INDEX events_at ON events (at);

-- The client address of the login, then of the last recorded use.
ALTER TABLE tokens ADD COLUMN last_ip TEXT;
