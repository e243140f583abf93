-- server_stats receives one row per server per scrape (about 5.8 million rows a day for 1,000 servers), so
-- it becomes a table partitioned by day, whose old days are dropped whole by retention. The seed's columns
-- and their meaning are kept; the key becomes (server_id, timestamp), which also makes replayed writes
-- idempotent. Existing rows land in the DEFAULT partition; maintenance moves them into their day when it
-- creates that day's partition.
ALTER TABLE server_stats RENAME TO server_stats_unpartitioned;
ALTER INDEX server_stats_pkey RENAME TO server_stats_unpartitioned_pkey;
ALTER INDEX server_stats_server_time RENAME TO server_stats_unpartitioned_server_time;

CREATE TABLE server_stats (
    id           uuid NOT NULL DEFAULT gen_random_uuid(),
    server_id    uuid NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    cpu_usage    double precision,
    memory_usage double precision,
    disk_usage   double precision,
    network_rx   double precision,
    network_tx   double precision,
    timestamp    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (server_id, timestamp)
) PARTITION BY RANGE (timestamp);
CREATE TABLE server_stats_default PARTITION OF server_stats DEFAULT;

INSERT INTO server_stats (id, server_id, cpu_usage, memory_usage, disk_usage, network_rx, network_tx, timestamp)
SELECT id, server_id, cpu_usage, memory_usage, disk_usage, network_rx, network_tx, timestamp
FROM server_stats_unpartitioned
WHERE server_id IS NOT NULL
ON CONFLICT DO NOTHING;
DROP TABLE server_stats_unpartitioned;

-- Rollups of server_stats for long ranges: per metric the sum and count of non-null values, so that buckets
-- of any multiple of the resolution average exactly. Partitioned by month.
CREATE TABLE server_stats_5m (
    server_id          uuid NOT NULL,
    bucket             timestamptz NOT NULL,
    cpu_sum            double precision NOT NULL DEFAULT 0,
    cpu_count          integer NOT NULL DEFAULT 0,
    memory_sum         double precision NOT NULL DEFAULT 0,
    memory_count       integer NOT NULL DEFAULT 0,
    disk_sum           double precision NOT NULL DEFAULT 0,
    disk_count         integer NOT NULL DEFAULT 0,
    network_rx_sum     double precision NOT NULL DEFAULT 0,
    network_rx_count   integer NOT NULL DEFAULT 0,
    network_tx_sum     double precision NOT NULL DEFAULT 0,
    network_tx_count   integer NOT NULL DEFAULT 0,
    PRIMARY KEY (server_id, bucket)
) PARTITION BY RANGE (bucket);
CREATE TABLE server_stats_5m_default PARTITION OF server_stats_5m DEFAULT;
CREATE TABLE server_stats_1h (LIKE server_stats_5m INCLUDING ALL) PARTITION BY RANGE (bucket);
CREATE TABLE server_stats_1h_default PARTITION OF server_stats_1h DEFAULT;
