-- Mails waiting to be sent, written in the transaction of the change that
-- causes them and deleted once sent (or given up on). A mail may carry a
-- secret link, so it is kept sealed (AES-256-GCM under a key derived from
-- SECRET_KEY), never in clear.
CREATE TABLE mail_outbox (
    id BIGSERIAL PRIMARY KEY,
    -- what the mail is for ("password-reset"), for logs and metrics
    kind TEXT NOT NULL,
    -- 12-byte nonce, then the ciphertext and tag of the mail
    sealed BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    -- attempts made so far, counted when a worker claims the mail
    attempts BIGINT NOT NULL DEFAULT 0,
    -- when a worker may next claim it: now when queued, later after a
    -- failure (backoff) or while a worker holds it (its lease)
    next_attempt_at BIGINT NOT NULL
);

CREATE INDEX mail_outbox_next_attempt_at ON mail_outbox (next_attempt_at);
