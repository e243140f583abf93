"""Aggregation operators (``sum``, ``avg``, ``topk``, ``quantile``, ``count_values``, ...) with by/without.

Series are numbered by group once; every operator then reduces the (k, n) matrix into (groups, n) with
unbuffered ufunc accumulation (``np.add.at`` and friends), sorting within a group for the rank-based ones.
"""

from __future__ import annotations

import numpy as np

from collector.promql.errors import ExecutionError
from collector.promql.guard import Guard
from collector.promql.labels import format_g, format_value, go_quote, grouped, valid_label_name
from collector.promql.types import Floats, LabelKey, Labels, Steps, label_key, merge_rows
from collector.promql.windows import sorted_quantile

_INT64_LIMIT = 2.0**63


def _groups(vector: Steps, grouping: tuple[str, ...], without: bool) -> tuple[list[Labels], np.ndarray]:
    slots: dict[LabelKey, int] = {}
    labels: list[Labels] = []
    ids = np.empty(len(vector.labels), dtype=np.intp)
    for row, series_labels in enumerate(vector.labels):
        kept = grouped(series_labels, grouping, without)
        key = label_key(kept)
        slot = slots.get(key)
        if slot is None:
            slot = slots[key] = len(labels)
            labels.append(kept)
        ids[row] = slot
    return labels, ids


def _accumulate(ids: np.ndarray, groups: int, values: Floats, start: float, ufunc: np.ufunc) -> Floats:
    out = np.full((groups, values.shape[1]), start)
    ufunc.at(out, ids, values)
    return out


def aggregate(
    op: str,
    vector: Steps,
    *,
    grouping: tuple[str, ...],
    without: bool,
    param: Floats | str | None,
    guard: Guard,
) -> Steps:
    """Evaluate ``op by/without (grouping) (vector)`` at every step."""
    if op == "count_values":
        assert isinstance(param, str)
        return _count_values(vector, param, grouping, without)
    if op in ("topk", "bottomk"):
        assert isinstance(param, np.ndarray)
        return _top(vector, param, grouping, without, bottom=op == "bottomk", guard=guard)
    labels, ids = _groups(vector, grouping, without)
    groups, present = len(labels), vector.present
    count = _accumulate(ids, groups, present.astype(np.float64), 0.0, np.add)
    has = count > 0
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        if op in ("sum", "avg", "stddev", "stdvar"):
            total = _accumulate(ids, groups, np.where(present, vector.values, 0.0), 0.0, np.add)
            if op == "sum":
                values = total
            elif op == "avg":
                values = total / count
            else:
                mean = total / count
                deviation = np.where(present, (vector.values - mean[ids]) ** 2, 0.0)
                variance = _accumulate(ids, groups, deviation, 0.0, np.add) / count
                # Prometheus's running variance of one sample is 0 whatever the sample.
                variance = np.where(count == 1, 0.0, variance)
                values = np.sqrt(variance) if op == "stddev" else variance
        elif op == "count":
            values = count
        elif op == "group":
            values = np.ones_like(count)
        elif op in ("min", "max"):
            ufunc = np.fmin if op == "min" else np.fmax
            values = _accumulate(ids, groups, np.where(present, vector.values, np.nan), np.nan, ufunc)
        elif op == "quantile":
            assert isinstance(param, np.ndarray)
            values = np.full((groups, vector.values.shape[1]), np.nan)
            for slot in range(groups):
                guard.check()
                rows = np.flatnonzero(ids == slot)
                values[slot] = sorted_quantile(vector.values[rows].T, present[rows].T, param)
        else:
            raise ExecutionError(f"unsupported aggregation {op!r}")
    return Steps(labels, values, has)


def _top(
    vector: Steps, k_param: Floats, grouping: tuple[str, ...], without: bool, *, bottom: bool, guard: Guard
) -> Steps:
    limit = np.trunc(k_param)
    steps_used = vector.present.any(axis=0)
    bad = steps_used & ~(np.abs(k_param) < _INT64_LIMIT)
    if bad.any():
        raise ExecutionError(f"Scalar value {format_g(float(k_param[np.argmax(bad)]))} overflows int64")
    _, ids = _groups(vector, grouping, without)
    selected = np.zeros_like(vector.present)
    for slot in np.unique(ids):
        guard.check()
        rows = np.flatnonzero(ids == slot)
        values, present = vector.values[rows], vector.present[rows]
        nan = np.isnan(values)
        kind = np.where(present, np.where(nan, 1, 0), 2)
        key = np.where(kind == 0, values if bottom else -values, 0.0)
        order = np.lexsort((key, kind), axis=0)
        rank = np.empty_like(order)
        np.put_along_axis(rank, order, np.arange(len(rows))[:, None], axis=0)
        selected[rows] = present & (rank < limit[None, :])
    return merge_rows(Steps(vector.labels, vector.values, selected))


def _count_values(vector: Steps, label: str, grouping: tuple[str, ...], without: bool) -> Steps:
    if not valid_label_name(label):
        raise ExecutionError(f"invalid label name {go_quote(label)}")
    rows, cols = np.nonzero(vector.present)
    cell_values = vector.values[rows, cols]
    distinct, which = np.unique(cell_values, return_inverse=True)
    which = which.ravel()
    names = [format_value(float(value)) for value in distinct]
    by = (*grouping, label)
    pairs, pair_of_cell = np.unique(rows * max(len(distinct), 1) + which, return_inverse=True)
    slots: dict[LabelKey, int] = {}
    labels: list[Labels] = []
    slot_of_pair = np.empty(len(pairs), dtype=np.intp)
    # One pass per distinct (series, value) pair, not per sample.
    for index, pair in enumerate(pairs.tolist()):
        row, value_index = divmod(pair, max(len(distinct), 1))
        metric = {**vector.labels[row], label: names[value_index]}
        kept = grouped(metric, grouping, without) if without else grouped(metric, by, False)
        key = label_key(kept)
        slot = slots.get(key)
        if slot is None:
            slot = slots[key] = len(labels)
            labels.append(kept)
        slot_of_pair[index] = slot
    cell_slot = slot_of_pair[pair_of_cell.ravel()]
    counts = np.zeros((len(labels), vector.values.shape[1]))
    np.add.at(counts, (cell_slot, cols), 1.0)
    return Steps(labels, counts, counts > 0)
