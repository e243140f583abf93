"""Server summary: our exporter's gauges first, else node_exporter metrics with rates between scrapes."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collector.result import Labels, ScrapeResult, SeriesKey, TargetInfo, server_id_for
from collector.summary import (
    CounterSnapshot,
    ServerSummary,
    Summarizer,
    SummaryState,
    Thresholds,
    index_series,
    status_of,
    summarize,
)


def make_target(instance: str = "web-1:9100", job: str = "node", **labels: str) -> TargetInfo:
    """A target as the scrape engine describes it; its identity is a hash of job and labels."""
    all_labels: Labels = tuple(sorted({"instance": instance, "job": job, **labels}.items()))
    return TargetInfo(
        identity=hashlib.blake2b(repr((job, all_labels)).encode(), digest_size=8).hexdigest(),
        server_id=server_id_for(job, instance),
        job=job,
        instance=instance,
        labels=all_labels,
        url=f"http://{instance}/metrics",
        interval_s=15.0,
        timeout_s=10.0,
    )


TARGET = make_target()
GiB = 1024.0**3

CpuTimes = Mapping[str, Mapping[str, float]]
"""Seconds per mode, per CPU number."""


def series_key(name: str, target: TargetInfo = TARGET, **labels: str) -> SeriesKey:
    """A series of ``target``: its labels plus the target's."""
    merged: Labels = tuple(sorted({**dict(target.labels), **labels}.items()))
    return (name, merged)


def _cpu(busy_s: float, idle_s: float, iowait_s: float = 0.0) -> dict[str, float]:
    return {"user": busy_s * 0.7, "system": busy_s * 0.3, "idle": idle_s, "iowait": iowait_s, "steal": 0.0}


def node_samples(
    *,
    target: TargetInfo = TARGET,
    cpus: CpuTimes | None = None,
    net: Mapping[str, tuple[float, float]] | None = None,
    filesystems: Sequence[tuple[str, float, float, float]] = (("/", 100 * GiB, 30 * GiB, 35 * GiB),),
    mem_total: float = 16 * GiB,
    mem_available: float = 4 * GiB,
    load1: float = 0.75,
    now_s: float = 1_700_000_000.0,
    boot_s: float = 1_699_000_000.0,
) -> list[tuple[SeriesKey, float]]:
    """What node_exporter shows: CPU seconds, meminfo, filesystems (mount, size, avail, free), network."""

    def _key(name: str, **labels: str) -> SeriesKey:
        return series_key(name, target, **labels)

    cpus = cpus if cpus is not None else {"0": _cpu(100, 900), "1": _cpu(50, 950)}
    net = net if net is not None else {"eth0": (1e9, 2e8), "lo": (5e9, 5e9)}
    samples: list[tuple[SeriesKey, float]] = [(_key("node_boot_time_seconds"), boot_s)]
    for cpu, modes in cpus.items():
        samples += [(_key("node_cpu_seconds_total", cpu=cpu, mode=mode), s) for mode, s in modes.items()]
    for mount, size, avail, free in filesystems:
        labels = {"device": f"/dev/{mount.strip('/') or 'root'}", "fstype": "ext4", "mountpoint": mount}
        samples += [
            (_key("node_filesystem_avail_bytes", **labels), avail),
            (_key("node_filesystem_free_bytes", **labels), free),
            (_key("node_filesystem_size_bytes", **labels), size),
        ]
    samples += [
        (_key("node_load1"), load1),
        (_key("node_load5"), load1 / 2),
        (_key("node_memory_MemAvailable_bytes"), mem_available),
        (_key("node_memory_MemFree_bytes"), mem_available / 2),
        (_key("node_memory_MemTotal_bytes"), mem_total),
    ]
    for device, (rx, tx) in net.items():
        samples += [
            (_key("node_network_receive_bytes_total", device=device), rx),
            (_key("node_network_receive_packets_total", device=device), rx / 1000),
            (_key("node_network_transmit_bytes_total", device=device), tx),
        ]
    samples.append((_key("node_time_seconds"), now_s))
    return samples


def make_result(
    samples: Sequence[tuple[SeriesKey, float]], time_s: float, target: TargetInfo = TARGET
) -> ScrapeResult:
    """A successful scrape of ``samples``; the set id is a hash of the series, as the engine derives it."""
    series = tuple(key for key, _ in samples)
    return ScrapeResult(
        target=target,
        timestamp_ms=round(time_s * 1000),
        duration_s=0.05,
        error=None,
        error_reason=None,
        series=series,
        series_set_id=hashlib.blake2b(repr(series).encode(), digest_size=8).hexdigest(),
        values=[value for _, value in samples],
    )


