-- Authentication and authorization: rotating refresh tokens, API tokens, per-server grants, the audit log and
-- TOTP replay protection. Login throttling lives in Redis (keys under "auth:"), where counters expire by
-- themselves.

-- Access tokens issued before this moment are refused (set on a password change or a reset).
ALTER TABLE users ADD COLUMN tokens_valid_after timestamptz;

CREATE TABLE refresh_tokens (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- Every rotation stays in its login's family, so reuse of a spent token can revoke them all.
    family_id  uuid NOT NULL,
    token_hash text NOT NULL UNIQUE,
    issued_at  timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    revoked_at timestamptz
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);

CREATE TABLE api_tokens (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    token_hash   text NOT NULL UNIQUE,
    role         text NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    expires_at   timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);

CREATE TABLE server_grants (
    user_id   uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    server_id uuid NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, server_id)
);

CREATE TABLE audit_log (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    -- A user id, an API token id or 'anonymous'; text, so rows outlive the accounts they name.
    actor       text NOT NULL,
    actor_name  text,
    method      text NOT NULL,
    path        text NOT NULL,
    action      text,
    target      text,
    status      integer NOT NULL,
    remote_addr text,
    detail      jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_log_at ON audit_log (at DESC);
CREATE INDEX audit_log_actor_at ON audit_log (actor, at DESC);

CREATE TABLE totp_used (
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    step    bigint NOT NULL,
    PRIMARY KEY (user_id, step)
);
