"""The engine: result shapes, Prometheus's range checks, the sample limit, timeouts, bounded concurrency,
and the speed of a day-long range query over one server."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence

import numpy as np
import pytest

from collector.matchers import Matcher
from collector.promql import Engine, EngineSettings, MemorySource, SelectHints, Series
from collector.promql.engine import INLINE_CELLS
from collector.promql.errors import BadDataError, QueryTimeoutError, TooManySamplesError
from collector.promql.types import InstantVector, Matrix, Scalar, String
from tests.collector.promql.helpers import series

DATA = [series({"__name__": "up", "job": j}, [(t, t) for t in range(0, 600, 15)]) for j in ("a", "b")]


def engine(settings: EngineSettings | None = None) -> Engine:
    return Engine(MemorySource(DATA), settings)


async def test_instant_results_have_prometheus_shapes() -> None:
    e = engine()
    assert isinstance(await e.instant_query("up", 300_000), InstantVector)
    assert await e.instant_query("1 + 1", 300_000) == Scalar(300_000, 2.0)
    assert await e.instant_query('"text"', 300_000) == String(300_000, "text")
    matrix = await e.instant_query("up[30s]", 300_000)
    assert isinstance(matrix, Matrix)
    assert [s.ts.tolist() for s in matrix.series] == [[270_000, 285_000, 300_000]] * 2


async def test_range_query_returns_series_sorted_by_labels() -> None:
    result = await engine().range_query("up * 2", 0, 60_000, 30_000)
    assert [s.labels for s in result.series] == [{"job": "a"}, {"job": "b"}]
    assert result.series[0].values.tolist() == [0.0, 60.0, 120.0]


async def test_range_query_of_a_scalar_is_one_series_without_labels() -> None:
    result = await engine().range_query("time()", 0, 60_000, 30_000)
    assert [(s.labels, s.values.tolist()) for s in result.series] == [({}, [0.0, 30.0, 60.0])]


@pytest.mark.parametrize(
    ("start_ms", "end_ms", "step_ms", "message"),
    [
        (10, 0, 1, "end timestamp must not be before start time"),
        (0, 10, 0, "zero or negative query resolution step widths are not accepted. Try a positive integer"),
        (
            0,
            11_001_000,
            1000,
            "exceeded maximum resolution of 11,000 points per timeseries. "
            "Try decreasing the query resolution (?step=XX)",
        ),
    ],
)
async def test_range_parameters_are_checked_as_prometheus_does(
    start_ms: int, end_ms: int, step_ms: int, message: str
) -> None:
    with pytest.raises(BadDataError) as raised:
        await engine().range_query("up", start_ms, end_ms, step_ms)
    assert message in str(raised.value)


async def test_eleven_thousand_points_are_allowed() -> None:
    assert isinstance(await engine().range_query("vector(1)", 0, 11_000_000, 1000), Matrix)


async def test_range_query_of_a_range_vector_is_bad_data() -> None:
    with pytest.raises(BadDataError, match='invalid expression type "range vector" for range query'):
        await engine().range_query("up[5m]", 0, 60_000, 15_000)


async def test_too_many_samples() -> None:
    settings = EngineSettings(max_samples=100)
    assert isinstance(await engine(settings).instant_query("up", 300_000), InstantVector)
    with pytest.raises(TooManySamplesError, match="query processing would load too many samples into memory"):
        await engine(settings).range_query("up", 0, 600_000, 1000)


class SlowSource(MemorySource):
    """Counts selections running at once and holds each until released."""

    def __init__(self, data: Sequence[Series]) -> None:
        super().__init__(data)
        self.running = 0
        self.most = 0
        self.release = asyncio.Event()

    async def select(
        self, matchers: Sequence[Matcher], start_ms: int, end_ms: int, hints: SelectHints | None = None
    ) -> list[Series]:
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            await self.release.wait()
            return await super().select(matchers, start_ms, end_ms, hints)
        finally:
            self.running -= 1


async def test_concurrent_queries_are_bounded() -> None:
    source = SlowSource(DATA)
    e = Engine(source, EngineSettings(max_concurrent_queries=2))
    queries = [asyncio.create_task(e.instant_query("up", 300_000)) for _ in range(5)]
    await asyncio.sleep(0.1)
    assert source.running == 2
    source.release.set()
    results = await asyncio.gather(*queries)
    assert source.most == 2 and len(results) == 5


async def test_a_slow_read_times_out() -> None:
    e = Engine(SlowSource(DATA), EngineSettings(timeout_s=0.1))
    with pytest.raises(QueryTimeoutError, match="query timed out in query execution"):
        await e.instant_query("up", 300_000)


async def test_a_cancelled_query_is_cancelled_and_frees_its_slot() -> None:
    source = SlowSource(DATA)
    e = Engine(source, EngineSettings(max_concurrent_queries=1))
    task = asyncio.create_task(e.instant_query("up", 300_000))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    source.release.set()
    assert isinstance(await e.instant_query("up", 300_000), InstantVector)


async def test_one_engine_serves_each_query_from_the_source_it_names() -> None:
    shared = Engine(settings=EngineSettings(max_concurrent_queries=1))
    only_a = MemorySource([DATA[0]])
    result = await shared.instant_query("count(up)", 300_000, source=only_a)
    assert isinstance(result, InstantVector) and [s.value for s in result.samples] == [1.0]
    result = await shared.instant_query("count(up)", 300_000, source=MemorySource(DATA))
    assert isinstance(result, InstantVector) and [s.value for s in result.samples] == [2.0]
    with pytest.raises(TypeError, match="no source"):
        await shared.instant_query("up", 300_000)


@pytest.mark.parametrize(
    ("configured_s", "asked_s"), [(60.0, 0.1), (0.1, 3600.0)], ids=["shortened", "capped"]
)
async def test_a_query_may_shorten_the_timeout_but_not_lengthen_it(
    configured_s: float, asked_s: float
) -> None:
    e = Engine(SlowSource(DATA), EngineSettings(timeout_s=configured_s))
    started = time.monotonic()
    with pytest.raises(QueryTimeoutError):
        await e.range_query("up", 0, 60_000, 15_000, timeout_s=asked_s)
    assert time.monotonic() - started < 5


async def test_a_huge_subquery_grid_is_refused_before_it_is_built() -> None:
    with pytest.raises(TooManySamplesError):
        await engine(EngineSettings(max_samples=1000)).instant_query("max_over_time(up[1d:1s])", 300_000)


class StuckSource(MemorySource):
    """A storage that does not answer, even to cancellation, until released."""

    def __init__(self, data: Sequence[Series]) -> None:
        super().__init__(data)
        self.released = False

    async def select(
        self, matchers: Sequence[Matcher], start_ms: int, end_ms: int, hints: SelectHints | None = None
    ) -> list[Series]:
        while not self.released:
            try:
                await asyncio.sleep(0.01)
            except asyncio.CancelledError:
                continue
        return await super().select(matchers, start_ms, end_ms, hints)


async def test_a_query_waiting_for_a_slot_times_out_in_the_queue() -> None:
    source = StuckSource(DATA)
    e = Engine(source, EngineSettings(max_concurrent_queries=1, timeout_s=0.2))
    first = asyncio.create_task(e.instant_query("up", 300_000))
    await asyncio.sleep(0.05)
    with pytest.raises(QueryTimeoutError, match="query timed out in query queue"):
        await e.instant_query("up", 300_000)
    source.released = True
    with pytest.raises(QueryTimeoutError):
        await first


async def test_a_day_of_one_server_at_15_s_steps_is_vectorised() -> None:
    day_ms = 86_400_000
    ts = np.arange(0, day_ms, 15_000, dtype=np.int64)
    rng = np.random.default_rng(0)
    day = [
        Series(
            {"__name__": "node_cpu_seconds_total", "cpu": str(i // 8), "mode": str(i % 8)},
            ts,
            np.cumsum(rng.random(len(ts))),
        )
        for i in range(200)
    ]
    e = Engine(MemorySource(day))
    started = time.perf_counter()
    result = await e.range_query("sum by (mode) (rate(node_cpu_seconds_total[5m]))", 0, day_ms, 15_000)
    elapsed_s = time.perf_counter() - started
    # Every step but the first, whose window holds one sample.
    assert len(result.series) == 8 and len(result.series[0].ts) == 5760
    # 1.15 million samples: a loop per sample in Python would take tens of seconds.
    assert elapsed_s < 5, elapsed_s


class ThreadRecordingEngine(Engine):
    """Records the thread each evaluation ran on."""

    threads: list[str]

    def _evaluate(self, *args: object, **kwargs: object) -> object:  # type: ignore[override]
        self.threads.append(threading.current_thread().name)
        return super()._evaluate(*args, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("query", "end_ms", "where"),
    [
        ("up", 600_000, "loop"),  # 2 series x 41 steps and 80 samples
        ("rate(up[1m])", 600_000, "loop"),
        ("max_over_time(up[1m:15s])", 600_000, "thread"),  # a subquery: its work is not foreseen
        ("up", 15_000 * (INLINE_CELLS // 2), "thread"),  # 2 series x 10,001 steps
    ],
)
async def test_small_queries_are_evaluated_on_the_event_loop_and_the_rest_in_a_thread(
    query: str, end_ms: int, where: str
) -> None:
    e = ThreadRecordingEngine(MemorySource(DATA))
    e.threads = []
    result = await e.range_query(query, 0, end_ms, 15_000)
    assert result.series
    loop_thread = threading.current_thread().name
    assert e.threads == [loop_thread] if where == "loop" else e.threads != [loop_thread]
    assert len(e.threads) == 1
