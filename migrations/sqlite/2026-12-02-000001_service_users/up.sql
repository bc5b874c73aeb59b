-- Service users: the resource servers and gateways that introspect other
-- users' keys (`POST /introspect`). Nobody is one until an admin says so.
ALTER TABLE users ADD COLUMN is_service BOOLEAN NOT NULL DEFAULT 0;
