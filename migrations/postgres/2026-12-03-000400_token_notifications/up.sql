-- Token caches of every instance are told, in the writing transaction
-- (delivered on commit, never on rollback), which cached checks a write
-- ended or changed: every path that writes, present or future, is covered
-- without having to remember it. The channel is named after the schema, so
-- databases shared by schemas do not hear each other.
--
-- Touches (last_used_at, and expires_at moved later) are not announced:
-- there is one per token per touch interval, and they end nothing.
--
-- Sessions that set multitoken.track_evictions (the server's pool) also
-- collect the payloads in multitoken.evicted, so the instance that made the
-- write evicts before it answers, without waiting for its own notification.
CREATE FUNCTION multitoken_announce(payload text) RETURNS void AS $$
BEGIN
    PERFORM pg_notify('multitoken_' || current_schema(), payload);
    IF current_setting('multitoken.track_evictions', true) = 'on' THEN
        PERFORM set_config('multitoken.evicted',
            coalesce(current_setting('multitoken.evicted', true), '') || payload || ' ', false);
    END IF;
END
$$ LANGUAGE plpgsql;

CREATE FUNCTION multitoken_token_changed() RETURNS trigger AS $$
BEGIN
    PERFORM multitoken_announce('t' || encode(OLD.digest, 'hex'));
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE FUNCTION multitoken_user_changed() RETURNS trigger AS $$
BEGIN
    PERFORM multitoken_announce('u' || OLD.id);
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER tokens_deleted AFTER DELETE ON tokens
    FOR EACH ROW EXECUTE FUNCTION multitoken_token_changed();
CREATE TRIGGER tokens_changed AFTER UPDATE ON tokens
    FOR EACH ROW
    WHEN ((to_jsonb(OLD) - 'last_used_at' - 'expires_at')
              IS DISTINCT FROM (to_jsonb(NEW) - 'last_used_at' - 'expires_at')
          OR NEW.expires_at < OLD.expires_at)
    EXECUTE FUNCTION multitoken_token_changed();

CREATE TRIGGER users_deleted AFTER DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION multitoken_user_changed();
CREATE TRIGGER users_changed AFTER UPDATE ON users
    FOR EACH ROW
    WHEN ((to_jsonb(OLD) - 'last_login_at') IS DISTINCT FROM (to_jsonb(NEW) - 'last_login_at'))
    EXECUTE FUNCTION multitoken_user_changed();
