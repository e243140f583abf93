-- Per-server monitoring settings of registered servers, beside scrape_interval_s (0006): the scrape timeout,
-- the exporter collectors to ask for (sent as collect[] parameters), and free-form tags for the inventory.
-- Alert threshold overrides are not stored here: they are alert_rules scoped to server_id (0007).

ALTER TABLE servers
    -- NULL: the global scrape timeout (never longer than the server's interval).
    ADD COLUMN scrape_timeout_s double precision,
    -- NULL: every collector the exporter runs; otherwise only these.
    ADD COLUMN collectors       text[],
    ADD COLUMN tags             text[] NOT NULL DEFAULT '{}';
