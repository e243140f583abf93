"""Range vectors as flat arrays with one window per (series, step), and vectorised reductions over them.

The samples of k series are concatenated; the window of series i at step j is ``[lo[i, j], hi[i, j])`` in
the flat arrays, the samples in ``[end_j - range, end_j]`` (both ends included, as in Prometheus 2.x).
Reductions run in C over all windows at once (``ufunc.reduceat``); those that need a window's samples
together (quantiles, variance, regression) gather batches of windows into padded rows; the sequential
smoothing of ``holt_winters`` advances one position of every window at a time. No loop runs per sample.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
from numpy.typing import NDArray

from collector.promql.guard import Guard
from collector.promql.types import Floats, Ints, Labels

Index = NDArray[np.intp]
Element = TypeVar("Element", bound=np.generic)
_GATHER_CELLS = 1_000_000


@dataclass(eq=False)
class RangeInput:
    """k series' samples (staleness markers removed) and their windows at n steps."""

    labels: list[Labels]
    ts: Ints
    values: Floats
    lo: Index
    hi: Index
    window_end: Ints
    range_ms: int
    eval_ts: Ints

    @property
    def count(self) -> Index:
        """Samples per window, (k, n)."""
        return self.hi - self.lo


def build(
    series: Sequence[tuple[Labels, Ints, Floats]],
    window_end: Ints,
    range_ms: int,
    eval_ts: Ints,
) -> RangeInput:
    """Windows ``[end - range_ms, end]`` of every series at every step."""
    steps = len(window_end)
    lo = np.zeros((len(series), steps), dtype=np.intp)
    hi = np.zeros((len(series), steps), dtype=np.intp)
    offset = 0
    for row, (_, ts, _) in enumerate(series):
        lo[row] = offset + np.searchsorted(ts, window_end - range_ms, side="left")
        hi[row] = offset + np.searchsorted(ts, window_end, side="right")
        offset += len(ts)
    flat_ts = np.concatenate([ts for _, ts, _ in series]) if series else np.empty(0, dtype=np.int64)
    flat_values = np.concatenate([values for _, _, values in series]) if series else np.empty(0)
    return RangeInput(
        [labels for labels, _, _ in series], flat_ts, flat_values, lo, hi, window_end, range_ms, eval_ts
    )


def reduce(ufunc: np.ufunc, values: Floats, lo: Index, hi: Index) -> Floats:
    """``ufunc`` reduced over ``values[lo:hi]`` for every window; meaningless where ``hi <= lo``."""
    if lo.size == 0:
        return np.empty(lo.shape)
    extended = np.append(values, 0.0)
    bounds = np.empty(2 * lo.size, dtype=np.intp)
    bounds[0::2] = np.minimum(lo.ravel(), values.size)
    bounds[1::2] = np.minimum(hi.ravel(), values.size)
    result: Floats = ufunc.reduceat(extended, bounds)[0::2]
    return result.reshape(lo.shape)


def at(values: NDArray[Element], index: Index) -> NDArray[Element]:
    """``values[index]`` where index may point past the end (for empty windows, masked later)."""
    if values.size == 0:
        return np.zeros(index.shape, dtype=values.dtype)
    return values[np.clip(index, 0, values.size - 1)]


def positions(count: Index, guard: Guard) -> Iterator[tuple[int, Index]]:
    """For j = 0, 1, ...: the flat indices of the windows that have a j-th sample."""
    flat = count.ravel()
    longest = int(flat.max()) if flat.size else 0
    active = np.arange(flat.size)
    for j in range(longest):
        guard.check()
        active = active[flat[active] > j]
        yield j, active


def gathered(
    values: Floats, lo: Index, count: Index, guard: Guard
) -> Iterator[tuple[Index, Floats, NDArray[np.bool_]]]:
    """Batches of windows as padded rows: (flat window indices, (b, L) values, (b, L) validity)."""
    flat_lo, flat_count = lo.ravel(), count.ravel()
    longest = int(flat_count.max()) if flat_count.size else 0
    if longest == 0:
        return
    batch = max(1, _GATHER_CELLS // longest)
    offsets = np.arange(longest)
    for start in range(0, flat_lo.size, batch):
        guard.check()
        rows = np.arange(start, min(start + batch, flat_lo.size))
        valid = offsets[None, :] < flat_count[rows, None]
        yield rows, at(values, flat_lo[rows, None] + offsets[None, :]), valid


def sorted_quantile(rows: Floats, valid: NDArray[np.bool_], q: Floats) -> Floats:
    """Prometheus's quantile of each row's valid values (NaN sorts first), NaN for an empty row."""
    kind = np.where(valid, np.where(np.isnan(rows), 0, 1), 2)
    order = np.lexsort((np.where(kind == 1, rows, 0.0), kind), axis=-1)
    ordered = np.take_along_axis(rows, order, axis=-1)
    count = valid.sum(axis=1)
    rank = q * (count - 1)
    lower = np.maximum(0.0, np.floor(rank))
    upper = np.minimum(count - 1.0, lower + 1)
    weight = rank - np.floor(rank)
    last = rows.shape[1] - 1
    with np.errstate(invalid="ignore"):
        low_index = np.clip(np.nan_to_num(lower, nan=0, posinf=0, neginf=0), 0, last).astype(np.intp)
        high_index = np.clip(np.nan_to_num(upper, nan=0, posinf=0, neginf=0), 0, last).astype(np.intp)
        low_value = np.take_along_axis(ordered, low_index[:, None], 1)[:, 0]
        high_value = np.take_along_axis(ordered, high_index[:, None], 1)[:, 0]
        result = low_value * (1 - weight) + high_value * weight
    result = np.where(q < 0, -np.inf, np.where(q > 1, np.inf, result))
    return np.where((count == 0) | np.isnan(q), np.nan, result)
