-- Credentials: the first administrator's generated password must be replaced at first login, and every API
-- token expires.

ALTER TABLE users ADD COLUMN must_change_password boolean NOT NULL DEFAULT false;

-- Tokens made before expiry was required get the default lifetime from now on; revoked ones keep their end.
UPDATE api_tokens SET expires_at = coalesce(revoked_at, now() + interval '90 days') WHERE expires_at IS NULL;
ALTER TABLE api_tokens ALTER COLUMN expires_at SET NOT NULL;
