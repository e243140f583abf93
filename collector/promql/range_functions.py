"""Functions of a range vector (``rate``, ``*_over_time``, ``deriv``, ...), over all windows at once.

Each takes the `RangeInput` and the per-step values of its scalar arguments and returns (k, n) values and
the mask of windows that give a result; the arithmetic is Prometheus's, step for step (its extrapolation
rules for ``rate``/``increase``/``delta``, Kahan-compensated sums, its regression and smoothing).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from collector.promql import windows
from collector.promql.errors import ExecutionError
from collector.promql.guard import Guard
from collector.promql.types import Floats, Mask
from collector.promql.windows import Index, RangeInput, at, gathered, positions, reduce

Output = tuple[Floats, Mask]
RangeFunction = Callable[[RangeInput, Sequence[Floats], Guard], Output]


def _extrapolated(data: RangeInput, *, counter: bool, per_second: bool) -> Output:
    count = data.count
    ok = count >= 2
    first, last = data.lo, data.hi - 1
    first_value, last_value = at(data.values, first), at(data.values, last)
    first_ts, last_ts = at(data.ts.astype(np.float64), first), at(data.ts.astype(np.float64), last)
    with np.errstate(invalid="ignore", divide="ignore"):
        result = last_value - first_value
        if counter:
            previous = np.concatenate(([0.0], data.values[:-1]))
            dropped = np.where(data.values < previous, previous, 0.0)
            result = result + np.where(ok, reduce(np.add, dropped, data.lo + 1, data.hi), 0.0)
        range_start = (data.window_end - data.range_ms).astype(np.float64)
        to_start = (first_ts - range_start) / 1000
        to_end = (data.window_end - last_ts) / 1000
        sampled = (last_ts - first_ts) / 1000
        average = sampled / (count - 1)
        if counter:
            to_zero = sampled * (first_value / result)
            shorten = (result > 0) & (first_value >= 0) & (to_zero < to_start)
            to_start = np.where(shorten, to_zero, to_start)
        threshold = average * 1.1
        interval = sampled + np.where(to_start < threshold, to_start, average / 2)
        interval += np.where(to_end < threshold, to_end, average / 2)
        factor = interval / sampled
        if per_second:
            factor /= data.range_ms / 1000
        return result * factor, ok


def _rate(data: RangeInput, _: Sequence[Floats], __: Guard) -> Output:
    return _extrapolated(data, counter=True, per_second=True)


def _increase(data: RangeInput, _: Sequence[Floats], __: Guard) -> Output:
    return _extrapolated(data, counter=True, per_second=False)


def _delta(data: RangeInput, _: Sequence[Floats], __: Guard) -> Output:
    return _extrapolated(data, counter=False, per_second=False)


def _instant(data: RangeInput, *, per_second: bool) -> Output:
    ok = data.count >= 2
    last_value, previous_value = at(data.values, data.hi - 1), at(data.values, data.hi - 2)
    elapsed_ms = at(data.ts, data.hi - 1) - at(data.ts, data.hi - 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        if not per_second:
            return last_value - previous_value, ok
        result = np.where(last_value < previous_value, last_value, last_value - previous_value)
        return result / (elapsed_ms / 1000), ok & (elapsed_ms != 0)


def _irate(data: RangeInput, _: Sequence[Floats], __: Guard) -> Output:
    return _instant(data, per_second=True)


def _idelta(data: RangeInput, _: Sequence[Floats], __: Guard) -> Output:
    return _instant(data, per_second=False)


def _sum(data: RangeInput, _: Sequence[Floats], __: Guard) -> Output:
    # One C-level pass per window (reduceat); Prometheus adds a Kahan compensation, which changes
    # the result only when large values cancel each other.
    return reduce(np.add, data.values, data.lo, data.hi), data.count > 0


def _avg(data: RangeInput, _: Sequence[Floats], guard: Guard) -> Output:
    count = data.count
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        mean = reduce(np.add, data.values, data.lo, data.hi) / count
    infinite_inputs = reduce(np.add, np.isinf(data.values).astype(np.float64), data.lo, data.hi)
    overflowed = np.isinf(mean) & (infinite_inputs == 0) & (count > 0)
    if overflowed.any():
        # A sum past the float range whose mean is not: Prometheus's running mean, for these windows.
        rows, cols = np.nonzero(overflowed)
        mean[rows, cols] = _running_mean(data, rows, cols, guard)
    return mean, count > 0


def _running_mean(data: RangeInput, rows: Index, cols: Index, guard: Guard) -> Floats:
    lo, count = data.lo[rows, cols], data.count[rows, cols]
    mean = np.zeros(len(rows))
    for j, active in positions(count, guard):
        value = data.values[lo[active] + j]
        mean[active] += value / (j + 1) - mean[active] / (j + 1)
    return mean


def _variance(data: RangeInput, guard: Guard) -> Floats:
    # Two passes over each window (mean, then squared deviations): as stable as Prometheus's
    # compensated running variance, and vectorised over all windows of a batch.
    result = np.full(data.lo.size, np.nan)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        for rows, values, valid in gathered(data.values, data.lo, data.count, guard):
            count = valid.sum(axis=1)
            mean = np.where(valid, values, 0.0).sum(axis=1) / count
            deviation = np.where(valid, values - mean[:, None], 0.0)
            result[rows] = (deviation * deviation).sum(axis=1) / count
    return result.reshape(data.lo.shape)


def _stdvar(data: RangeInput, _: Sequence[Floats], guard: Guard) -> Output:
    return _variance(data, guard), data.count > 0


def _stddev(data: RangeInput, _: Sequence[Floats], guard: Guard) -> Output:
    with np.errstate(invalid="ignore"):
        return np.sqrt(_variance(data, guard)), data.count > 0


def _min(data: RangeInput, _: Sequence[Floats], __: Guard) -> Output:
    return reduce(np.fmin, data.values, data.lo, data.hi), data.count > 0


def _max(data: RangeInput, _: Sequence[Floats], __: Guard) -> Output:
    return reduce(np.fmax, data.values, data.lo, data.hi), data.count > 0


def _count(data: RangeInput, _: Sequence[Floats], __: Guard) -> Output:
    return data.count.astype(np.float64), data.count > 0


def _present(data: RangeInput, _: Sequence[Floats], __: Guard) -> Output:
    return np.ones(data.lo.shape), data.count > 0


def _last(data: RangeInput, _: Sequence[Floats], __: Guard) -> Output:
    return at(data.values, data.hi - 1), data.count > 0


def _quantile(data: RangeInput, args: Sequence[Floats], guard: Guard) -> Output:
    q = np.broadcast_to(args[0], data.lo.shape).ravel()
    result = np.full(data.lo.size, np.nan)
    for rows, values, valid in gathered(data.values, data.lo, data.count, guard):
        result[rows] = windows.sorted_quantile(values, valid, q[rows])
    return result.reshape(data.lo.shape), data.count > 0


def _pair_count(data: RangeInput, indicator: Mask) -> Floats:
    cumulative = np.concatenate(([0], np.cumsum(indicator)))
    start = np.minimum(data.lo + 1, data.hi)
    return (cumulative[data.hi] - cumulative[start]).astype(np.float64)


def _resets(data: RangeInput, _: Sequence[Floats], __: Guard) -> Output:
    previous = np.concatenate(([np.nan], data.values[:-1]))
    return _pair_count(data, data.values < previous), data.count > 0


def _changes(data: RangeInput, _: Sequence[Floats], __: Guard) -> Output:
    previous = np.concatenate(([np.nan], data.values[:-1]))
    changed = (data.values != previous) & ~(np.isnan(data.values) & np.isnan(previous))
    return _pair_count(data, changed), data.count > 0


def regression(data: RangeInput, intercept_ms: Floats, guard: Guard) -> tuple[Floats, Floats]:
    """Prometheus's least-squares line over each window: slope, and intercept at ``intercept_ms``.

    Computed from deviations to the window's means (two passes), which is what Prometheus's
    compensated sums approximate; a window of one repeated value has slope 0 (NaN if infinite).
    """
    slope, intercept = np.full(data.lo.size, np.nan), np.full(data.lo.size, np.nan)
    origin = intercept_ms.ravel()
    flat_ts = data.ts.astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        for rows, values, valid in gathered(data.values, data.lo, data.count, guard):
            count = valid.sum(axis=1)
            offsets = np.arange(values.shape[1])[None, :]
            x = (at(flat_ts, data.lo.ravel()[rows, None] + offsets) - origin[rows, None]) / 1e3
            mean_x = np.where(valid, x, 0.0).sum(axis=1) / count
            mean_y = np.where(valid, values, 0.0).sum(axis=1) / count
            dx = np.where(valid, x - mean_x[:, None], 0.0)
            dy = np.where(valid, values - mean_y[:, None], 0.0)
            fitted = (dx * dy).sum(axis=1) / (dx * dx).sum(axis=1)
            first = values[:, 0]
            constant = np.where(valid, values == first[:, None], True).all(axis=1)
            slope[rows] = np.where(constant, np.where(np.isinf(first), np.nan, 0.0), fitted)
            line = mean_y - fitted * mean_x
            intercept[rows] = np.where(constant, np.where(np.isinf(first), np.nan, first), line)
    return slope.reshape(data.lo.shape), intercept.reshape(data.lo.shape)


def _deriv(data: RangeInput, _: Sequence[Floats], guard: Guard) -> Output:
    slope, _intercept = regression(data, at(data.ts, data.lo).astype(np.float64), guard)
    return slope, data.count >= 2


def _predict_linear(data: RangeInput, args: Sequence[Floats], guard: Guard) -> Output:
    origin = np.broadcast_to(data.eval_ts.astype(np.float64), data.lo.shape)
    slope, intercept = regression(data, origin, guard)
    with np.errstate(invalid="ignore", over="ignore"):
        return slope * args[0] + intercept, data.count >= 2


def _check_factor(factor: Floats, used: Mask, what: str, short: str) -> None:
    bad = used & ~((factor > 0) & (factor < 1))
    if bad.any():
        value = float(factor[np.argmax(bad)])
        raise ExecutionError(f"invalid {what} factor. Expected: 0 < {short} < 1, got: {value:f}")


def _holt_winters(data: RangeInput, args: Sequence[Floats], guard: Guard) -> Output:
    count = data.count
    used = np.asarray((count > 0).any(axis=0), dtype=bool)
    _check_factor(args[0], used, "smoothing", "sf")
    _check_factor(args[1], used, "trend", "tf")
    shape = data.lo.shape
    smoothing = np.broadcast_to(args[0], shape).ravel()
    trend = np.broadcast_to(args[1], shape).ravel()
    flat_lo = data.lo.ravel()
    s0 = np.zeros(data.lo.size)
    s1 = at(data.values, flat_lo).copy()
    b = at(data.values, flat_lo + 1) - s1
    with np.errstate(invalid="ignore", over="ignore"):
        for j, active in positions(count, guard):
            if j == 0:
                continue
            sf, tf = smoothing[active], trend[active]
            x = sf * data.values[flat_lo[active] + j]
            if j > 1:
                b[active] = tf * (s1[active] - s0[active]) + (1 - tf) * b[active]
            y = (1 - sf) * (s1[active] + b[active])
            s0[active], s1[active] = s1[active], x + y
    return s1.reshape(shape), count >= 2


RANGE_FUNCTIONS: dict[str, RangeFunction] = {
    "rate": _rate,
    "increase": _increase,
    "delta": _delta,
    "irate": _irate,
    "idelta": _idelta,
    "avg_over_time": _avg,
    "sum_over_time": _sum,
    "min_over_time": _min,
    "max_over_time": _max,
    "count_over_time": _count,
    "last_over_time": _last,
    "present_over_time": _present,
    "stddev_over_time": _stddev,
    "stdvar_over_time": _stdvar,
    "quantile_over_time": _quantile,
    "resets": _resets,
    "changes": _changes,
    "deriv": _deriv,
    "predict_linear": _predict_linear,
    "holt_winters": _holt_winters,
    "double_exponential_smoothing": _holt_winters,
}
"""Every function with a range-vector argument except ``absent_over_time`` (the evaluator's)."""
