"""Pushed series: label validation and Prometheus's head rules for each sample."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from collector.ingest.series import (
    INVALID,
    MAX_AHEAD_MS,
    SampleRejectedError,
    SeriesTable,
    series_key_of,
)
from collector.ingest.wire import decode_v1, encode_v1
from collector.result import SeriesKey

NOW = 1_764_000_000_000
STALE = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0]


@pytest.mark.parametrize(
    ("pairs", "expected"),
    [
        ([("__name__", "up"), ("job", "n")], ("up", (("job", "n"),))),
        ([("job", "n"), ("__name__", "a:b_c")], ("a:b_c", (("job", "n"),))),
        ([("__name__", "up"), ("empty", "")], ("up", ())),
        ([("job", "n")], None),
        ([("__name__", "1up")], None),
        ([("__name__", "up"), ("bad-name", "x")], None),
        ([("__name__", "up"), ("a", "1"), ("a", "2")], None),
    ],
)
def test_series_key_of(pairs: list[tuple[str, str]], expected: SeriesKey | None) -> None:
    assert series_key_of(pairs) == expected


def _table(*names: str) -> tuple[SeriesTable, np.ndarray]:
    table = SeriesTable()
    decoded = decode_v1(encode_v1([([("__name__", n)], [(NOW, 0.0)]) for n in names]), table.keys)
    return table, table.resolve(decoded, lambda _: 0)


def _admit(table: SeriesTable, ids: list[int], stamps: list[int], values: list[float], partial: bool = False):  # type: ignore[no-untyped-def]
    return table.admit(
        np.array(ids, dtype=np.int64),
        np.array(stamps, dtype=np.int64),
        np.array(values, dtype=np.float64),
        now_ms=NOW,
        partial=partial,
    )


def test_invalid_labels_get_the_invalid_id_and_equal_series_one_id() -> None:
    table = SeriesTable()
    decoded = decode_v1(
        encode_v1(
            [
                ([("__name__", "a"), ("x", "1")], [(NOW, 1.0)]),
                ([("x", "1")], [(NOW, 1.0)]),
                ([("x", "1"), ("__name__", "a")], [(NOW + 1, 1.0)]),  # same series, labels in another order
            ]
        ),
        table.keys,
    )
    ids = table.resolve(decoded, lambda _: 0).tolist()
    assert ids[1] == INVALID
    assert ids[0] == ids[2] != INVALID


@pytest.mark.parametrize(
    ("stamp", "value", "outcome"),
    [
        (NOW + 1, 1.0, "new"),
        (NOW, 5.0, "resent"),
        (NOW - 1, 1.0, "out of order sample"),
        (NOW, 6.0, "duplicate sample for timestamp"),
        (NOW, STALE, "duplicate sample for timestamp"),
        (NOW + MAX_AHEAD_MS + 1, 1.0, "out of bounds"),
    ],
)
def test_head_rules_against_the_last_sample(stamp: int, value: float, outcome: str) -> None:
    table, ids = _table("a")
    assert _admit(table, [int(ids[0])], [NOW], [5.0]).new.tolist() == [True]
    if outcome in ("new", "resent"):
        assert _admit(table, [int(ids[0])], [stamp], [value]).new.tolist() == [outcome == "new"]
    else:
        with pytest.raises(SampleRejectedError, match=outcome) as caught:
            _admit(table, [int(ids[0])], [stamp], [value])
        assert 'series {__name__="a"}' in str(caught.value)


def test_a_rejected_request_records_nothing() -> None:
    table, ids = _table("a", "b")
    a, b = (int(x) for x in ids)
    _admit(table, [a], [NOW], [1.0])
    with pytest.raises(SampleRejectedError):
        _admit(table, [b, a], [NOW + 10, NOW - 10], [1.0, 1.0])
    # b's sample of the refused request was not recorded: an older one is still in order.
    assert _admit(table, [b], [NOW + 5], [1.0]).new.tolist() == [True]


def test_samples_of_one_series_in_a_request_are_checked_in_request_order() -> None:
    table, ids = _table("a")
    a = int(ids[0])
    assert _admit(table, [a, a, a], [NOW, NOW + 1, NOW + 1], [1.0, 2.0, 2.0]).new.tolist() == [
        True,
        True,
        False,
    ]
    with pytest.raises(SampleRejectedError, match="out of order"):
        _admit(table, [a, a], [NOW + 5, NOW + 3], [1.0, 1.0])


def test_partial_admission_keeps_the_good_samples_and_reports_the_bad() -> None:
    table, ids = _table("a", "b")
    a, b = (int(x) for x in ids)
    _admit(table, [a], [NOW], [1.0])
    admitted = _admit(table, [a, b], [NOW - 1, NOW], [1.0, 2.0], partial=True)
    assert admitted.new.tolist() == [False, True]
    assert [e.reason for e in admitted.errors] == ["out of order sample"]


def test_forgotten_series_free_their_ids_for_new_ones_and_come_back_as_new() -> None:
    table, ids = _table("old", "kept", "busy")
    old, kept, busy = (int(x) for x in ids)
    _admit(table, [old, kept, busy], [NOW - 10_000, NOW - 10_000, NOW], [1.0, 1.0, 1.0])
    in_use = np.zeros(table.capacity, dtype=np.bool_)
    in_use[kept] = True
    assert table.forget(NOW - 5_000, in_use) == 1
    assert len(table) == 2
    decoded = decode_v1(encode_v1([([("__name__", "fresh")], [(NOW, 0.0)])]), table.keys)
    assert table.resolve(decoded, lambda _: 0).tolist() == [old]  # the id is reused
    assert table.series[old] == ("fresh", ())
    # The forgotten series is new again: an older sample than it had is accepted.
    decoded = decode_v1(encode_v1([([("__name__", "old")], [(NOW - 20_000, 0.0)])]), table.keys)
    again = table.resolve(decoded, lambda _: 0)
    assert int(again[0]) not in (old, kept, busy)
    assert _admit(table, [int(again[0])], [NOW - 20_000], [1.0]).new.tolist() == [True]
