"""Runs the host collectors of one scrape, isolating failures and timing each, as node_exporter does.

One failing collector must not turn the whole scrape into an HTTP 500: its families are dropped, it is
reported with ``node_scrape_collector_success{collector} 0`` and the others are still served. The metric
names are node_exporter's, so dashboard panels about collector durations work unchanged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Iterator, Mapping

from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)


class ScrapeCollector(Collector):
    """Collects each named collector in turn and reports its duration and success."""

    def __init__(
        self, collectors: Mapping[str, Collector], clock: Callable[[], float] = time.perf_counter
    ) -> None:
        self._collectors = dict(collectors)
        self._clock = clock
        self._failing: set[str] = set()

    @property
    def names(self) -> frozenset[str]:
        """The names of the collectors it runs."""
        return frozenset(self._collectors)

    def collect(self) -> Iterator[Metric]:
        """Yield every collector's families, then the per-collector duration and success gauges."""
        return self.collect_only(None)

    def collect_only(self, names: Collection[str] | None) -> Iterator[Metric]:
        """Like :meth:`collect`, for the collectors in ``names`` only (None: all of them)."""
        duration = GaugeMetricFamily(
            "node_scrape_collector_duration_seconds",
            "Time a collector took during this scrape.",
            labels=["collector"],
        )
        success = GaugeMetricFamily(
            "node_scrape_collector_success",
            "1 if a collector succeeded during this scrape, 0 if it failed.",
            labels=["collector"],
        )
        for name, collector in self._collectors.items():
            if names is not None and name not in names:
                continue
            start = self._clock()
            try:
                families = list(collector.collect())
            except Exception:
                # Log a failure once with its traceback, not on every scrape while it persists.
                if name not in self._failing:
                    log.warning("collector %s failed; its metrics are left out", name, exc_info=True)
                    self._failing.add(name)
                families = []
                ok = 0.0
            else:
                if name in self._failing:
                    log.info("collector %s works again", name)
                    self._failing.discard(name)
                ok = 1.0
            duration.add_metric([name], self._clock() - start)
            success.add_metric([name], ok)
            yield from families
        yield duration
        yield success
