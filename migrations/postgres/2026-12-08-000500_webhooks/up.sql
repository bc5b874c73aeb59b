-- The device's sid (as in access JWTs) on the events about one device.
ALTER TABLE events ADD COLUMN sid TEXT;

-- Webhook deliveries waiting to be made, one per (event, URL), written in
-- the transaction of the change whose event they carry and deleted once
-- delivered (or given up on). The body is the event as listed, which holds
-- no secret; it is signed when sent. The receiver is named by the SHA-256
-- of its URL (hex), not the URL, which may hold a secret path or query:
-- the worker sends to the URL of WEBHOOK_URLS with that digest.
CREATE TABLE webhook_outbox (
    id BIGSERIAL PRIMARY KEY,
    event_id BIGINT NOT NULL,
    receiver TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    -- attempts made so far, counted when a worker claims the delivery
    attempts BIGINT NOT NULL DEFAULT 0,
    -- when a worker may next claim it: now when queued, later after a
    -- failure (backoff) or while a worker holds it (its lease)
    next_attempt_at BIGINT NOT NULL
);

CREATE INDEX webhook_outbox_next_attempt_at ON webhook_outbox (next_attempt_at);
