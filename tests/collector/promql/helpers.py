"""Small builders shared by the PromQL unit tests."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import numpy as np

from collector.promql import Engine, EngineSettings, MemorySource, Series
from collector.promql.types import Labels, Result, Steps


def series(labels: Labels, points: Sequence[tuple[float, float]]) -> Series:
    """A series from (seconds, value) pairs."""
    ts = np.array([round(t * 1000) for t, _ in points], dtype=np.int64)
    return Series(dict(labels), ts, np.array([v for _, v in points], dtype=np.float64))


def steps(labels: Sequence[Labels], rows: Sequence[Sequence[float | None]]) -> Steps:
    """A Steps from rows of values, None meaning no sample at that step."""
    values = np.array([[np.nan if v is None else v for v in row] for row in rows], dtype=np.float64)
    present = np.array([[v is not None for v in row] for row in rows], dtype=bool)
    if not rows:
        return Steps.empty(0)
    return Steps(list(labels), values.reshape(len(rows), -1), present.reshape(len(rows), -1))


def instant(
    data: Sequence[Series], query: str, at_s: float, settings: EngineSettings | None = None
) -> Result:
    """An instant query over ``data``."""
    return asyncio.run(Engine(MemorySource(data), settings).instant_query(query, round(at_s * 1000)))


def vector_values(result: Result) -> dict[tuple[tuple[str, str], ...], float]:
    """An instant vector as {sorted labels: value}."""
    samples = getattr(result, "samples", None)
    assert samples is not None, result
    return {tuple(sorted(s.labels.items())): s.value for s in samples}


def only_value(result: Result) -> float:
    """The value of a one-sample vector or of a scalar."""
    if hasattr(result, "samples"):
        (sample,) = result.samples
        return float(sample.value)
    return float(result.value)  # type: ignore[union-attr]
