-- The P-256 keys that sign JWT access tokens. The private key is kept only
-- encrypted (AES-256-GCM under a key derived from SECRET_KEY, the kid as
-- associated data). The current signer is the one row not retired; the
-- partial unique index lets only one exist, so instances that start at
-- once agree on it: the first insert wins, the others read it.
CREATE TABLE signing_keys (
    id BIGSERIAL PRIMARY KEY,
    kid TEXT NOT NULL UNIQUE,
    public_key BYTEA NOT NULL,
    encrypted_private_key BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    retired_at BIGINT
);
CREATE UNIQUE INDEX signing_keys_one_current ON signing_keys ((retired_at IS NULL))
    WHERE retired_at IS NULL;
