"""The raw-row column cache: rows read now and rows held put together by time, bounded, never changed."""

from __future__ import annotations

import numpy as np
import pytest

from collector.storage.raw_cache import RawCache

KEY = (7, ((1, 2),))


def ints(*values: int) -> np.ndarray:
    return np.array(values, dtype=np.int64)


def rows(*values: float) -> np.ndarray:
    """One row per value, two columns: the value and its tenfold."""
    return np.array([[v, 10 * v] for v in values], dtype=np.float64).reshape(len(values), 2)


def test_rows_read_now_and_rows_held_come_out_in_time_order() -> None:
    cache = RawCache()
    first = cache.assemble(KEY, None, ints(30, 10, 20), ints(30, 10, 20), rows(3, 1, 2))
    assert first.ts.tolist() == [10, 20, 30]
    assert first.matrix[:, 0].tolist() == [1, 2, 3]
    held = cache.get(KEY)
    assert held is first
    # Rows held (10, 20 and 30) and rows read now (15 and 40) come out together, in time order.
    second = cache.assemble(KEY, held, ints(10, 15, 20, 30, 40), ints(15, 40), rows(1.5, 4))
    assert second.ts.tolist() == [10, 15, 20, 30, 40]
    assert second.matrix.tolist() == rows(1, 1.5, 2, 3, 4).tolist()
    assert (cache.hits, cache.misses) == (3, 5)
    assert cache.get(KEY) is second


def test_rows_that_left_the_range_leave_the_entry() -> None:
    cache = RawCache()
    held = cache.assemble(KEY, None, ints(10, 20, 30), ints(10, 20, 30), rows(1, 2, 3))
    later = cache.assemble(KEY, held, ints(20, 30, 40), ints(40), rows(4))
    assert later.ts.tolist() == [20, 30, 40]
    assert later.matrix[:, 0].tolist() == [2, 3, 4]


def test_a_row_read_twice_where_tiers_meet_is_kept_once() -> None:
    cache = RawCache()
    got = cache.assemble(KEY, None, ints(10, 20, 20, 30), ints(10, 20, 20, 30), rows(1, 2, 2, 3))
    assert got.ts.tolist() == [10, 20, 30]
    assert got.matrix[:, 0].tolist() == [1, 2, 3]


def test_entries_cannot_be_changed_by_a_reader() -> None:
    cache = RawCache()
    got = cache.assemble(KEY, None, ints(10), ints(10), rows(1))
    with pytest.raises(ValueError, match="read-only"):
        got.matrix[0, 0] = 5.0
    with pytest.raises(ValueError, match="read-only"):
        got.ts[0] = 5


def test_the_least_recently_used_entry_goes_first_when_the_bound_is_passed() -> None:
    one_entry = 3 * 8 + 3 * 2 * 8  # three times and three rows of two columns
    cache = RawCache(max_bytes=2 * one_entry)
    keys = [(set_id, ((1, 2),)) for set_id in (1, 2, 3)]
    for key in keys[:2]:
        cache.assemble(key, None, ints(1, 2, 3), ints(1, 2, 3), rows(1, 2, 3))
    assert cache.get(keys[0]) is not None  # used: the other one is now the oldest
    cache.assemble(keys[2], None, ints(1, 2, 3), ints(1, 2, 3), rows(1, 2, 3))
    assert cache.get(keys[1]) is None
    assert cache.get(keys[0]) is not None and cache.get(keys[2]) is not None
    assert cache.held == 2 * one_entry


def test_a_cache_without_room_keeps_nothing_and_still_answers() -> None:
    cache = RawCache(max_bytes=0)
    got = cache.assemble(KEY, None, ints(10, 20), ints(10, 20), rows(1, 2))
    assert got.matrix[:, 0].tolist() == [1, 2]
    assert cache.get(KEY) is None and cache.held == 0


def test_clear_forgets_every_entry() -> None:
    cache = RawCache()
    cache.assemble(KEY, None, ints(10), ints(10), rows(1))
    cache.clear()
    assert cache.get(KEY) is None and cache.held == 0


def test_forget_drops_one_entry_and_its_bytes() -> None:
    cache = RawCache()
    for set_id in (1, 2):
        cache.assemble((set_id, ((1, 1),)), None, ints(10, 20), ints(10, 20), np.ones((2, 1)))
    cache.forget((1, ((1, 1),)))
    cache.forget((3, ((1, 1),)))  # none: nothing happens
    assert cache.get((1, ((1, 1),))) is None
    kept = cache.get((2, ((1, 1),)))
    assert kept is not None
    assert cache.held == kept.nbytes
