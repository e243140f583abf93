"""Pushed samples gathered into one scrape result per server and timestamp, handed on when whole."""

from __future__ import annotations

import struct
import uuid

import numpy as np

from collector.ingest.assembler import REMOTE_DOWN, Assembler, AssemblerOptions
from collector.ingest.series import SeriesTable
from collector.ingest.targets import RegisteredAddress
from collector.ingest.wire import decode_v1, encode_v1
from collector.result import ScrapeResult, server_id_for

T = 1_764_000_000_000
STALE = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Rig:
    """A series table and an assembler on a fake clock, fed like the receiver feeds them."""

    def __init__(self, options: AssemblerOptions | None = None) -> None:
        self.clock = Clock()
        self.results: list[ScrapeResult] = []
        self.table = SeriesTable()
        self.assembler = Assembler(
            self.table,
            self.results.append,
            options or AssemblerOptions(settle_s=1, wait_s=10),
            clock=self.clock,
        )

    def push(self, *samples: tuple[str, str, int, float]) -> int:
        """Samples as (metric, instance, timestamp, value); the count of late ones."""
        series = [
            ([("__name__", name), ("instance", instance), ("job", "node")], [(ts, value)])
            for name, instance, ts, value in samples
        ]
        decoded = decode_v1(encode_v1(series), self.table.keys)
        ids = self.table.resolve(decoded, self.assembler.slot)[decoded.entries]
        admitted = self.table.admit(ids, decoded.timestamps_ms, decoded.values, now_ms=T)
        new = admitted.new
        return self.assembler.add(ids[new], decoded.timestamps_ms[new], decoded.values[new])

    def tick(self, seconds: float) -> int:
        self.clock.now += seconds
        return self.assembler.emit_due()


def _values(result: ScrapeResult) -> dict[str, float]:
    return {name: value for (name, _), value in zip(result.series, result.values, strict=True)}


def test_a_servers_first_group_waits_then_whole_groups_go_after_the_settle_time() -> None:
    rig = Rig()
    rig.push(("up", "a:1", T, 1.0), ("load", "a:1", T, 0.5))
    assert rig.tick(5) == 0  # the first group: no set to be whole against yet
    assert rig.tick(5) == 1
    rig.push(("up", "a:1", T + 15_000, 1.0))
    assert rig.tick(5) == 0  # load is missing: not whole
    rig.push(("load", "a:1", T + 15_000, 0.7))
    assert rig.tick(0.5) == 0
    assert rig.tick(0.6) == 1
    first, second = rig.results
    assert second.series is first.series  # the same set, the same tuple: history writes it once
    assert second.series_set_id == first.series_set_id
    assert _values(second) == {"up": 1.0, "load": 0.7}
    assert (first.target.server_id, second.timestamp_ms) == (server_id_for("node", "a:1"), T + 15_000)


def test_samples_for_a_row_already_handed_on_are_late() -> None:
    rig = Rig()
    rig.push(("up", "a:1", T, 1.0))
    rig.tick(11)
    assert rig.push(("load", "a:1", T, 2.0)) == 1
    assert rig.push(("other", "a:1", T - 1, 2.0)) == 1
    assert rig.assembler.late_samples == 2
    assert rig.tick(11) == 0


def test_groups_of_a_server_go_in_timestamp_order_when_a_newer_one_is_due() -> None:
    rig = Rig()
    rig.push(("up", "a:1", T, 1.0), ("x", "a:1", T, 1.0))
    rig.tick(11)
    rig.push(("up", "a:1", T + 1000, 1.0))  # incomplete: x missing
    rig.tick(3)
    rig.push(("up", "a:1", T + 2000, 1.0), ("x", "a:1", T + 2000, 3.0))  # whole
    assert rig.tick(1.5) == 2
    assert [r.timestamp_ms for r in rig.results] == [T, T + 1000, T + 2000]
    assert _values(rig.results[1]) == {"up": 1.0}


