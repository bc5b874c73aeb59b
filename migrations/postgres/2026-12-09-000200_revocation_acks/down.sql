DROP FUNCTION multitoken_heartbeat(bigint, bigint);
DROP FUNCTION multitoken_register_instance(bigint);
DROP FUNCTION multitoken_revocations_committed();
CREATE OR REPLACE FUNCTION multitoken_announce(payload text) RETURNS void AS $$
BEGIN
    PERFORM pg_notify('multitoken_' || current_schema(), payload);
    IF current_setting('multitoken.track_evictions', true) = 'on' THEN
        PERFORM set_config('multitoken.evicted',
            coalesce(current_setting('multitoken.evicted', true), '') || payload || ' ', false);
    END IF;
END
$$ LANGUAGE plpgsql;
DROP FUNCTION multitoken_revocation_lock();
DROP TABLE cache_instances;
DROP SEQUENCE revocation_seq;
