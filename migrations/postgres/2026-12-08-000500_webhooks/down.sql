DROP TABLE webhook_outbox;
ALTER TABLE events DROP COLUMN sid;
