DROP TABLE used_dpop_proofs;
ALTER TABLE tokens DROP COLUMN dpop_jkt;
