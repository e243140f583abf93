"""Sensors collector: node_hwmon_* from a sysfs fixture tree built like a real one."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from exporter.collectors.sensors import HwmonReading, SensorsCollector, chip_label, clean_name, read_hwmon


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n")


@pytest.fixture
def sysfs(tmp_path: Path) -> Path:
    """/sys with a coretemp chip (files in the hwmon dir), an old-style chip (files under device/), a fan
    chip found only by its name file, and a chip with neither."""
    root = tmp_path / "sys"
    devices = root / "devices"
    hwmon = root / "class" / "hwmon"
    hwmon.mkdir(parents=True)

    coretemp = devices / "platform" / "coretemp.0" / "hwmon" / "hwmon1"
    write(coretemp / "name", "coretemp")
    write(coretemp / "temp1_input", "45000")
    write(coretemp / "temp1_max", "84000")
    write(coretemp / "temp1_crit", "100000")
    write(coretemp / "temp1_label", "Package id 0")
    write(coretemp / "temp2_input", "43500")
    write(coretemp / "temp2_alarm", "0")
    os.symlink(devices / "platform" / "coretemp.0", coretemp / "device")
    os.symlink(coretemp, hwmon / "hwmon1")

    old = devices / "pci0000:00" / "0000:00:18.3"
    write(old / "temp1_input", "38250")
    old_hwmon = old / "hwmon" / "hwmon2"
    write(old_hwmon / "name", "k10temp")
    os.symlink(old, old_hwmon / "device")
    os.symlink(old_hwmon, hwmon / "hwmon2")

    fans = devices / "virtual" / "hwmon" / "hwmon3"
    write(fans / "name", "nct6775")
    write(fans / "fan1_input", "1200")
    write(fans / "fan1_min", "300")
    write(fans / "fan2_input", "garbage")
    os.symlink(fans, hwmon / "hwmon3")

    anonymous = devices / "virtual" / "hwmon" / "hwmon4"
    write(anonymous / "temp1_input", "20000")
    os.symlink(anonymous, hwmon / "hwmon4")
    return root


def samples(collector: SensorsCollector) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    result = {}
    for family in collector.collect():
        assert family.type == "gauge"
        for sample in family.samples:
            result[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return result


def test_clean_name_follows_node_exporter() -> None:
    assert clean_name("coretemp.0") == "coretemp_0"
    assert clean_name("0000:00:18.3") == "0000:00:18_3"
    assert clean_name("_ACPI Thermal_") == "acpi_thermal"


def test_chip_label_prefers_the_device_path_then_the_name_then_the_directory(sysfs: Path) -> None:
    hwmon = sysfs / "class" / "hwmon"
    assert chip_label(str(hwmon / "hwmon1")) == "platform_coretemp_0"
    assert chip_label(str(hwmon / "hwmon2")) == "pci0000:00_0000:00:18_3"
    assert chip_label(str(hwmon / "hwmon3")) == "nct6775"
    assert chip_label(str(hwmon / "hwmon4")) == "hwmon4"


def test_temperatures_are_celsius_with_chip_and_sensor_labels(sysfs: Path) -> None:
    values = samples(SensorsCollector(lambda: read_hwmon(str(sysfs))))
    chip = ("chip", "platform_coretemp_0")
    assert values[("node_hwmon_temp_celsius", (chip, ("sensor", "temp1")))] == 45.0
    assert values[("node_hwmon_temp_celsius", (chip, ("sensor", "temp2")))] == 43.5
    assert values[("node_hwmon_temp_max_celsius", (chip, ("sensor", "temp1")))] == 84.0
    assert values[("node_hwmon_temp_crit_celsius", (chip, ("sensor", "temp1")))] == 100.0
    old_chip = ("chip", "pci0000:00_0000:00:18_3")
    assert values[("node_hwmon_temp_celsius", (old_chip, ("sensor", "temp1")))] == 38.25
    assert values[("node_hwmon_temp_celsius", (("chip", "hwmon4"), ("sensor", "temp1")))] == 20.0


def test_fans_are_rpm_and_unreadable_values_are_skipped(sysfs: Path) -> None:
    values = samples(SensorsCollector(lambda: read_hwmon(str(sysfs))))
    chip = ("chip", "nct6775")
    assert values[("node_hwmon_fan_rpm", (chip, ("sensor", "fan1")))] == 1200
    assert values[("node_hwmon_fan_min_rpm", (chip, ("sensor", "fan1")))] == 300
    assert ("node_hwmon_fan_rpm", (chip, ("sensor", "fan2"))) not in values


def test_chip_names_and_sensor_labels_are_info_gauges(sysfs: Path) -> None:
    values = samples(SensorsCollector(lambda: read_hwmon(str(sysfs))))
    assert (
        values[("node_hwmon_chip_names", (("chip", "platform_coretemp_0"), ("chip_name", "coretemp")))] == 1
    )
    label = (("chip", "platform_coretemp_0"), ("label", "Package id 0"), ("sensor", "temp1"))
    assert values[("node_hwmon_sensor_label", label)] == 1


def test_host_without_hwmon_reports_nothing(tmp_path: Path) -> None:
    assert list(SensorsCollector(lambda: read_hwmon(str(tmp_path))).collect()) == []


def test_reading_is_cached_for_the_ttl(sysfs: Path) -> None:
    now = [0.0]
    reads = []

    def reader() -> HwmonReading:
        reads.append(now[0])
        return read_hwmon(str(sysfs))

    collector = SensorsCollector(reader, cache_ttl_s=5.0, clock=lambda: now[0])
    list(collector.collect())
    now[0] = 4.9
    list(collector.collect())
    now[0] = 5.0
    list(collector.collect())
    assert reads == [0.0, 5.0]
