-- How each device signed in: 'password', 'oidc:<provider>' or 'import'.
-- Tokens imported from Django before this column existed cannot be told
-- from password logins (their digests and rows look alike), so every
-- existing row becomes 'password'; imports from now on write 'import'.
ALTER TABLE tokens ADD COLUMN via TEXT NOT NULL DEFAULT 'password';

-- Accounts at OpenID Connect providers linked to users: one (provider,
-- subject) belongs to one user, and a user may link several providers.
CREATE TABLE identities (
    id BIGSERIAL PRIMARY KEY,
    provider TEXT NOT NULL,
    -- the provider's `sub`: stable and never reassigned to another person
    subject TEXT NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    UNIQUE (provider, subject)
);

CREATE INDEX identities_user_id ON identities (user_id);
