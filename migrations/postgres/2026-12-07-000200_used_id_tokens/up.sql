-- The ID tokens that signed someone in with an OpenID Connect provider,
-- each by the SHA-256 of its provider and signed part (never the token), so
-- that one is accepted once by every instance; swept once it could not be
-- accepted anyway (`expires_at`, milliseconds).
CREATE TABLE used_id_tokens (
    digest BYTEA PRIMARY KEY NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE INDEX used_id_tokens_expires_at ON used_id_tokens (expires_at);
