-- The event log: what happened, when, how severe and where from (scrapes, alerts, actions, the API, users).
-- Rows outlive the servers they mention, so a deleted server leaves its history with a null server_id.

CREATE TABLE events (
    id        bigserial PRIMARY KEY,
    at        timestamptz NOT NULL DEFAULT now(),
    level     text NOT NULL CHECK (level IN ('debug', 'info', 'warning', 'error', 'critical')),
    source    text NOT NULL CHECK (length(source) BETWEEN 1 AND 64),
    server_id uuid REFERENCES servers (id) ON DELETE SET NULL,
    message   text NOT NULL,
    detail    jsonb
);
-- Every read is "newest first within a time range", alone or narrowed by level, source or server.
CREATE INDEX events_at ON events (at DESC, id DESC);
CREATE INDEX events_level_at ON events (level, at DESC);
CREATE INDEX events_source_at ON events (source, at DESC);
CREATE INDEX events_server_at ON events (server_id, at DESC) WHERE server_id IS NOT NULL;
