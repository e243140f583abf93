"""Scrape collector: per-collector timing and failure isolation."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from exporter.collectors.scrape import ScrapeCollector


class Working(Collector):
    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily("working_value", "A value.", value=1)


class Broken(Collector):
    def __init__(self) -> None:
        self.fail = True

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily("broken_partial", "Yielded before the failure.", value=1)
        if self.fail:
            raise OSError("disk on fire")


class FakeTimer:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 0.25
        return self.now


def scrape(collector: ScrapeCollector) -> dict[str, dict[str, float]]:
    result: dict[str, dict[str, float]] = {}
    for family in collector.collect():
        for sample in family.samples:
            result.setdefault(sample.name, {})[sample.labels.get("collector", "")] = sample.value
    return result


def test_failing_collector_is_reported_and_dropped_while_the_others_are_served() -> None:
    result = scrape(ScrapeCollector({"good": Working(), "bad": Broken()}))
    assert "working_value" in result
    assert "broken_partial" not in result
    assert result["node_scrape_collector_success"] == {"good": 1.0, "bad": 0.0}


def test_each_collector_is_timed() -> None:
    result = scrape(ScrapeCollector({"good": Working(), "bad": Broken()}, clock=FakeTimer()))
    assert result["node_scrape_collector_duration_seconds"] == {"good": 0.25, "bad": 0.25}


def test_a_persistent_failure_is_logged_once_and_recovery_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    broken = Broken()
    collector = ScrapeCollector({"bad": broken})
    with caplog.at_level(logging.INFO):
        scrape(collector)
        scrape(collector)
        broken.fail = False
        result = scrape(collector)
    assert caplog.text.count("collector bad failed") == 1
    assert "disk on fire" in caplog.text
    assert "collector bad works again" in caplog.text
    assert result["node_scrape_collector_success"] == {"bad": 1.0}
