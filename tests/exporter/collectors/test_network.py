"""Network collector: node_network_* counters per interface."""

from __future__ import annotations

import re

from exporter.collectors.network import NetworkCollector
from exporter.config import DEFAULT_NETWORK_DEVICE_EXCLUDE

COUNTERS = {
    "bytes_sent": 1000.0,
    "bytes_recv": 2000.0,
    "packets_sent": 10.0,
    "packets_recv": 20.0,
    "errin": 1.0,
    "errout": 2.0,
    "dropin": 3.0,
    "dropout": 4.0,
}


def collect(exclude: str = DEFAULT_NETWORK_DEVICE_EXCLUDE) -> dict[str, dict[str, float]]:
    collector = NetworkCollector(
        re.compile(exclude), lambda: {"lo": COUNTERS, "eth0": COUNTERS, "wg0": COUNTERS}
    )
    result: dict[str, dict[str, float]] = {}
    for family in collector.collect():
        assert family.type == "counter"
        for sample in family.samples:
            result.setdefault(sample.name, {})[sample.labels["device"]] = sample.value
    return result


def test_directions_map_to_node_exporter_names() -> None:
    values = collect()
    assert values["node_network_receive_bytes_total"]["eth0"] == 2000
    assert values["node_network_transmit_bytes_total"]["eth0"] == 1000
    assert values["node_network_receive_packets_total"]["eth0"] == 20
    assert values["node_network_transmit_packets_total"]["eth0"] == 10
    assert values["node_network_receive_errs_total"]["eth0"] == 1
    assert values["node_network_transmit_errs_total"]["eth0"] == 2
    assert values["node_network_receive_drop_total"]["eth0"] == 3
    assert values["node_network_transmit_drop_total"]["eth0"] == 4


def test_loopback_is_excluded_by_default() -> None:
    assert set(collect()["node_network_receive_bytes_total"]) == {"eth0", "wg0"}


def test_exclude_pattern_is_configurable() -> None:
    assert set(collect("^wg")["node_network_receive_bytes_total"]) == {"lo", "eth0"}


def test_default_reader_reads_this_host() -> None:
    families = list(NetworkCollector(re.compile("(?!)")).collect())
    devices = {sample.labels["device"] for family in families for sample in family.samples}
    assert "lo" in devices
