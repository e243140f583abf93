"""Binary operators: arithmetic, comparisons (filtering or ``bool``), ``atan2`` and the set operators, with
``on``/``ignoring`` matching and ``group_left``/``group_right``.

Vector matching is done once per series pair signature and applied to whole (k, n) matrices; the
per-step rules of Prometheus (one match per signature, duplicates are errors) are checked with counts per
(signature, step).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from collector.promql.errors import ExecutionError
from collector.promql.labels import labels_text, signature
from collector.promql.parse import VectorMatching
from collector.promql.types import (
    METRIC_NAME,
    Floats,
    LabelKey,
    Labels,
    Mask,
    Steps,
    merge_rows,
    without_name,
)

ARITHMETIC: dict[str, Callable[[Floats, Floats], Floats]] = {
    "+": np.add,
    "-": np.subtract,
    "*": np.multiply,
    "/": np.divide,
    "%": np.fmod,
    "^": np.power,
    "atan2": np.arctan2,
}
COMPARISON: dict[str, Callable[[Floats, Floats], Mask]] = {
    "==": np.equal,
    "!=": np.not_equal,
    ">": np.greater,
    "<": np.less,
    ">=": np.greater_equal,
    "<=": np.less_equal,
}
# atan2 keeps the metric name in Prometheus 2.x; the other arithmetic operators drop it.
DROPS_NAME = frozenset({"+", "-", "*", "/", "%", "^"})
SET_OPERATORS = frozenset({"and", "or", "unless"})


def _apply(op: str, lhs: Floats, rhs: Floats) -> Floats:
    with np.errstate(all="ignore"):
        if op in ARITHMETIC:
            return ARITHMETIC[op](lhs, rhs)
        return COMPARISON[op](lhs, rhs).astype(np.float64)


def scalar_scalar(op: str, lhs: Floats, rhs: Floats) -> Floats:
    """Two scalars (a comparison between scalars always has ``bool``)."""
    return _apply(op, lhs, rhs)


def vector_scalar(op: str, vector: Steps, scalar: Floats, *, scalar_left: bool, return_bool: bool) -> Steps:
    """A vector and a scalar, in either order."""
    lhs, rhs = (scalar[None, :], vector.values) if scalar_left else (vector.values, scalar[None, :])
    present = vector.present
    if op in COMPARISON:
        with np.errstate(all="ignore"):
            keep = COMPARISON[op](lhs, rhs)
        if return_bool:
            values = keep.astype(np.float64)
        else:
            values, present = vector.values, present & keep
    else:
        values = _apply(op, lhs, rhs)
    drop = op in DROPS_NAME or return_bool
    labels = [without_name(labels) for labels in vector.labels] if drop else vector.labels
    return merge_rows(Steps(labels, np.broadcast_to(values, vector.values.shape), present))


def _signature_ids(
    lhs: Steps, rhs: Steps, matching: VectorMatching
) -> tuple[np.ndarray, np.ndarray, list[LabelKey]]:
    keys: dict[LabelKey, int] = {}

    def ids(side: Steps) -> np.ndarray:
        return np.array(
            [
                keys.setdefault(signature(labels, matching.on, matching.labels), len(keys))
                for labels in side.labels
            ],
            dtype=np.intp,
        )

    left, right = ids(lhs), ids(rhs)
    return left, right, list(keys)


def set_operation(op: str, lhs: Steps, rhs: Steps, matching: VectorMatching) -> Steps:
    """``and``, ``or``, ``unless``."""
    left, right, keys = _signature_ids(lhs, rhs, matching)
    steps = lhs.values.shape[1]

    def seen(ids: np.ndarray, side: Steps) -> Mask:
        table = np.zeros((len(keys), steps), dtype=bool)
        rows, cols = np.nonzero(side.present)
        table[ids[rows], cols] = True
        return table

    if op == "and":
        return merge_rows(Steps(lhs.labels, lhs.values, lhs.present & seen(right, rhs)[left]))
    if op == "unless":
        return merge_rows(Steps(lhs.labels, lhs.values, lhs.present & ~seen(right, rhs)[left]))
    extra = rhs.present & ~seen(left, lhs)[right]
    return merge_rows(
        Steps(
            [*lhs.labels, *rhs.labels],
            np.concatenate([lhs.values, rhs.values]),
            np.concatenate([lhs.present, extra]),
        )
    )


def _result_labels(many: Labels, one: Labels, op: str, matching: VectorMatching, return_bool: bool) -> Labels:
    result = dict(many)
    if op in DROPS_NAME or return_bool:
        result.pop(METRIC_NAME, None)
    if matching.card == "one-to-one":
        if matching.on:
            result = {k: v for k, v in result.items() if k in matching.labels}
        else:
            for name in matching.labels:
                result.pop(name, None)
    for name in matching.include:
        value = one.get(name, "")
        if value:
            result[name] = value
        else:
            result.pop(name, None)
    return result


def vector_vector(op: str, lhs: Steps, rhs: Steps, matching: VectorMatching, return_bool: bool) -> Steps:
    """Arithmetic or comparison between two vectors, matched one-to-one or many-to-one."""
    swapped = matching.card == "one-to-many"
    many, one = (rhs, lhs) if swapped else (lhs, rhs)
    many_ids, one_ids, keys = _signature_ids(many, one, matching)
    steps = lhs.values.shape[1]
    active = np.asarray(many.present.any(axis=0) & one.present.any(axis=0), dtype=bool)
    one_count = np.zeros((len(keys), steps), dtype=np.intp)
    rows, cols = np.nonzero(one.present)
    np.add.at(one_count, (one_ids[rows], cols), 1)
    duplicate = (one_count > 1) & active[None, :]
    if duplicate.any():
        sig, step = np.argwhere(duplicate)[0]
        pair = [one.labels[r] for r in np.flatnonzero((one_ids == sig) & one.present[:, step])[:2]]
        side = "left" if swapped else "right"
        raise ExecutionError(
            f"found duplicate series for the match group {labels_text(dict(keys[sig]))} on the {side} "
            f"hand-side of the operation: [{labels_text(pair[1])}, {labels_text(pair[0])}];"
            "many-to-many matching not allowed: matching labels must be unique on one side"
        )
    one_row = np.full((len(keys), steps), -1, dtype=np.intp)
    one_row[one_ids[rows], cols] = rows
    match = one_row[many_ids] if len(many_ids) else np.empty((0, steps), dtype=np.intp)
    matched = many.present & (match >= 0) & active[None, :]
    other: Floats = (
        one.values[np.maximum(match, 0), np.arange(steps)[None, :]] if one.labels else np.zeros(match.shape)
    )
    left_values, right_values = (other, many.values) if swapped else (many.values, other)
    if op in COMPARISON:
        with np.errstate(all="ignore"):
            truth = COMPARISON[op](left_values, right_values)
        values = truth.astype(np.float64) if return_bool else left_values
        kept = matched if return_bool else matched & truth
    else:
        values, kept = _apply(op, left_values, right_values), matched
    if matching.card == "one-to-one":
        per_signature = np.zeros((len(keys), steps), dtype=np.intp)
        kept_rows, kept_cols = np.nonzero(kept)
        np.add.at(per_signature, (many_ids[kept_rows], kept_cols), 1)
        if (per_signature > 1).any():
            raise ExecutionError(
                "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)"
            )
    return _assemble(
        op,
        many=many,
        one=one,
        match=match,
        kept=kept,
        values=values,
        many_ids=many_ids,
        matching=matching,
        return_bool=return_bool,
    )


def _assemble(
    op: str,
    *,
    many: Steps,
    one: Steps,
    match: np.ndarray,
    kept: Mask,
    values: Floats,
    many_ids: np.ndarray,
    matching: VectorMatching,
    return_bool: bool,
) -> Steps:
    steps = kept.shape[1]
    rows, cols = np.nonzero(kept)
    width = len(one.labels) + 1
    pairs, pair_of_cell = np.unique(rows * width + match[rows, cols], return_inverse=True)
    labels: list[Labels] = []
    signatures: list[int] = []
    for pair in pairs.tolist():
        many_row, one_row = divmod(pair, width)
        labels.append(_result_labels(many.labels[many_row], one.labels[one_row], op, matching, return_bool))
        signatures.append(int(many_ids[many_row]))
    out_values = np.zeros((len(labels), steps))
    out_present = np.zeros((len(labels), steps), dtype=bool)
    out_values[pair_of_cell.ravel(), cols] = values[rows, cols]
    out_present[pair_of_cell.ravel(), cols] = True
    if matching.card != "one-to-one":
        _check_unique_per_signature(labels, signatures, out_present)
    return merge_rows(Steps(labels, out_values, out_present))


def _check_unique_per_signature(labels: list[Labels], signatures: list[int], present: Mask) -> None:
    union: dict[tuple[int, LabelKey], Mask] = {}
    for row, (sig, series_labels) in enumerate(zip(signatures, labels, strict=True)):
        key = (sig, tuple(sorted(series_labels.items())))
        earlier = union.get(key)
        if earlier is None:
            union[key] = present[row].copy()
            continue
        if (earlier & present[row]).any():
            raise ExecutionError("multiple matches for labels: grouping labels must ensure unique matches")
        earlier |= present[row]
