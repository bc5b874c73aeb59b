DROP TRIGGER tokens_changed ON tokens;
CREATE TRIGGER tokens_changed AFTER UPDATE ON tokens
    FOR EACH ROW
    WHEN ((to_jsonb(OLD) - 'last_used_at' - 'expires_at')
              IS DISTINCT FROM (to_jsonb(NEW) - 'last_used_at' - 'expires_at')
          OR NEW.expires_at < OLD.expires_at)
    EXECUTE FUNCTION multitoken_token_changed();
ALTER TABLE tokens DROP COLUMN last_ip;
DROP TABLE events;
