-- Metric metadata (what HELP, TYPE and UNIT lines say), per server: the families its last successful scrape
-- (or push) described, one entry per family, as /api/v1/metadata answers them. Tied to the server so that
-- per-server grants apply to it; it goes with its server.
CREATE TABLE metric_metadata (
    server_id  uuid NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    metric     text NOT NULL,
    type       text NOT NULL,
    help       text NOT NULL,
    unit       text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (server_id, metric)
);
CREATE INDEX metric_metadata_metric ON metric_metadata (metric);

-- The labels of the target each server's metadata came from, as /api/v1/targets/metadata names it.
CREATE TABLE metric_metadata_targets (
    server_id uuid PRIMARY KEY REFERENCES servers (id) ON DELETE CASCADE,
    labels    jsonb NOT NULL
);
