"""The values a query works on and answers with.

Series read from storage carry numpy arrays: timestamps in int64 milliseconds, values in float64, a
staleness marker being the NaN with Prometheus's bit pattern `STALE_NAN_BITS`. Inside the evaluator an
instant vector over a grid of n steps is a `Steps`: k label sets, a (k, n) value matrix and a (k, n) mask of
which series has a sample at which step; a scalar is a (n,) array.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from collector.promql.errors import DUPLICATE_LABELSET, ExecutionError

Labels = Mapping[str, str]
LabelKey = tuple[tuple[str, str], ...]
Floats = NDArray[np.float64]
Ints = NDArray[np.int64]
Mask = NDArray[np.bool_]

METRIC_NAME = "__name__"
STALE_NAN_BITS = 0x7FF0000000000002
STALE_NAN: float = float(np.array([STALE_NAN_BITS], dtype=np.uint64).view(np.float64)[0])


def is_stale(values: Floats) -> Mask:
    """Which values are staleness markers (one NaN bit pattern among all NaNs)."""
    return np.asarray(values.view(np.uint64) == np.uint64(STALE_NAN_BITS), dtype=bool)


def stale_array(count: int) -> Floats:
    """``count`` staleness markers (a Python float may lose the NaN payload; an array keeps it)."""
    return np.full(count, STALE_NAN_BITS, dtype=np.uint64).view(np.float64)


def label_key(labels: Labels) -> LabelKey:
    """A hashable, ordered form of a label set; tuples order as Prometheus orders label sets."""
    return tuple(sorted(labels.items()))


def without_name(labels: Labels) -> dict[str, str]:
    """The label set less its metric name."""
    return {name: value for name, value in labels.items() if name != METRIC_NAME}


@dataclass(frozen=True, eq=False)
class Series:
    """One series: its labels and its samples in time order (timestamps unique)."""

    labels: Labels
    ts: Ints
    values: Floats


@dataclass(frozen=True)
class Sample:
    """One element of an instant vector."""

    labels: Labels
    value: float


@dataclass(frozen=True)
class InstantVector:
    """The answer of an instant query over vectors: samples at ``time_ms``."""

    time_ms: int
    samples: tuple[Sample, ...]


@dataclass(frozen=True)
class Matrix:
    """Series with points: a range query's answer, or a range vector in an instant query."""

    series: tuple[Series, ...]


@dataclass(frozen=True)
class Scalar:
    """A number at a time."""

    time_ms: int
    value: float


@dataclass(frozen=True)
class String:
    """A string at a time."""

    time_ms: int
    value: str


Result = InstantVector | Matrix | Scalar | String


@dataclass(eq=False)
class Steps:
    """An instant vector over the n steps of an evaluation: k series, (k, n) values and presence."""

    labels: Sequence[Labels]
    values: Floats
    present: Mask

    @classmethod
    def empty(cls, steps: int) -> Steps:
        """No series at all."""
        return cls([], np.empty((0, steps)), np.zeros((0, steps), dtype=bool))

    def take(self, rows: NDArray[np.intp] | list[int]) -> Steps:
        """The sub-vector of the given rows."""
        index = np.asarray(rows, dtype=np.intp)
        return Steps([self.labels[i] for i in index], self.values[index], self.present[index])

    def relabel(self, labels: Sequence[Labels]) -> Steps:
        """The same samples under new label sets, merged where they now collide."""
        return merge_rows(Steps(labels, self.values, self.present))


def merge_rows(steps: Steps, *, allow_disjoint: bool = True) -> Steps:
    """Drop series without samples and merge series with equal labels, as Prometheus's step assembly does.

    Two series with one label set at the same step is Prometheus's "same labelset" error; at different
    steps they are one series (with ``allow_disjoint``), else the error too, as for range functions.
    """
    has_any = steps.present.any(axis=1)
    first: dict[LabelKey, int] = {}
    groups: list[list[int]] = []
    for row in np.flatnonzero(has_any).tolist():
        key = label_key(steps.labels[row])
        slot = first.get(key)
        if slot is None:
            first[key] = len(groups)
            groups.append([row])
        else:
            groups[slot].append(row)
    if all(len(group) == 1 for group in groups):
        if len(groups) == len(steps.labels):
            return steps
        return steps.take([group[0] for group in groups])
    if not allow_disjoint:
        raise ExecutionError(DUPLICATE_LABELSET)
    labels: list[Labels] = []
    values = np.empty((len(groups), steps.values.shape[1]))
    present = np.zeros((len(groups), steps.values.shape[1]), dtype=bool)
    for slot, group in enumerate(groups):
        if len(group) > 1 and (steps.present[group].sum(axis=0) > 1).any():
            raise ExecutionError(DUPLICATE_LABELSET)
        labels.append(steps.labels[group[0]])
        values[slot] = steps.values[group[0]]
        present[slot] = steps.present[group[0]]
        for row in group[1:]:
            values[slot] = np.where(steps.present[row], steps.values[row], values[slot])
            present[slot] |= steps.present[row]
    return Steps(labels, values, present)


def sorted_by_labels(series: Iterable[Series]) -> tuple[Series, ...]:
    """Series in Prometheus's label order."""
    return tuple(sorted(series, key=lambda item: label_key(item.labels)))
