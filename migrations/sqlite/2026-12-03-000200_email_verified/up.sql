-- Whether the user proved the address in `email` is theirs (EMAIL_VERIFICATION).
-- Nobody has yet: existing and imported users verify through
-- POST /register/resend-email when verification is turned on.
ALTER TABLE users ADD COLUMN email_verified BOOLEAN NOT NULL DEFAULT 0;
