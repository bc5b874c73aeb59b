ALTER TABLE tokens DROP COLUMN last_ip;
DROP TABLE events;
