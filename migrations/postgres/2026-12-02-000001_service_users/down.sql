ALTER TABLE users DROP COLUMN is_service;
