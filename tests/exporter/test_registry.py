"""Registry assembly: the enabled collectors, the exporter's own metrics, nothing in the global registry."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.registry import CollectorRegistry

from exporter import __version__
from exporter.config import COLLECTOR_NAMES, CollectorOptions
from exporter.registry import HostCollectors, build_registry


@pytest.fixture
def make_host() -> Iterator[Callable[[CollectorOptions], HostCollectors]]:
    """Builds HostCollectors and closes them (their worker threads) after the test."""
    created: list[HostCollectors] = []

    def make(options: CollectorOptions) -> HostCollectors:
        created.append(HostCollectors(options))
        return created[-1]

    yield make
    for host in created:
        host.close()


def text(registry: CollectorRegistry) -> str:
    return generate_latest(registry).decode()


def test_systemd_runs_only_when_units_are_listed(
    make_host: Callable[[CollectorOptions], HostCollectors],
) -> None:
    assert "systemd" not in make_host(CollectorOptions()).collectors
    assert "systemd" in make_host(CollectorOptions(systemd_units=("nginx.service",))).collectors


def test_collectors_keep_the_documented_order(
    make_host: Callable[[CollectorOptions], HostCollectors],
) -> None:
    host = make_host(CollectorOptions(systemd_units=("nginx.service",)))
    assert tuple(host.collectors) == COLLECTOR_NAMES


def test_disabled_collectors_are_not_built(make_host: Callable[[CollectorOptions], HostCollectors]) -> None:
    host = make_host(CollectorOptions(enabled=frozenset({"cpu", "summary"})))
    assert set(host.collectors) == {"cpu", "summary"}


def test_build_info_and_own_process_metrics_are_served(
    make_host: Callable[[CollectorOptions], HostCollectors],
) -> None:
    output = text(build_registry(make_host(CollectorOptions(enabled=frozenset()))))
    assert re.search(
        rf'^openmanager_exporter_build_info\{{.*version="{re.escape(__version__)}".*\}} 1\.0$', output, re.M
    )
    assert "process_resident_memory_bytes " in output
    assert "python_info{" in output


def test_nothing_is_registered_in_the_global_registry(
    make_host: Callable[[CollectorOptions], HostCollectors],
) -> None:
    before = text(REGISTRY)
    build_registry(make_host(CollectorOptions()))
    assert "node_cpu_seconds_total" not in text(REGISTRY)
    assert text(REGISTRY).count("\n# HELP") == before.count("\n# HELP")


def test_every_family_name_is_served_once(make_host: Callable[[CollectorOptions], HostCollectors]) -> None:
    output = text(build_registry(make_host(CollectorOptions())))
    names = re.findall(r"^# TYPE (\S+) ", output, re.M)
    assert len(names) == len(set(names))
