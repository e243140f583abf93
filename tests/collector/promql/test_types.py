"""Staleness markers and the merging of series that end up with one label set."""

from __future__ import annotations

import numpy as np
import pytest

from collector.promql.errors import ExecutionError
from collector.promql.types import STALE_NAN, is_stale, merge_rows, stale_array
from tests.collector.promql.helpers import steps


def test_only_prometheus_stale_bit_pattern_is_stale() -> None:
    values = np.concatenate([stale_array(1), [np.nan, 1.0]])
    assert is_stale(values).tolist() == [True, False, False]
    assert np.isnan(STALE_NAN)


def test_series_with_one_label_set_at_different_steps_merge() -> None:
    merged = merge_rows(steps([{"a": "1"}, {"a": "1"}], [[1.0, None], [None, 2.0]]))
    assert merged.labels == [{"a": "1"}]
    assert merged.values.tolist() == [[1.0, 2.0]]
    assert merged.present.tolist() == [[True, True]]


@pytest.mark.parametrize("allow_disjoint", [True, False])
def test_series_with_one_label_set_at_one_step_are_an_error(allow_disjoint: bool) -> None:
    with pytest.raises(ExecutionError, match="vector cannot contain metrics with the same labelset"):
        merge_rows(steps([{"a": "1"}, {"a": "1"}], [[1.0, 2.0], [3.0, None]]), allow_disjoint=allow_disjoint)


def test_range_function_results_may_not_share_a_label_set_even_apart() -> None:
    with pytest.raises(ExecutionError):
        merge_rows(steps([{"a": "1"}, {"a": "1"}], [[1.0, None], [None, 2.0]]), allow_disjoint=False)


def test_series_without_samples_are_dropped() -> None:
    merged = merge_rows(steps([{"a": "1"}, {"a": "2"}], [[None, None], [1.0, None]]))
    assert merged.labels == [{"a": "2"}]
