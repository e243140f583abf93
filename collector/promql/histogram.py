"""``histogram_quantile`` over classic histograms (``le`` bucket series), vectorised per histogram.

The buckets present at a step can change from step to step; steps that share one set of present buckets
are computed together, so a histogram costs one pass per distinct set (usually one), not one per step.
"""

from __future__ import annotations

import math

import numpy as np

from collector.promql.guard import Guard
from collector.promql.types import METRIC_NAME, Floats, LabelKey, Labels, Steps, label_key, merge_rows

BUCKET_LABEL = "le"


def parse_bound(text: str | None) -> float | None:
    """An ``le`` value as Go's ParseFloat reads it, or None."""
    if text is None or "_" in text:
        return None
    try:
        return float(text)
    except ValueError:
        try:
            return float.fromhex(text)
        except ValueError:
            return None


def bucket_quantile(q: Floats, bounds: Floats, counts: Floats) -> Floats:
    """Prometheus's bucketQuantile for one set of buckets, sorted by bound, at several steps.

    ``counts`` is (buckets, steps) and ``q`` is (steps,).
    """
    unique_bounds, starts = np.unique(bounds, return_index=True)
    counts = np.add.reduceat(counts, starts, axis=0)
    result = np.full(counts.shape[1], np.nan)
    if math.isinf(unique_bounds[-1]) and unique_bounds[-1] > 0 and len(unique_bounds) >= 2:
        first_nan = np.isnan(counts[0])
        envelope = np.fmax.accumulate(counts, axis=0)
        counts = np.where(first_nan[None, :] | np.isnan(counts), counts, envelope)
        observations = counts[-1]
        with np.errstate(invalid="ignore", divide="ignore"):
            rank = q * observations
            reached = counts[:-1] >= rank[None, :]
            found = np.where(reached.any(axis=0), np.argmax(reached, axis=0), len(unique_bounds) - 1)
            previous = np.maximum(found - 1, 0)
            columns = np.arange(counts.shape[1])
            bucket_start = np.where(found > 0, unique_bounds[previous], 0.0)
            bucket_end = unique_bounds[np.minimum(found, len(unique_bounds) - 1)]
            below = np.where(found > 0, counts[previous, columns], 0.0)
            inside = counts[np.minimum(found, len(unique_bounds) - 1), columns] - below
            value = bucket_start + (bucket_end - bucket_start) * ((rank - below) / inside)
        value = np.where(found == len(unique_bounds) - 1, unique_bounds[-2], value)
        value = np.where((found == 0) & (unique_bounds[0] <= 0), unique_bounds[0], value)
        result = np.where(observations == 0, np.nan, value)
    result = np.where(q < 0, -np.inf, np.where(q > 1, np.inf, result))
    return np.where(np.isnan(q), np.nan, result)


def histogram_quantile(q: Floats, vector: Steps, guard: Guard) -> Steps:
    """``histogram_quantile(q, vector)``: one result series per histogram (labels less ``le``)."""
    groups: dict[LabelKey, list[int]] = {}
    out_labels: dict[LabelKey, Labels] = {}
    bounds = np.empty(len(vector.labels))
    for row, labels in enumerate(vector.labels):
        bound = parse_bound(labels.get(BUCKET_LABEL))
        if bound is None:
            continue
        bounds[row] = bound
        key = label_key({k: v for k, v in labels.items() if k != BUCKET_LABEL})
        groups.setdefault(key, []).append(row)
        out_labels[key] = {k: v for k, v in labels.items() if k not in (BUCKET_LABEL, METRIC_NAME)}
    steps = vector.values.shape[1]
    values = np.full((len(groups), steps), np.nan)
    present = np.zeros((len(groups), steps), dtype=bool)
    for slot, rows in enumerate(groups.values()):
        guard.check()
        order = np.array(rows)[np.argsort(bounds[rows], kind="stable")]
        mask = vector.present[order]
        patterns, inverse = np.unique(mask.T, axis=0, return_inverse=True)
        for number, pattern in enumerate(patterns):
            members = order[pattern]
            if members.size == 0:
                continue
            columns = np.flatnonzero(inverse.ravel() == number)
            counts = vector.values[members][:, columns]
            values[slot, columns] = bucket_quantile(q[columns], bounds[members], counts)
            present[slot, columns] = True
    return merge_rows(Steps([out_labels[key] for key in groups], values, present))
