-- The console's charts count each kind of event per hour and per day: one
-- range of this index per bar, read without touching the table.
CREATE INDEX events_kind_at ON events (kind, at);
