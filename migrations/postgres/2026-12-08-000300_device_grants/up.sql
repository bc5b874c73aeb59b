-- OAuth device grants (RFC 8628): a device asked for a key and waits while
-- a person approves it elsewhere. The codes are stored as digests only:
-- SHA-256 of the device code, HMAC-SHA256 (a key derived from SECRET_KEY) of
-- the normalised user code, whose few bits a plain digest would not hide.
-- Times in milliseconds; `poll_interval` in seconds. `state` is `pending`,
-- `approved`, `denied` or `spent`. Swept some time after `expires_at`.
CREATE TABLE device_grants (
    id BIGSERIAL PRIMARY KEY,
    device_code_digest BYTEA NOT NULL UNIQUE,
    user_code_digest BYTEA NOT NULL UNIQUE,
    client TEXT NOT NULL,
    scopes TEXT NOT NULL,
    ip TEXT,
    user_agent TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    poll_interval BIGINT NOT NULL,
    last_poll_at BIGINT,
    state TEXT NOT NULL,
    approver_id BIGINT REFERENCES users (id) ON DELETE CASCADE,
    approved_scopes TEXT
);

CREATE INDEX device_grants_expires_at ON device_grants (expires_at);
