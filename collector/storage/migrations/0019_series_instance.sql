-- Dashboards select a metric of one instance (Grafana's $instance): find those series by both at once.
-- Without it, a metric that every server has (node_cpu_seconds_total: 32 series a server) is found by name
-- and each of its series' labels tested, thousands of rows for one server's few.
CREATE INDEX series_metric_instance ON series (metric, (labels ->> 'instance'));
