-- The keys that a rotation (POST /tokens/rotate, or /token/refresh with
-- ROTATE_REFRESH_TOKENS) replaced, by digest (never the key), with the
-- device they were the key of: the tokens row (token_id) as signed in at
-- signed_in_at, its created_at, which a rotation keeps and a new sign-in
-- on the client replaces, so a key of an earlier sign-in never names the
-- new one. A retired key stands for its device for ROTATION_GRACE after
-- retired_at; any later use revokes the device (reuse detection). Kept
-- until expires_at (milliseconds, the rotated key's expiry) has passed and
-- the device is gone or expired too, then swept.
CREATE TABLE retired_keys (
    digest BYTEA PRIMARY KEY NOT NULL,
    token_id BIGINT NOT NULL,
    signed_in_at BIGINT NOT NULL,
    retired_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE INDEX retired_keys_token_id ON retired_keys (token_id);
CREATE INDEX retired_keys_expires_at ON retired_keys (expires_at);
