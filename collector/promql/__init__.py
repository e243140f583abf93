"""A PromQL engine: Prometheus's query language evaluated over series read through a `SeriesSource`.

`parse.py` turns a query into small frozen nodes (the grammar is promql-parser's); `evaluator.py` evaluates
them over a grid of step timestamps, every intermediate result a dense numpy matrix (series x steps) with a
presence mask, so no hot path loops per sample in Python; `engine.py` adds what a server needs around it
(reading the data first, the sample limit, the timeout, bounded concurrency).
"""

from collector.promql.engine import Engine, EngineSettings
from collector.promql.errors import PromQLError
from collector.promql.source import MemorySource, SelectHints, SeriesSource
from collector.promql.types import InstantVector, Matrix, Sample, Scalar, Series, String

__all__ = [
    "Engine",
    "EngineSettings",
    "InstantVector",
    "Matrix",
    "MemorySource",
    "PromQLError",
    "Sample",
    "Scalar",
    "SelectHints",
    "Series",
    "SeriesSource",
    "String",
]
