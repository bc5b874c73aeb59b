-- Two-factor authentication (TOTP). The secret is sealed (AES-256-GCM under
-- a key derived from SECRET_KEY): a copy of the database alone cannot mint
-- codes. `two_factor` is set only once a code from the app was confirmed;
-- until then a secret is pending. `totp_last_step` is the time step of the
-- last code accepted, so that no code is accepted twice.
ALTER TABLE users ADD COLUMN totp_secret BLOB;
ALTER TABLE users ADD COLUMN two_factor BOOLEAN NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN totp_last_step BIGINT;

-- Recovery codes, as keyed digests only (HMAC under a key derived from
-- SECRET_KEY); a spent code is deleted.
CREATE TABLE recovery_codes (
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    digest BLOB NOT NULL,
    PRIMARY KEY (user_id, digest)
);
