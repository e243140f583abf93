-- The seed's tables (servers, server_stats, alerts) with its columns and meaning, and the project's own
-- users table in place of Supabase's auth.users.

CREATE TABLE users (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    username      text NOT NULL UNIQUE CHECK (username ~ '^[A-Za-z0-9_.@-]{1,64}$'),
    email         text,
    password_hash text NOT NULL,
    role          text NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
    totp_secret   text,
    disabled      boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE servers (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name        varchar NOT NULL,
    hostname    varchar NOT NULL,
    description text,
    status      varchar NOT NULL DEFAULT 'unknown'
                CHECK (status IN ('up', 'down', 'warning', 'unknown')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    last_check  timestamptz,
    owner_id    uuid REFERENCES users (id) ON DELETE SET NULL,
    -- What makes a server a scrape target: its job and address, and its labels.
    job         text,
    address     text,
    labels      jsonb NOT NULL DEFAULT '{}'::jsonb,
    UNIQUE (job, address)
);

CREATE TABLE server_stats (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    server_id    uuid REFERENCES servers (id) ON DELETE CASCADE,
    cpu_usage    double precision,
    memory_usage double precision,
    disk_usage   double precision,
    network_rx   double precision,
    network_tx   double precision,
    timestamp    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX server_stats_server_time ON server_stats (server_id, timestamp DESC);

CREATE TABLE alerts (
    id        uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    server_id uuid REFERENCES servers (id) ON DELETE CASCADE,
    type      varchar NOT NULL,
    title     varchar NOT NULL,
    message   text NOT NULL,
    read      boolean NOT NULL DEFAULT false,
    timestamp timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alerts_server_time ON alerts (server_id, timestamp DESC);
