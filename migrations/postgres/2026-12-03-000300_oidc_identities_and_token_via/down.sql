DROP TABLE identities;
ALTER TABLE tokens DROP COLUMN via;
