DROP TABLE retired_keys;
