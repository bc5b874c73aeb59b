-- Keys bound to a device's public key (DPoP, RFC 9449): the RFC 7638
-- thumbprint of that key, base64url; NULL for a key used as a bearer key.
ALTER TABLE tokens ADD COLUMN dpop_jkt TEXT;

-- The DPoP proofs accepted, each by the SHA-256 of its key's thumbprint and
-- its jti (never the proof), so that one is accepted once by every
-- instance; swept once its iat is out of the window (expires_at,
-- milliseconds).
CREATE TABLE used_dpop_proofs (
    digest BYTEA PRIMARY KEY NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE INDEX used_dpop_proofs_expires_at ON used_dpop_proofs (expires_at);