def test_a_series_ended_by_a_staleness_marker_leaves_the_set() -> None:
    rig = Rig()
    rig.push(("up", "a:1", T, 1.0), ("gone", "a:1", T, 1.0))
    rig.tick(11)
    rig.push(("up", "a:1", T + 1000, 1.0), ("gone", "a:1", T + 1000, STALE))
    rig.tick(1.1)
    rig.push(("up", "a:1", T + 2000, 1.0))
    assert rig.tick(1.1) == 1  # whole without "gone": it ended
    assert [name for name, _ in rig.results[-1].series] == ["up"]


def test_new_series_join_the_set() -> None:
    rig = Rig()
    rig.push(("up", "a:1", T, 1.0))
    rig.tick(11)
    rig.push(("up", "a:1", T + 1000, 1.0), ("new", "a:1", T + 1000, 4.0))
    rig.tick(1.1)
    rig.push(("up", "a:1", T + 2000, 1.0))
    assert rig.tick(1.1) == 0  # "new" is part of the set now
    rig.push(("new", "a:1", T + 2000, 5.0))
    assert rig.tick(1.1) == 1
    assert _values(rig.results[-1]) == {"up": 1.0, "new": 5.0}


def test_up_zero_is_a_failed_scrape() -> None:
    rig = Rig()
    rig.push(("up", "a:1", T, 0.0), ("scrape_duration_seconds", "a:1", T, 0.25))
    rig.tick(11)
    [result] = rig.results
    assert not result.up
    assert result.error_reason == REMOTE_DOWN
    assert result.duration_s == 0.25


def test_servers_are_gathered_apart() -> None:
    rig = Rig()
    rig.push(("up", "a:1", T, 1.0), ("up", "b:1", T, 0.0), ("up", "a:1", T + 5, 1.0))
    rig.tick(11)
    assert sorted((r.target.instance, r.timestamp_ms) for r in rig.results) == [
        ("a:1", T),
        ("a:1", T + 5),
        ("b:1", T),
    ]


def test_too_many_pending_groups_push_the_oldest_out() -> None:
    rig = Rig(AssemblerOptions(settle_s=1, wait_s=10, max_pending=3))
    for i in range(5):
        rig.push(("up", "a:1", T + i, 1.0))
    assert rig.tick(0) == 2
    assert [r.timestamp_ms for r in rig.results] == [T, T + 1]


def test_flush_hands_on_everything() -> None:
    rig = Rig()
    rig.push(("up", "a:1", T, 1.0), ("up", "b:1", T, 1.0))
    assert rig.assembler.flush() == 2
    assert rig.assembler.pending_groups == 0


def test_a_registered_address_makes_the_samples_that_servers() -> None:
    rig = Rig()
    registered_id = uuid.uuid4()
    rig.assembler.set_registered(
        {"nat:9100": RegisteredAddress(registered_id, "servers", "db-1", {"env": "prod"})}
    )
    rig.push(("up", "nat:9100", T, 1.0))
    rig.tick(11)
    target = rig.results[0].target
    assert (target.server_id, target.job) == (registered_id, "servers")
    assert dict(target.labels) == {"env": "prod", "name": "db-1", "job": "servers", "instance": "nat:9100"}
    # The series keep the labels they were pushed with.
    assert dict(rig.results[0].series[0][1])["job"] == "node"


def test_values_stay_aligned_when_the_set_changes_under_pending_groups() -> None:
    rig = Rig()
    rig.push(("a", "h:1", T, 1.0), ("b", "h:1", T, 2.0))
    rig.tick(11)
    # Group T+1 gets a and c (new); group T+2 is pending behind it with b only.
    rig.push(("a", "h:1", T + 1, 10.0), ("c", "h:1", T + 1, 30.0), ("b", "h:1", T + 2, 20.0))
    rig.tick(11)
    assert [_values(r) for r in rig.results[1:]] == [{"a": 10.0, "c": 30.0}, {"b": 20.0}]
    assert np.isfinite(rig.results[-1].values).all()


def test_series_of_current_sets_and_pending_groups_are_in_use() -> None:
    rig = Rig()
    rig.push(("a", "h:1", T, 1.0))
    rig.tick(11)
    rig.push(("b", "h:1", T + 1, 1.0))  # pending, outside the set
    used = rig.assembler.in_use()
    names = {rig.table.series[sid][0] for sid in np.flatnonzero(used[: rig.table.capacity]).tolist()}
    assert names == {"a", "b"}
