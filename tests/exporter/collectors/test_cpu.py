"""CPU collector: node_cpu_seconds_total per CPU and mode, guest time apart."""

from __future__ import annotations

from exporter.collectors.cpu import CpuCollector


def fixture_times() -> list[dict[str, float]]:
    base = {
        "user": 10.0,
        "nice": 1.0,
        "system": 5.0,
        "idle": 100.0,
        "iowait": 2.0,
        "irq": 0.5,
        "softirq": 0.25,
    }
    return [{**base, "steal": 0.1, "guest": 3.0, "guest_nice": 0.0}, {**base, "user": 20.0}]


def test_every_cpu_and_mode_is_a_counter_sample() -> None:
    families = {family.name: family for family in CpuCollector(fixture_times).collect()}
    seconds = families["node_cpu_seconds"]
    assert seconds.type == "counter"
    samples = {(s.labels["cpu"], s.labels["mode"]): s.value for s in seconds.samples}
    assert samples[("0", "user")] == 10.0
    assert samples[("1", "user")] == 20.0
    assert samples[("0", "steal")] == 0.1
    assert ("1", "steal") not in samples  # a mode the platform lacks is left out, not reported as 0
    assert {s.name for s in seconds.samples} == {"node_cpu_seconds_total"}


def test_guest_time_is_reported_apart_under_user_and_nice() -> None:
    families = {family.name: family for family in CpuCollector(fixture_times).collect()}
    guest = {(s.labels["cpu"], s.labels["mode"]): s.value for s in families["node_cpu_guest_seconds"].samples}
    assert guest == {("0", "user"): 3.0, ("0", "nice"): 0.0}


def test_no_guest_family_when_the_platform_has_no_guest_time() -> None:
    names = {family.name for family in CpuCollector(lambda: [{"user": 1.0, "idle": 2.0}]).collect()}
    assert names == {"node_cpu_seconds"}


def test_default_reader_reads_this_host() -> None:
    (seconds, *_rest) = CpuCollector().collect()
    modes = {s.labels["mode"] for s in seconds.samples if s.labels["cpu"] == "0"}
    assert {"user", "system", "idle"} <= modes
