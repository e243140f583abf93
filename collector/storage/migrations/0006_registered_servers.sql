-- Servers registered through the API (POST /api/servers) beside those the collector discovers from its
-- target file: where a row came from, and what a registered one needs to be scraped. A row's id stays
-- server_id_for(job, address), so the collector's writers and the API agree on it.

ALTER TABLE servers
    ADD COLUMN source            text NOT NULL DEFAULT 'discovered' CHECK (source IN ('discovered', 'api')),
    ADD COLUMN scheme            text NOT NULL DEFAULT 'http',
    ADD COLUMN metrics_path      text NOT NULL DEFAULT '/metrics',
    -- NULL: the collector's global scrape interval.
    ADD COLUMN scrape_interval_s double precision,
    ADD COLUMN enabled           boolean NOT NULL DEFAULT true;

-- The collector reads the registered, enabled rows on every targets-changed event.
CREATE INDEX servers_registered ON servers (job, address) WHERE source = 'api' AND enabled;