def exporter_gauges(
    target: TargetInfo = TARGET, *, cpu: float = 42.5, memory: float = 63.0, disk: float = 71.25
) -> list[tuple[SeriesKey, float]]:
    """Our exporter's ready-made percentages (its node_* series come from :func:`node_samples`)."""
    return [
        (series_key("openmanager_cpu_usage_percent", target), cpu),
        (series_key("openmanager_disk_usage_percent", target, mountpoint="/boot"), 12.0),
        (series_key("openmanager_disk_usage_percent", target, mountpoint="/"), disk),
        (series_key("openmanager_memory_usage_percent", target), memory),
    ]


def failed_result(
    time_s: float, target: TargetInfo = TARGET, error: str = "connection refused"
) -> ScrapeResult:
    """A failed scrape: only the synthetic ``up`` = 0, as the scrape engine reports it."""
    return ScrapeResult(
        target=target,
        timestamp_ms=round(time_s * 1000),
        duration_s=0.002,
        error=error,
        error_reason="connect",
        series=(series_key("up", target),),
        series_set_id=f"up-{target.identity}",
        values=[0.0],
    )


def test_exporter_gauges_win_and_need_no_previous_scrape() -> None:
    summary = SummaryState().update(make_result(exporter_gauges() + node_samples(), 1000.0))
    assert (summary.cpu, summary.memory, summary.disk) == (42.5, 63.0, 71.25)
    assert summary.network_rx is None and summary.network_tx is None


def test_first_node_exporter_scrape_has_gauges_but_no_rates() -> None:
    summary = SummaryState().update(make_result(node_samples(), 1000.0))
    assert summary == ServerSummary(
        cpu=None,
        memory=75.0,
        # df's Use%: used = size - free = 65 GiB, of used + avail = 95 GiB
        disk=round(65 / 95 * 100, 3),
        network_rx=None,
        network_tx=None,
        load1=0.75,
        uptime_s=1_000_000.0,
    )


def test_cpu_and_network_rates_come_from_counter_deltas() -> None:
    state = SummaryState()
    state.update(make_result(node_samples(), 1000.0))
    later = node_samples(
        # CPU 0: 3 s busy of 15; CPU 1: 3 s busy, 3 s iowait (not busy), 9 s idle: 6 s busy of 30 s
        cpus={"0": _cpu(103, 912), "1": _cpu(53, 959, 3)},
        # eth0 received 15,000 and sent 3,000 bytes in 15 s; loopback traffic is left out
        net={"eth0": (1e9 + 15_000, 2e8 + 3_000), "lo": (6e9, 6e9)},
    )
    summary = state.update(make_result(later, 1015.0))
    assert summary.cpu == 20.0
    assert summary.network_rx == 1000.0
    assert summary.network_tx == 200.0


def test_counter_reset_counts_the_new_value_as_the_increase() -> None:
    state = SummaryState()
    state.update(make_result(node_samples(net={"eth0": (1e9, 2e8), "eth1": (5e5, 5e5)}), 1000.0))
    # eth0 was re-created and has counted 3,000 bytes since; eth1 went on normally
    summary = state.update(
        make_result(node_samples(net={"eth0": (3_000, 0), "eth1": (5e5 + 1_500, 5e5)}), 1015)
    )
    assert summary.network_rx == (3_000 + 1_500) / 15
    assert summary.network_tx == 0.0


def test_host_reboot_gives_the_busy_share_since_boot_not_a_spike() -> None:
    state = SummaryState()
    state.update(make_result(node_samples(cpus={"0": _cpu(5000, 90000)}), 1000.0))
    summary = state.update(make_result(node_samples(cpus={"0": _cpu(2, 8)}), 1015.0))
    assert summary.cpu == 20.0


def test_without_root_the_largest_filesystem_counts() -> None:
    filesystems = (("/data", 500 * GiB, 100 * GiB, 100 * GiB), ("/boot", 1 * GiB, 0.5 * GiB, 0.5 * GiB))
    summary = SummaryState().update(make_result(node_samples(filesystems=filesystems), 1000.0))
    assert summary.disk == 80.0


def test_disk_without_free_bytes_is_one_minus_avail_over_size() -> None:
    samples = [s for s in node_samples() if s[0][0] != "node_filesystem_free_bytes"]
    assert SummaryState().update(make_result(samples, 1000.0)).disk == 70.0


