DROP INDEX events_kind_at;
