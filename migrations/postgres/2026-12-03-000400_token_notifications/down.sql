DROP TRIGGER users_changed ON users;
DROP TRIGGER users_deleted ON users;
DROP TRIGGER tokens_changed ON tokens;
DROP TRIGGER tokens_deleted ON tokens;
DROP FUNCTION multitoken_user_changed();
DROP FUNCTION multitoken_token_changed();
DROP FUNCTION multitoken_announce(text);
