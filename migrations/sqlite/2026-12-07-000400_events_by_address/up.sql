-- The console filters events by client address, newest first.
CREATE INDEX events_ip ON events (ip, id);