def test_new_interface_has_no_rate_yet_and_is_left_out_of_the_sum() -> None:
    state = SummaryState()
    state.update(make_result(node_samples(net={"eth0": (1e9, 2e8)}), 1000.0))
    later = make_result(node_samples(net={"eth0": (1e9 + 1_500, 2e8), "wg0": (9e9, 9e9)}), 1015.0)
    summary = state.update(later)
    assert summary.network_rx == 100.0
    assert summary.network_tx == 0.0


def test_index_is_built_once_per_series_set() -> None:
    state = SummaryState()
    first = make_result(node_samples(), 1000.0)
    index = state.index_for(first)
    assert state.index_for(make_result(node_samples(load1=3.0), 1015.0)) is index
    changed = make_result(node_samples(net={"eth0": (1.0, 1.0)}), 1030.0)
    assert state.index_for(changed) is not index


def test_index_points_at_the_needed_series_only() -> None:
    result = make_result(node_samples(), 1000.0)
    index = index_series(result.series, result.values)
    assert result.series[index.load1 or 0][0] == "node_load1"
    names = {key[0] for key in index.counter_keys}
    assert names == {
        "node_cpu_seconds_total",
        "node_network_receive_bytes_total",
        "node_network_transmit_bytes_total",
    }
    assert all(dict(key[1]).get("device") != "lo" for key in index.counter_keys)


def test_duplicate_scrape_time_gives_no_rates_and_keeps_the_baseline() -> None:
    result = make_result(node_samples(), 1000.0)
    index = index_series(result.series, result.values)
    _, baseline = summarize(result.values, 1000.0, index, None)
    summary, kept = summarize(result.values, 1000.0, index, baseline)
    assert summary.network_rx is None and kept is baseline


def test_values_json_cannot_carry_are_dropped() -> None:
    samples = [(key, math.nan if key[0] == "node_load1" else value) for key, value in node_samples()]
    assert SummaryState().update(make_result(samples, 1000.0)).load1 is None


@pytest.mark.parametrize(
    ("summary", "expected"),
    [
        (ServerSummary(), "up"),
        (ServerSummary(cpu=89.9, memory=89.9, disk=84.9), "up"),
        (ServerSummary(cpu=90.0), "warning"),
        (ServerSummary(memory=95.0), "warning"),
        (ServerSummary(disk=85.0), "warning"),
        (ServerSummary(load1=500.0, network_rx=1e12), "up"),
    ],
)
def test_status_is_warning_at_a_threshold(summary: ServerSummary, expected: str) -> None:
    assert status_of(summary, Thresholds()) == expected


def test_thresholds_are_parameters() -> None:
    assert status_of(ServerSummary(cpu=50.0), Thresholds(cpu_percent=50.0)) == "warning"


def test_summary_dict_roundtrip_leaves_unknown_fields_out() -> None:
    summary = ServerSummary(cpu=12.5, network_tx=0.0, uptime_s=3600.0)
    assert summary.to_dict() == {"cpu": 12.5, "network_tx": 0.0, "uptime_s": 3600.0}
    assert ServerSummary.from_dict(summary.to_dict()) == summary
    assert ServerSummary.from_dict({"cpu": "high", "memory": True}) == ServerSummary()


_counter = st.floats(min_value=0, max_value=1e15, allow_nan=False)


@given(
    before=st.lists(_counter, min_size=10, max_size=10), after=st.lists(_counter, min_size=10, max_size=10)
)
def test_rates_are_never_negative_and_cpu_stays_a_percentage(before: list[float], after: list[float]) -> None:
    def samples(v: list[float]) -> list[tuple[SeriesKey, float]]:
        cpus = {
            "0": {"user": v[0], "system": v[1], "idle": v[2], "iowait": v[3]},
            "1": {"user": v[4], "idle": v[5]},
        }
        return node_samples(cpus=cpus, net={"eth0": (v[6], v[7]), "eth1": (v[8], v[9])})

    state = SummaryState()
    state.update(make_result(samples(before), 1000.0))
    summary = state.update(make_result(samples(after), 1015.0))
    assert summary.network_rx is not None and summary.network_rx >= 0
    assert summary.network_tx is not None and summary.network_tx >= 0
    assert summary.cpu is None or 0.0 <= summary.cpu <= 100.0


