"""System collector: boot time, clock, load, context switches, interrupts, process counts, uname."""

from __future__ import annotations

import os
from pathlib import Path

import psutil

from exporter.collectors.system import (
    SystemCollector,
    Uname,
    make_kernel_stats_reader,
    make_uname_reader,
    parse_proc_stat,
)
from tests.exporter.conftest import FIXTURES

PROCFS = str(FIXTURES / "proc")
UNAME = Uname("Linux", "6.1.0", "#1 SMP", "x86_64", "web-1", "(none)")


def collect(collector: SystemCollector) -> dict[str, tuple[str, dict[str, str], float]]:
    return {
        sample.name: (family.type, sample.labels, sample.value)
        for family in collector.collect()
        for sample in family.samples
    }


def test_proc_stat_fixture_gives_every_counter() -> None:
    stats = parse_proc_stat((FIXTURES / "proc" / "stat").read_text())
    assert stats.boot_time_s == 1700000000
    assert stats.context_switches == 845031
    assert stats.interrupts == 319755
    assert stats.forks == 10954
    assert (stats.procs_running, stats.procs_blocked) == (3, 1)


def test_families_have_node_exporter_names_and_types() -> None:
    collector = SystemCollector(
        make_kernel_stats_reader(PROCFS), lambda: UNAME, lambda: (0.5, 0.25, 0.125), lambda: 42.0
    )
    samples = collect(collector)
    assert samples["node_boot_time_seconds"] == ("gauge", {}, 1700000000)
    assert samples["node_time_seconds"] == ("gauge", {}, 42.0)
    assert samples["node_context_switches_total"] == ("counter", {}, 845031)
    assert samples["node_intr_total"] == ("counter", {}, 319755)
    assert samples["node_forks_total"] == ("counter", {}, 10954)
    assert samples["node_procs_running"] == ("gauge", {}, 3)
    assert samples["node_procs_blocked"] == ("gauge", {}, 1)
    assert samples["node_load1"] == ("gauge", {}, 0.5)
    assert samples["node_load5"] == ("gauge", {}, 0.25)
    assert samples["node_load15"] == ("gauge", {}, 0.125)


def test_uname_info_carries_the_six_uname_labels() -> None:
    collector = SystemCollector(make_kernel_stats_reader(PROCFS), lambda: UNAME)
    _, labels, value = collect(collector)["node_uname_info"]
    assert labels == {
        "sysname": "Linux",
        "release": "6.1.0",
        "version": "#1 SMP",
        "machine": "x86_64",
        "nodename": "web-1",
        "domainname": "(none)",
    }
    assert value == 1


def test_uname_reader_takes_the_domain_name_from_procfs() -> None:
    name = make_uname_reader(PROCFS)()
    assert name.domainname == "example.org"
    assert name.nodename == os.uname().nodename


def test_domain_name_is_none_in_parentheses_when_unavailable(tmp_path: Path) -> None:
    assert make_uname_reader(str(tmp_path))().domainname == "(none)"


def test_without_proc_stat_psutil_supplies_boot_time_and_counters(tmp_path: Path) -> None:
    stats = make_kernel_stats_reader(str(tmp_path))()
    assert stats.boot_time_s == psutil.boot_time()
    assert stats.context_switches > 0
    assert stats.forks is None
    collector = SystemCollector(lambda: stats, lambda: UNAME)
    assert "node_forks_total" not in collect(collector)
