"""The collector's own metrics, served on its ``/metrics`` (names follow Prometheus conventions)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_DURATION_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_LAG_BUCKETS_S = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)


class ScrapeMetrics:
    """Counters and histograms of the scrape engine, in a registry of their own."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        r = self.registry
        self.scrapes = Counter(
            "openmanager_scrapes_total", "Scrapes by job and outcome.", ["job", "outcome"], registry=r
        )
        self.failures = Counter(
            "openmanager_scrape_failures_total",
            "Failed scrapes by job and reason.",
            ["job", "reason"],
            registry=r,
        )
        self.duration = Histogram(
            "openmanager_scrape_duration_seconds",
            "Time from the start of a scrape to its result.",
            ["job"],
            buckets=_DURATION_BUCKETS_S,
            registry=r,
        )
        self.start_lag = Histogram(
            "openmanager_scrape_start_lag_seconds",
            "How late a scrape started after its planned time.",
            buckets=_LAG_BUCKETS_S,
            registry=r,
        )
        self.samples = Counter(
            "openmanager_samples_ingested_total",
            "Samples kept after relabeling, by job.",
            ["job"],
            registry=r,
        )
        self.skipped = Counter(
            "openmanager_scrapes_skipped_total",
            "Scrapes not started because the previous one of the target was still running.",
            ["job"],
            registry=r,
        )
        self.queue_depth = Gauge(
            "openmanager_scrape_queue_depth", "Scrape results waiting for the storage writers.", registry=r
        )
        self.results_dropped = Counter(
            "openmanager_scrape_results_dropped_total",
            "Scrape results dropped because the storage queue was full.",
            registry=r,
        )
        self.targets = Gauge("openmanager_targets", "Targets being scraped, by job.", ["job"], registry=r)
        self._target_counts: dict[tuple[str, str], int] = {}

    def set_targets(self, pool: str, job: str, count: int) -> None:
        """Set how many targets ``pool`` scrapes for ``job``; the gauge shows the sum over the pools.

        The target file and the servers registered through the API are scraped in separate pools that may
        use the same job name.
        """
        self._target_counts[(pool, job)] = count
        self.targets.labels(job).set(sum(n for (_, name), n in self._target_counts.items() if name == job))
