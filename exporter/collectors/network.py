"""Network interfaces: node_exporter's ``node_network_{receive,transmit}_*_total{device}`` counters.

psutil reads /proc/net/dev; the loopback interface is excluded by default.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping

import psutil
from prometheus_client.metrics_core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

NetworkReader = Callable[[], Mapping[str, Mapping[str, float]]]

# (metric name, psutil field, help)
_FIELDS = (
    ("node_network_receive_bytes_total", "bytes_recv", "Bytes received."),
    ("node_network_transmit_bytes_total", "bytes_sent", "Bytes transmitted."),
    ("node_network_receive_packets_total", "packets_recv", "Packets received."),
    ("node_network_transmit_packets_total", "packets_sent", "Packets transmitted."),
    ("node_network_receive_errs_total", "errin", "Receive errors."),
    ("node_network_transmit_errs_total", "errout", "Transmit errors."),
    ("node_network_receive_drop_total", "dropin", "Received packets dropped."),
    ("node_network_transmit_drop_total", "dropout", "Packets dropped before transmission."),
)


def read_network_counters() -> dict[str, dict[str, float]]:
    """Counters per interface, raw as the kernel gives them (no wrap-around correction)."""
    counters = psutil.net_io_counters(pernic=True, nowrap=False)
    return {device: values._asdict() for device, values in counters.items()}


class NetworkCollector(Collector):
    """Bytes, packets, errors and drops per interface and direction."""

    def __init__(
        self, device_exclude: re.Pattern[str], reader: NetworkReader = read_network_counters
    ) -> None:
        self._device_exclude = device_exclude
        self._reader = reader

    def collect(self) -> Iterator[Metric]:
        """Read the counters now."""
        families = [
            (CounterMetricFamily(name, text, labels=["device"]), field) for name, field, text in _FIELDS
        ]
        for device, values in sorted(self._reader().items()):
            if self._device_exclude.search(device):
                continue
            for family, field in families:
                value = values.get(field)
                if value is not None:
                    family.add_metric([device], value)
        for family, _field in families:
            if family.samples:
                yield family
