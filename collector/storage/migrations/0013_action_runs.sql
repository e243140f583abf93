-- Remote actions: one row per request that reached the step where a run is decided (the caller had the
-- role and the server's grant): the step-up and rate-limit refusals, the exporter's refusals and the runs,
-- with their outcome and capped output. Requests refused for role or grant are in audit_log and events only.
CREATE TABLE action_runs (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    server_id         uuid NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    action            text NOT NULL,
    params            jsonb NOT NULL DEFAULT '{}'::jsonb,
    destructive       boolean NOT NULL DEFAULT false,
    -- Text, so rows outlive the accounts they name.
    requested_by      text NOT NULL,
    requested_by_name text NOT NULL,
    requested_at      timestamptz NOT NULL DEFAULT now(),
    finished_at       timestamptz,
    outcome           text NOT NULL
                      CHECK (outcome IN ('running', 'succeeded', 'failed', 'timed_out', 'refused', 'error')),
    -- Why it was refused or failed to reach the exporter: our code (totp_required, rate_limited …) or the
    -- exporter's (replayed, invalid_params …).
    reason            text,
    message           text,
    exit_code         integer,
    duration_s        double precision,
    stdout            text,
    stderr            text,
    truncated         boolean NOT NULL DEFAULT false
);
CREATE INDEX action_runs_server_at ON action_runs (server_id, requested_at DESC);
