DROP TABLE used_id_tokens;
