-- Raw series history: series and series sets, the time-partitioned raw table (one row per scrape), and the
-- compacted tiers (compressed hourly chunks, 5-minute and 1-hour rollups). Partitions are created ahead and
-- dropped by the maintenance job; each partitioned table has a DEFAULT partition so that a write never
-- fails for want of a partition (maintenance moves such rows into their partition when it creates it).

-- One row per distinct series. key_hash is a digest of (metric, labels) so the unique index stays small
-- whatever the label values; server_id is the target that first produced the series.
CREATE TABLE series (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key_hash   bytea NOT NULL UNIQUE,
    server_id  uuid NOT NULL,
    metric     text NOT NULL,
    labels     jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX series_metric ON series (metric);
CREATE INDEX series_labels ON series USING gin (labels jsonb_path_ops);
CREATE INDEX series_server ON series (server_id);

-- The ordered list of series of one target's scrape; a raw or chunk row's values align with series_ids.
CREATE TABLE series_sets (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    digest     bytea NOT NULL UNIQUE,
    server_id  uuid NOT NULL,
    n_series   integer NOT NULL,
    series_ids bigint[] NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX series_sets_server ON series_sets (server_id);

-- One row per scrape of a target; hourly partitions. The unique key makes replays idempotent.
CREATE TABLE history_raw (
    server_id     uuid NOT NULL,
    ts            timestamptz NOT NULL,
    series_set_id bigint NOT NULL,
    vals          float8[] NOT NULL,
    PRIMARY KEY (server_id, ts)
) PARTITION BY RANGE (ts);
CREATE TABLE history_raw_default PARTITION OF history_raw DEFAULT;
-- Raw rows are 8 KiB arrays, always TOASTed: lz4 compresses them at a fraction of pglz's CPU cost, where
-- the server was built with it.
DO $$
BEGIN
    ALTER TABLE history_raw ALTER COLUMN vals SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    NULL;
END
$$;

-- Compacted tiers share one shape: a (target, period, series set) matrix, one compressed column per series
-- (collector.storage.chunks), delimited by offsets so that one series is read with substring(). The
-- payload is already compressed: EXTERNAL storage stops PostgreSQL from compressing it again and lets
-- substring() fetch only the TOAST slices it needs.
CREATE TABLE history_chunks (
    server_id     uuid NOT NULL,
    start_ts      timestamptz NOT NULL,
    series_set_id bigint NOT NULL,
    n_points      integer NOT NULL,
    n_series      integer NOT NULL,
    timestamps    bytea NOT NULL,
    offsets       integer[] NOT NULL,
    payload       bytea NOT NULL,
    PRIMARY KEY (server_id, start_ts, series_set_id)
) PARTITION BY RANGE (start_ts);
ALTER TABLE history_chunks ALTER COLUMN payload SET STORAGE EXTERNAL;
CREATE TABLE history_chunks_default PARTITION OF history_chunks DEFAULT;

-- Rollup rows: timestamps are bucket starts; each series column holds min, max, sum, count and last.
-- 5-minute rollups: one row per target-hour (12 buckets). 1-hour rollups: one row per target-day.
CREATE TABLE history_rollups_5m (LIKE history_chunks INCLUDING ALL) PARTITION BY RANGE (start_ts);
CREATE TABLE history_rollups_5m_default PARTITION OF history_rollups_5m DEFAULT;
CREATE TABLE history_rollups_1h (LIKE history_chunks INCLUDING ALL) PARTITION BY RANGE (start_ts);
CREATE TABLE history_rollups_1h_default PARTITION OF history_rollups_1h DEFAULT;

-- Watermarks of the maintenance job (the epoch stands for "never"). compacted_until: every hour before it has chunks and 5-minute
-- rollups (late rows for such hours are listed in history_dirty); rollup_1h_until: every day before it has
-- 1-hour rollups; *_dropped_until: data before it was removed by retention.
CREATE TABLE history_state (
    id                     boolean PRIMARY KEY DEFAULT true CHECK (id),
    compacted_until        timestamptz NOT NULL DEFAULT 'epoch',
    rollup_1h_until        timestamptz NOT NULL DEFAULT 'epoch',
    raw_dropped_until      timestamptz NOT NULL DEFAULT 'epoch',
    chunks_dropped_until   timestamptz NOT NULL DEFAULT 'epoch',
    rollup_5m_dropped_until timestamptz NOT NULL DEFAULT 'epoch',
    rollup_1h_dropped_until timestamptz NOT NULL DEFAULT 'epoch'
);
INSERT INTO history_state DEFAULT VALUES;

-- Target-hours that received rows after they were compacted: maintenance compacts them again.
CREATE TABLE history_dirty (
    server_id uuid NOT NULL,
    hour      timestamptz NOT NULL,
    PRIMARY KEY (server_id, hour)
);