def test_snapshot_holds_only_the_counters() -> None:
    result = make_result(node_samples(), 1000.0)
    index = index_series(result.series, result.values)
    _, snapshot = summarize(result.values, 1000.0, index, None)
    assert isinstance(snapshot, CounterSnapshot)
    # 2 CPUs x 5 modes, and receive + transmit of eth0 (lo excluded)
    assert len(snapshot.values) == 12


class _Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now_s = 0.0

    def __call__(self) -> float:
        return self.now_s


def _net(time_s: float, rx: float, target: TargetInfo = TARGET) -> ScrapeResult:
    """A node_exporter scrape whose eth0 has received ``rx`` bytes."""
    return make_result(node_samples(target=target, net={"eth0": (rx, 0.0)}), time_s, target)


def test_summarizer_keys_summaries_by_target_identity() -> None:
    other = make_target("db-1:9100")
    summarizer = Summarizer()
    summarizer.summarize([_net(1000.0, 0.0), _net(1000.0, 0.0, other)])
    summaries = summarizer.summarize([_net(1015.0, 1_500.0), _net(1015.0, 3_000.0, other)])
    assert summaries.keys() == {TARGET.identity, other.identity}
    assert summaries[TARGET.identity].network_rx == 100.0
    assert summaries[other.identity].network_rx == 200.0


def test_summarizer_gives_failed_results_no_summary() -> None:
    other = make_target("db-1:9100")
    summaries = Summarizer().summarize([_net(1000.0, 0.0), failed_result(1000.0, other)])
    assert summaries.keys() == {TARGET.identity}


def test_summarizer_keeps_the_baseline_across_a_failed_scrape() -> None:
    summarizer = Summarizer()
    summarizer.summarize([_net(1000.0, 0.0)])
    assert summarizer.summarize([failed_result(1015.0)]) == {}
    assert summarizer.summarize([_net(1030.0, 3_000.0)])[TARGET.identity].network_rx == 100.0


def test_several_results_of_one_target_are_summarized_in_order_and_the_last_wins() -> None:
    summarizer = Summarizer()
    summaries = summarizer.summarize([_net(1000.0, 0.0), _net(1015.0, 1_500.0), failed_result(1030.0)])
    assert summaries[TARGET.identity].network_rx == 100.0
    assert summarizer.summarize([_net(1045.0, 3_000.0)])[TARGET.identity].network_rx == 50.0


def test_forgotten_target_starts_over_without_rates() -> None:
    other = make_target("db-1:9100")
    summarizer = Summarizer()
    summarizer.summarize([_net(1000.0, 0.0), _net(1000.0, 0.0, other)])
    summarizer.forget([TARGET.identity, "never-seen"])
    summaries = summarizer.summarize([_net(1015.0, 1_500.0), _net(1015.0, 1_500.0, other)])
    assert summaries[TARGET.identity].network_rx is None
    assert summaries[other.identity].network_rx == 100.0


def test_state_of_a_target_not_seen_for_keep_s_is_dropped() -> None:
    other = make_target("db-1:9100")
    clock = _Clock()
    summarizer = Summarizer(keep_s=3600.0, clock=clock)
    summarizer.summarize([_net(1000.0, 0.0), _net(1000.0, 0.0, other)])
    clock.now_s = 3600.0
    summarizer.summarize([_net(4600.0, 0.0, other)])
    assert summarizer.summarize([_net(4615.0, 1_500.0)])[TARGET.identity].network_rx is not None
    clock.now_s = 7300.0
    summarizer.summarize([_net(8300.0, 0.0, other)])
    assert summarizer.summarize([_net(8315.0, 1_500.0)])[TARGET.identity].network_rx is None


def test_summarizer_prunes_at_most_once_a_minute() -> None:
    other = make_target("db-1:9100")
    clock = _Clock()
    summarizer = Summarizer(keep_s=3600.0, clock=clock)
    summarizer.summarize([_net(1000.0, 0.0), _net(1000.0, 0.0, other)])
    clock.now_s = 3590.0
    summarizer.summarize([_net(4590.0, 0.0, other)])
    # Past keep_s, but the last pruning was 30 s ago: the state is still there.
    clock.now_s = 3620.0
    summarizer.summarize([_net(4620.0, 0.0, other)])
    assert summarizer.summarize([_net(4635.0, 7_270.0)])[TARGET.identity].network_rx == 2.0


def test_summarizer_rejects_a_non_positive_keep() -> None:
    with pytest.raises(ValueError, match="keep_s"):
        Summarizer(keep_s=0)
