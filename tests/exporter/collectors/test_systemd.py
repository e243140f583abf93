"""Systemd collector: unit states from `systemctl show`, only for configured units, silent without systemd."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import pytest

from exporter.collectors.systemd import ACTIVE_STATES, SystemdCollector, parse_show_output, run_systemctl

SHOW_OUTPUT = """Id=nginx.service
LoadState=loaded
ActiveState=active

Id=backup.service
LoadState=loaded
ActiveState=failed

Id=typo.service
LoadState=not-found
ActiveState=inactive
"""
UNITS = ("nginx.service", "backup.service", "typo.service")


class FakeSystemctl:
    """Records the argument lists it is given and answers with canned output."""

    def __init__(self, output: str | None) -> None:
        self.output = output
        self.calls: list[list[str]] = []

    def __call__(self, args: Sequence[str]) -> str | None:
        self.calls.append(list(args))
        return self.output


def states(collector: SystemdCollector) -> dict[tuple[str, str], float]:
    result = {}
    for family in collector.collect():
        assert family.name == "openmanager_systemd_unit_state"
        assert family.type == "gauge"
        for sample in family.samples:
            result[(sample.labels["name"], sample.labels["state"])] = sample.value
    return result


def test_show_output_splits_into_one_block_per_unit() -> None:
    blocks = parse_show_output(SHOW_OUTPUT)
    assert [block["Id"] for block in blocks] == list(UNITS)
    assert blocks[1]["ActiveState"] == "failed"


def test_each_unit_has_one_series_per_state_with_the_current_one_at_1() -> None:
    result = states(SystemdCollector(UNITS, FakeSystemctl(SHOW_OUTPUT)))
    assert len(result) == len(UNITS) * len(ACTIVE_STATES)
    assert result[("nginx.service", "active")] == 1
    assert result[("nginx.service", "failed")] == 0
    assert result[("backup.service", "failed")] == 1
    assert sum(value for (name, _), value in result.items() if name == "backup.service") == 1


def test_only_the_configured_units_are_asked_for_with_an_argument_list() -> None:
    systemctl = FakeSystemctl(SHOW_OUTPUT)
    list(SystemdCollector(UNITS, systemctl).collect())
    assert systemctl.calls == [["show", "--no-pager", "--property=Id,LoadState,ActiveState", "--", *UNITS]]


def test_unit_missing_on_the_host_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    collector = SystemdCollector(UNITS, FakeSystemctl(SHOW_OUTPUT), cache_ttl_s=0)
    with caplog.at_level(logging.WARNING):
        list(collector.collect())
        list(collector.collect())
    assert caplog.text.count("typo.service from the config does not exist") == 1


def test_without_systemd_nothing_is_reported_and_no_error_is_raised(caplog: pytest.LogCaptureFixture) -> None:
    collector = SystemdCollector(UNITS, FakeSystemctl(None), cache_ttl_s=0)
    with caplog.at_level(logging.INFO):
        assert list(collector.collect()) == []
        assert list(collector.collect()) == []
    assert caplog.text.count("systemd is not available") == 1


def test_unexpected_output_is_ignored() -> None:
    assert (
        list(SystemdCollector(UNITS, FakeSystemctl("Id=nginx.service\nActiveState=active\n")).collect()) == []
    )


def test_states_are_read_at_most_once_per_ttl() -> None:
    now = [0.0]
    systemctl = FakeSystemctl(SHOW_OUTPUT)
    collector = SystemdCollector(UNITS, systemctl, cache_ttl_s=5.0, clock=lambda: now[0])
    list(collector.collect())
    now[0] = 3.0
    list(collector.collect())
    assert len(systemctl.calls) == 1


def test_real_systemctl_on_this_host_answers_or_reports_nothing_without_error() -> None:
    collector = SystemdCollector(("systemd-journald.service",), run_systemctl)
    result = states(collector)
    assert result == {} or len(result) == len(ACTIVE_STATES)


def test_no_units_configured_never_runs_systemctl() -> None:
    systemctl = FakeSystemctl(SHOW_OUTPUT)
    assert list(SystemdCollector((), systemctl).collect()) == []
    assert systemctl.calls == []
