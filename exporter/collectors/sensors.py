"""Hardware sensors: node_exporter's ``node_hwmon_*`` metrics, read from sysfs hwmon.

sysfs is read directly rather than through psutil because node_exporter's labels need what psutil drops:
the sensor's file name (``temp1``) and the chip's device path. The ``chip`` label is built as node_exporter
builds it, so dashboards joining ``node_hwmon_temp_celsius`` with ``node_hwmon_chip_names`` work:

1. from the resolved ``device`` link: ``<parent dir>_<device dir>`` (e.g. ``platform_coretemp_0``),
2. else from the ``name`` file, 3. else from the hwmon directory name;

each lower-cased with characters outside ``[a-z0-9:_]`` replaced by ``_`` and outer ``_`` trimmed.
Sensor files are looked for in the hwmon directory and, for older drivers, in its ``device`` directory.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from exporter.collectors.cache import TTLCache

_SENSOR_FILE = re.compile(r"^(temp|fan)(\d+)_(input|max|crit|min|label)$")
_INVALID_CHARS = re.compile(r"[^a-z0-9:_]")

# (kind, property) → (metric name, help, scale from the sysfs unit)
_METRICS = {
    ("temp", "input"): ("node_hwmon_temp_celsius", "Temperature in degrees Celsius.", 0.001),
    ("temp", "max"): ("node_hwmon_temp_max_celsius", "Temperature high limit in degrees Celsius.", 0.001),
    ("temp", "crit"): ("node_hwmon_temp_crit_celsius", "Critical temperature in degrees Celsius.", 0.001),
    ("fan", "input"): ("node_hwmon_fan_rpm", "Fan speed in revolutions per minute.", 1.0),
    ("fan", "min"): ("node_hwmon_fan_min_rpm", "Fan speed low limit in revolutions per minute.", 1.0),
}


@dataclass
class HwmonReading:
    """Chip names, sensor values keyed by (metric, chip, sensor), and sensor labels."""

    chip_names: dict[str, str] = field(default_factory=dict)
    values: dict[tuple[str, str, str], float] = field(default_factory=dict)
    labels: dict[tuple[str, str], str] = field(default_factory=dict)


def clean_name(text: str) -> str:
    """Lower-case, replace characters outside [a-z0-9:_] by "_", trim outer "_"."""
    return _INVALID_CHARS.sub("_", text.lower()).strip("_")


def _read_text(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as file:
            return file.read().strip()
    except OSError:
        # Some drivers answer EIO or ENODATA for a sensor that is absent or asleep: skip it.
        return None


def chip_label(hwmon_dir: str) -> str:
    """The ``chip`` label for one /sys/class/hwmon/hwmonN directory (see the module docstring)."""
    device = os.path.join(hwmon_dir, "device")
    if os.path.exists(device):
        real = os.path.realpath(device)
        device_name = clean_name(os.path.basename(real))
        device_type = clean_name(os.path.basename(os.path.dirname(real)))
        if device_type and device_name:
            return f"{device_type}_{device_name}"
        if device_name:
            return device_name
    name = clean_name(_read_text(os.path.join(hwmon_dir, "name")) or "")
    return name or clean_name(os.path.basename(os.path.realpath(hwmon_dir)))


def read_hwmon(sysfs: str = "/sys") -> HwmonReading:
    """Read temperatures and fans of every hwmon chip; empty when the host has none."""
    reading = HwmonReading()
    root = os.path.join(sysfs, "class", "hwmon")
    try:
        entries = sorted(os.listdir(root))
    except OSError:
        return reading
    for entry in entries:
        hwmon_dir = os.path.join(root, entry)
        chip = chip_label(hwmon_dir)
        chip_name = _read_text(os.path.join(hwmon_dir, "name"))
        if chip_name:
            reading.chip_names[chip] = chip_name
        for directory in (hwmon_dir, os.path.join(hwmon_dir, "device")):
            try:
                files = sorted(os.listdir(directory))
            except OSError:
                continue
            for file_name in files:
                _collect_file(reading, chip, directory, file_name)
    return reading


def _collect_file(reading: HwmonReading, chip: str, directory: str, file_name: str) -> None:
    match = _SENSOR_FILE.match(file_name)
    if match is None:
        return
    kind, index, prop = match.groups()
    text = _read_text(os.path.join(directory, file_name))
    if not text:
        return
    sensor = f"{kind}{index}"
    if prop == "label":
        reading.labels[(chip, sensor)] = text
        return
    metric = _METRICS.get((kind, prop))
    if metric is None:
        return
    try:
        reading.values[(metric[0], chip, sensor)] = float(text) * metric[2]
    except ValueError:
        return


class SensorsCollector(Collector):
    """Temperatures, fan speeds, chip names and sensor labels from hwmon."""

    def __init__(
        self,
        reader: Callable[[], HwmonReading] = read_hwmon,
        cache_ttl_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._reading = TTLCache(reader, cache_ttl_s, clock)

    def collect(self) -> Iterator[Metric]:
        """Report the sensors, read at most once per cache TTL (some drivers answer slowly)."""
        reading = self._reading.get()
        families = {
            name: GaugeMetricFamily(name, text, labels=["chip", "sensor"])
            for name, text, _scale in _METRICS.values()
        }
        for (metric, chip, sensor), value in sorted(reading.values.items()):
            families[metric].add_metric([chip, sensor], value)
        for family in families.values():
            if family.samples:
                yield family
        if reading.chip_names:
            names = GaugeMetricFamily(
                "node_hwmon_chip_names",
                "Always 1; maps the chip label to the chip's name.",
                labels=["chip", "chip_name"],
            )
            for chip, chip_name in sorted(reading.chip_names.items()):
                names.add_metric([chip, chip_name], 1)
            yield names
        if reading.labels:
            labels = GaugeMetricFamily(
                "node_hwmon_sensor_label",
                "Always 1; the label the driver gives a sensor.",
                labels=["chip", "sensor", "label"],
            )
            for (chip, sensor), label in sorted(reading.labels.items()):
                labels.add_metric([chip, sensor, label], 1)
            yield labels
