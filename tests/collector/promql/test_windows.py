"""Window construction and the vectorised reductions over windows."""

from __future__ import annotations

import numpy as np

from collector.promql.guard import Guard
from collector.promql.windows import build, gathered, reduce, sorted_quantile


def test_windows_include_both_ends() -> None:
    ts = np.array([0, 10, 20, 30], dtype=np.int64)
    data = build([({}, ts, np.arange(4.0))], np.array([20, 35]), 10, np.array([20, 35]))
    assert data.lo.tolist() == [[1, 3]] and data.hi.tolist() == [[3, 4]]


def test_windows_of_several_series_index_the_flat_arrays() -> None:
    ts = np.array([0, 10], dtype=np.int64)
    data = build([({}, ts, np.zeros(2)), ({}, ts, np.ones(2))], np.array([10]), 100, np.array([10]))
    assert data.lo.tolist() == [[0], [2]] and data.hi.tolist() == [[2], [4]]
    assert reduce(np.add, data.values, data.lo, data.hi).tolist() == [[0.0], [2.0]]


def test_reduce_handles_empty_windows_at_the_end() -> None:
    values = np.array([1.0, 2.0, 3.0])
    result = reduce(np.add, values, np.array([[0, 3]]), np.array([[3, 3]]))
    assert result[0, 0] == 6.0


def test_gathered_rows_pad_short_windows() -> None:
    values = np.array([1.0, 2.0, 3.0])
    ((rows, matrix, valid),) = gathered(values, np.array([[0, 2]]), np.array([[2, 1]]), Guard(10))
    assert rows.tolist() == [0, 1]
    assert valid.tolist() == [[True, True], [True, False]]
    assert matrix[valid].tolist() == [1.0, 2.0, 3.0]


def test_sorted_quantile_sorts_nan_first_and_interpolates() -> None:
    rows = np.array([[4.0, 1.0, 3.0, 2.0], [np.nan, 5.0, 0.0, 0.0]])
    valid = np.array([[True, True, True, True], [True, True, False, False]])
    result = sorted_quantile(rows, valid, np.array([0.5, 0.0]))
    assert result[0] == 2.5
    assert np.isnan(result[1])


def test_sorted_quantile_special_q() -> None:
    rows = np.array([[1.0, 2.0]] * 3)
    valid = np.ones((3, 2), dtype=bool)
    result = sorted_quantile(rows, valid, np.array([-1.0, 2.0, np.nan]))
    assert result[0] == -np.inf and result[1] == np.inf and np.isnan(result[2])
