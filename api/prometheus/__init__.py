"""The Prometheus-compatible HTTP API: PromQL queries, series metadata, targets, rules, alerts, federation.

Same paths, parameters and JSON envelope as Prometheus's ``/api/v1``, so Grafana's Prometheus data source,
promtool and other clients work against the collector's history. Modules: :mod:`~api.prometheus.query`,
:mod:`~api.prometheus.metadata`, :mod:`~api.prometheus.status`, :mod:`~api.prometheus.targets`,
:mod:`~api.prometheus.rules`, :mod:`~api.prometheus.federate`; :mod:`~api.prometheus.params` and
:mod:`~api.prometheus.render` read requests and write answers as Prometheus does;
:mod:`~api.prometheus.setup` registers everything. This package's ``__init__`` imports nothing, so the
auth middlewares can import :mod:`~api.prometheus.paths` without a cycle.
"""
