"""Samples pushed to the collector rather than scraped: Prometheus remote write and OpenMetrics backfill."""
