-- Read-your-revocation (see docs/src/contributing/architecture.md): every
-- transaction that announces something to the token caches gets one number
-- from revocation_seq, under a lock it holds to its commit, so that numbers
-- are committed, and so heard, in order. Each notification carries its
-- number (`s<seq> ` before the payloads); each caching instance records in
-- cache_instances the last number it has applied, and when it last proved
-- it is current; the writer waits for those acknowledgements before it
-- answers.
CREATE SEQUENCE revocation_seq;

CREATE TABLE cache_instances (
    id BIGSERIAL PRIMARY KEY,
    applied_seq BIGINT NOT NULL,
    heartbeat_at TIMESTAMPTZ NOT NULL
);

-- The lock that orders announcing transactions: one per schema, as the
-- channel is.
CREATE FUNCTION multitoken_revocation_lock() RETURNS bigint AS $$
    SELECT hashtext('multitoken_revocations_' || current_schema())::bigint
$$ LANGUAGE sql STABLE;

-- The transaction's number is kept in a transaction-local setting (taken
-- once), and in a session setting, multitoken.announced_seq, that the
-- writer reads after its commit to know what to wait for (a rollback
-- undoes it).
CREATE OR REPLACE FUNCTION multitoken_announce(payload text) RETURNS void AS $$
DECLARE
    seq text := current_setting('multitoken.xact_seq', true);
BEGIN
    IF seq IS NULL OR seq = '' THEN
        PERFORM pg_advisory_xact_lock(multitoken_revocation_lock());
        seq := nextval('revocation_seq')::text;
        PERFORM set_config('multitoken.xact_seq', seq, true);
        PERFORM set_config('multitoken.announced_seq', seq, false);
    END IF;
    PERFORM pg_notify('multitoken_' || current_schema(), 's' || seq || ' ' || payload);
    IF current_setting('multitoken.track_evictions', true) = 'on' THEN
        PERFORM set_config('multitoken.evicted',
            coalesce(current_setting('multitoken.evicted', true), '') || payload || ' ', false);
    END IF;
END
$$ LANGUAGE plpgsql;

-- The last number every announcing transaction up to now has committed
-- with: called under the shared lock, no transaction holds a number it has
-- not committed (a rolled-back number is a gap, never waited for).
CREATE FUNCTION multitoken_revocations_committed() RETURNS bigint AS $$
    SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM revocation_seq
$$ LANGUAGE sql VOLATILE;

-- A listener's registration, once LISTEN is in place: everything numbered
-- up to `applied` is in the database already, the rest will be heard. It
-- replaces the listener's previous registration (a reconnection).
CREATE FUNCTION multitoken_register_instance(previous bigint, OUT instance bigint, OUT applied bigint) AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(multitoken_revocation_lock());
    applied := multitoken_revocations_committed();
    DELETE FROM cache_instances
        WHERE id = previous OR heartbeat_at < clock_timestamp() - interval '1 day';
    INSERT INTO cache_instances (applied_seq, heartbeat_at)
        VALUES (applied, clock_timestamp()) RETURNING id INTO instance;
END
$$ LANGUAGE plpgsql;

-- A listener's acknowledgement and heartbeat: records what it has applied,
-- and answers the last number committed, so that it knows whether it is
-- current. heartbeat_at is taken after the instance sent this, so a lease
-- it grants itself from its own send time ends before heartbeat_at plus
-- REVOCATION_ACK_TIMEOUT.
CREATE FUNCTION multitoken_heartbeat(instance bigint, applied bigint) RETURNS bigint AS $$
DECLARE
    committed bigint;
BEGIN
    PERFORM pg_advisory_xact_lock_shared(multitoken_revocation_lock());
    committed := multitoken_revocations_committed();
    UPDATE cache_instances
        SET applied_seq = greatest(applied_seq, applied), heartbeat_at = clock_timestamp()
        WHERE id = instance;
    RETURN committed;
END
$$ LANGUAGE plpgsql;
