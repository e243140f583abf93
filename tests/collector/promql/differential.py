"""The differential harness: the same samples in Debian's Prometheus and in our engine, queries compared.

`dataset()` makes deterministic series (counters with resets, gauges, a histogram, jittered scrapes, series
that stop and come back, NaN and infinities); `Oracle` backfills them into a Prometheus with promtool,
adds a series with real staleness markers through remote write (backfilled blocks cannot carry them),
and answers queries over HTTP on 127.0.0.1. `compare()` checks one query both ways, value by value.
"""

from __future__ import annotations

import asyncio
import json
import math
import shutil
import struct
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from collector.promql import Engine, MemorySource, PromQLError, Series
from collector.promql.types import STALE_NAN_BITS, InstantVector, Matrix, Result, Scalar, String
from tests.ports import free_port, wait_port

T0_MS = 1_700_000_000_000 - 1_700_000_000_000 % 3_600_000
SPAN_MS = 4 * 3_600_000
STALE_START_MS = T0_MS + SPAN_MS + 600_000
REL_TOLERANCE = 1e-6
ABS_TOLERANCE = 1e-9


def _scrapes(rng: np.random.Generator, interval_ms: int, jitter_ms: int = 0) -> np.ndarray:
    ts = np.arange(T0_MS, T0_MS + SPAN_MS, interval_ms, dtype=np.int64)
    if jitter_ms:
        # Multiples of 125 ms stay exact through OpenMetrics' float seconds.
        ts = ts + rng.integers(-jitter_ms // 125, jitter_ms // 125 + 1, len(ts)) * 125
    return ts


def _counter(rng: np.random.Generator, count: int, resets: int) -> np.ndarray:
    increments = rng.integers(0, 20, count).astype(np.float64)
    values = np.cumsum(increments) + rng.integers(0, 1000)
    for at in rng.choice(np.arange(10, count - 10), resets, replace=False):
        values[at:] -= values[at] - rng.integers(0, 5)
    return values


def dataset() -> list[Series]:
    """The series both engines load (staleness ones apart: see `stale_series`)."""
    rng = np.random.default_rng(14)
    out: list[Series] = []
    for job, interval, jitter in (("api", 15_000, 0), ("web", 30_000, 2_000)):
        for instance in ("a:9100", "b:9100", "c:9100"):
            base = {"job": job, "instance": instance}
            ts = _scrapes(rng, interval, jitter)
            for method in ("get", "post"):
                labels = {"__name__": "http_requests_total", **base, "method": method}
                out.append(Series(labels, ts, _counter(rng, len(ts), resets=2)))
            load = np.round(np.abs(np.cumsum(rng.normal(0, 0.3, len(ts)))) + 0.5, 3)
            out.append(Series({"__name__": "node_load1", **base}, ts, load))
            out.append(
                Series({"__name__": "temperature_delta", **base}, ts, np.round(rng.normal(0, 5, len(ts)), 2))
            )
            counts = np.zeros(len(ts))
            for le in ("0.1", "0.5", "1", "5", "+Inf"):
                counts = counts + _counter(rng, len(ts), resets=0) / 10
                bucket = {"__name__": "request_duration_seconds_bucket", **base, "le": le}
                out.append(Series(bucket, ts, counts.copy()))
            out.append(Series({"__name__": "request_duration_seconds_count", **base}, ts, counts.copy()))
    ts = _scrapes(rng, 15_000)
    gap = (ts < T0_MS + 3_600_000) | (ts > T0_MS + 3_600_000 + 900_000)
    out.append(Series({"__name__": "flaky_up", "instance": "d:9100"}, ts[gap], np.ones(gap.sum())))
    ends = ts < T0_MS + 2 * 3_600_000 + 123_000
    out.append(Series({"__name__": "flaky_up", "instance": "e:9100"}, ts[ends], np.ones(ends.sum())))
    odd = np.round(rng.normal(10, 3, len(ts)), 1)
    odd[100:110] = np.nan
    odd[200] = np.inf
    odd[300] = -np.inf
    out.append(Series({"__name__": "odd_gauge", "instance": "d:9100"}, ts, odd))
    out.append(
        Series({"__name__": "build_info", "instance": "d:9100", "version": "1.2"}, ts, np.ones(len(ts)))
    )
    out.append(
        Series({"__name__": "build_info", "instance": "e:9100", "version": "1.3"}, ts, np.ones(len(ts)))
    )
    return out


def stale_series() -> list[Series]:
    """Series with real staleness markers, after the backfilled span."""
    ts = np.arange(STALE_START_MS, STALE_START_MS + 1_800_000, 15_000, dtype=np.int64)
    values = np.arange(len(ts), dtype=np.float64)
    stale = np.full(len(ts), STALE_NAN_BITS, dtype=np.uint64).view(np.float64)
    marked = (ts >= STALE_START_MS + 600_000) & (ts < STALE_START_MS + 900_000)
    first = np.where(marked, stale, values)
    # A marker then silence: the series ends at once instead of 5 minutes later.
    cut = ts <= STALE_START_MS + 1_200_000
    second_values = np.where(ts == STALE_START_MS + 1_200_000, stale, values)
    return [
        Series({"__name__": "stale_gauge", "instance": "s:1"}, ts, first),
        Series({"__name__": "stale_gauge", "instance": "s:2"}, ts[cut], second_values[cut]),
    ]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _openmetrics(series: Sequence[Series]) -> str:
    lines = []
    names: dict[str, list[Series]] = {}
    for item in series:
        names.setdefault(item.labels["__name__"], []).append(item)
    for name, members in names.items():
        lines.append(f"# TYPE {name} unknown")
        for item in members:
            labels = ",".join(
                f'{k}="{_escape(v)}"' for k, v in sorted(item.labels.items()) if k != "__name__"
            )
            for t, v in zip(item.ts.tolist(), item.values.tolist(), strict=True):
                value = (
                    "NaN"
                    if math.isnan(v)
                    else ("+Inf" if v == math.inf else "-Inf" if v == -math.inf else repr(v))
                )
                lines.append(f"{name}{{{labels}}} {value} {t / 1000}")
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _write_request(series: Sequence[Series]) -> bytes:
    """A remote-write WriteRequest, protobuf encoded by hand (labels, then samples)."""
    body = bytearray()
    for item in series:
        ts_body = bytearray()
        for name, value in sorted(item.labels.items()):
            ts_body += _field(1, _field(1, name.encode()) + _field(2, value.encode()))
        for t, v in zip(item.ts.tolist(), item.values.view(np.uint64).tolist(), strict=True):
            sample = b"\x09" + struct.pack("<Q", v) + b"\x10" + _varint(t)
            ts_body += _field(2, sample)
        body += _field(1, bytes(ts_body))
    return bytes(body)


def _snappy_literal(data: bytes) -> bytes:
    """Snappy block format with literals only: valid, uncompressed."""
    out = bytearray(_varint(len(data)))
    for start in range(0, len(data), 65536):
        chunk = data[start : start + 65536]
        out += (
            bytes([62 << 2]) + (len(chunk) - 1).to_bytes(3, "little")
            if len(chunk) > 60
            else bytes([(len(chunk) - 1) << 2])
        )
        out += chunk
    return bytes(out)


class Oracle:
    """A Prometheus on 127.0.0.1 holding the dataset (or ``loaded``, then ``marked``); stop() ends it.

    With nothing ``loaded`` it starts on what ``workdir`` holds, with ``config`` (say, scrape jobs).
    """

    def __init__(
        self,
        workdir: Path,
        loaded: Sequence[Series] | None = None,
        marked: Sequence[Series] = (),
        config: str = "global:\n  evaluation_interval: 1m\n",
    ) -> None:
        prometheus, promtool = shutil.which("prometheus"), shutil.which("promtool")
        if prometheus is None or promtool is None:
            raise FileNotFoundError("prometheus and promtool (Debian package 'prometheus') are needed")
        data = workdir / "data"
        series = dataset() if loaded is None else loaded
        if series:
            source = workdir / "samples.om"
            source.write_text(_openmetrics(series))
            subprocess.run(
                [promtool, "tsdb", "create-blocks-from", "openmetrics", str(source), str(data)],
                check=True,
                capture_output=True,
                timeout=300,
            )
        config_file = workdir / "prometheus.yml"
        config_file.write_text(config)
        self.port = free_port()
        self.log = (workdir / "prometheus.log").open("ab")
        self.process = subprocess.Popen(
            [
                prometheus,
                f"--config.file={config_file}",
                f"--storage.tsdb.path={data}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--storage.tsdb.retention.time=100y",
                "--web.enable-remote-write-receiver",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_port(self.port, 60)
            self._wait_ready()
            stale = stale_series() if loaded is None else list(marked)
            if stale:
                self._remote_write(stale)
        except BaseException:
            self.stop()
            raise

    @property
    def url(self) -> str:
        """Its base URL."""
        return f"http://127.0.0.1:{self.port}"

    def _url(self, path: str) -> str:
        return self.url + path

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self._url("/-/ready"), timeout=5) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        raise TimeoutError("prometheus did not become ready")

    def _remote_write(self, series: Sequence[Series]) -> None:
        request = urllib.request.Request(
            self._url("/api/v1/write"),
            data=_snappy_literal(_write_request(series)),
            headers={
                "Content-Encoding": "snappy",
                "Content-Type": "application/x-protobuf",
                "X-Prometheus-Remote-Write-Version": "0.1.0",
            },
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status in (200, 204)

    def query(self, params: dict[str, str], path: str) -> dict[str, object]:
        """The JSON answer of /api/v1/query or /api/v1/query_range."""
        url = self._url(path) + "?" + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(url, timeout=60) as response:
                body: dict[str, object] = json.load(response)
        except urllib.error.HTTPError as exc:
            body = json.load(exc)
        return body

    def stop(self) -> None:
        """End the Prometheus process."""
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def engine() -> Engine:
    """Our engine over the same samples."""
    return Engine(MemorySource([*dataset(), *stale_series()]))


@dataclass(frozen=True)
class Case:
    """One query: instant at ``time_ms``, or range when ``step_ms``."""

    query: str
    time_ms: int = T0_MS + 2 * 3_600_000
    end_ms: int = 0
    step_ms: int = 0

    def describe(self) -> str:
        """The case in one line."""
        if self.step_ms:
            return f"range {self.query!r} [{self.time_ms}..{self.end_ms} step {self.step_ms}]"
        return f"instant {self.query!r} @ {self.time_ms}"


Points = dict[tuple[tuple[str, str], ...], list[tuple[int, float]]]


def _parse_value(text: str) -> float:
    return float(text.replace("Inf", "inf"))


def _oracle_points(body: dict[str, object]) -> tuple[str, Points | str]:
    data = body["data"]
    assert isinstance(data, dict)
    kind, result = data["resultType"], data["result"]
    if kind == "scalar":
        return kind, {(): [(round(result[0] * 1000), _parse_value(result[1]))]}
    if kind == "string":
        return kind, result[1]
    points: Points = {}
    for item in result:
        key = tuple(sorted(item["metric"].items()))
        pairs = item["values"] if kind == "matrix" else [item["value"]]
        points[key] = [(round(t * 1000), _parse_value(v)) for t, v in pairs]
    return kind, points


def _our_points(result: Result) -> tuple[str, Points | str]:
    if isinstance(result, String):
        return "string", result.value
    if isinstance(result, Scalar):
        return "scalar", {(): [(result.time_ms, result.value)]}
    if isinstance(result, InstantVector):
        return "vector", {
            tuple(sorted(s.labels.items())): [(result.time_ms, s.value)] for s in result.samples
        }
    assert isinstance(result, Matrix)
    return "matrix", {
        tuple(sorted(s.labels.items())): list(zip(s.ts.tolist(), s.values.tolist(), strict=True))
        for s in result.series
    }


def _close(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=REL_TOLERANCE, abs_tol=ABS_TOLERANCE)


def _order(body: dict[str, object]) -> list[float]:
    data = body["data"]
    assert isinstance(data, dict)
    return [_parse_value(item["value"][1]) for item in data["result"]]


def compare(oracle: Oracle, ours: Engine, case: Case) -> str | None:
    """None when both engines agree on ``case``, else what differs."""
    if case.step_ms:
        params = {
            "query": case.query,
            "start": str(case.time_ms / 1000),
            "end": str(case.end_ms / 1000),
            "step": str(case.step_ms / 1000),
        }
        body = oracle.query(params, "/api/v1/query_range")
    else:
        body = oracle.query({"query": case.query, "time": str(case.time_ms / 1000)}, "/api/v1/query")
    try:
        if case.step_ms:
            result: Result = asyncio.run(
                ours.range_query(case.query, case.time_ms, case.end_ms, case.step_ms)
            )
        else:
            result = asyncio.run(ours.instant_query(case.query, case.time_ms))
    except PromQLError as exc:
        if body.get("status") == "error":
            if body.get("errorType") == exc.error_type:
                return None
            theirs = f"{body.get('errorType')}: {body.get('error')}"
            return f"error types differ: prometheus {theirs}; ours {exc.error_type}: {exc}"
        return f"we failed ({exc.error_type}: {exc}) where prometheus answered"
    if body.get("status") == "error":
        return f"prometheus failed ({body.get('errorType')}: {body.get('error')}) where we answered"
    kind, expected = _oracle_points(body)
    our_kind, got = _our_points(result)
    if kind != our_kind:
        return f"result types differ: prometheus {kind}, ours {our_kind}"
    if isinstance(expected, str) or isinstance(got, str):
        return None if expected == got else f"strings differ: {expected!r} vs {got!r}"
    if set(expected) != set(got):
        missing, extra = set(expected) - set(got), set(got) - set(expected)
        return f"series differ: missing {sorted(missing)[:3]}, extra {sorted(extra)[:3]}"
    for key, points in expected.items():
        mine = got[key]
        if [t for t, _ in points] != [t for t, _ in mine]:
            return f"timestamps differ for {dict(key)}: {points[:3]}... vs {mine[:3]}..."
        for (t, a), (_, b) in zip(points, mine, strict=True):
            if not _close(a, b):
                return f"value differs for {dict(key)} at {t}: prometheus {a!r}, ours {b!r}"
    if kind == "vector" and case.query.startswith("sort"):
        assert isinstance(result, InstantVector)
        their_order, our_order = _order(body), [s.value for s in result.samples]
        if not all(_close(a, b) for a, b in zip(their_order, our_order, strict=True)):
            return f"order differs: {their_order} vs {our_order}"
    return None


def request_of(case: Case) -> tuple[str, dict[str, str]]:
    """The HTTP path and parameters that ask ``case`` of a Prometheus-compatible API."""
    if case.step_ms:
        return "/api/v1/query_range", {
            "query": case.query,
            "start": str(case.time_ms / 1000),
            "end": str(case.end_ms / 1000),
            "step": str(case.step_ms / 1000),
        }
    return "/api/v1/query", {"query": case.query, "time": str(case.time_ms / 1000)}


def compare_bodies(expected: dict[str, object], got: dict[str, object], query: str) -> str | None:
    """None when two JSON answers of a Prometheus-compatible API agree (values to the tolerance)."""
    if expected.get("status") == "error" or got.get("status") == "error":
        if expected.get("status") == got.get("status") and expected.get("errorType") == got.get("errorType"):
            return None
        theirs = f"{expected.get('status')} {expected.get('errorType')}: {expected.get('error')}"
        ours = f"{got.get('status')} {got.get('errorType')}: {got.get('error')}"
        return f"outcomes differ: expected {theirs}, got {ours}"
    kind, want = _oracle_points(expected)
    our_kind, have = _oracle_points(got)
    if kind != our_kind:
        return f"result types differ: expected {kind}, got {our_kind}"
    if isinstance(want, str) or isinstance(have, str):
        return None if want == have else f"strings differ: {want!r} vs {have!r}"
    if set(want) != set(have):
        missing, extra = set(want) - set(have), set(have) - set(want)
        return f"series differ: missing {sorted(missing)[:3]}, extra {sorted(extra)[:3]}"
    for key, points in want.items():
        mine = have[key]
        if [t for t, _ in points] != [t for t, _ in mine]:
            return f"timestamps differ for {dict(key)}: {points[:3]}... vs {mine[:3]}..."
        for (t, a), (_, b) in zip(points, mine, strict=True):
            if not _close(a, b):
                return f"value differs for {dict(key)} at {t}: expected {a!r}, got {b!r}"
    if kind == "vector" and query.startswith("sort") and not _same_order(expected, got):
        return f"order differs: {_order(expected)} vs {_order(got)}"
    return None


def _same_order(expected: dict[str, object], got: dict[str, object]) -> bool:
    return all(_close(a, b) for a, b in zip(_order(expected), _order(got), strict=True))


def run(oracle: Oracle, ours: Engine, cases: list[Case]) -> Iterator[tuple[Case, str | None]]:
    """Every case and its difference (None when they agree)."""
    for case in cases:
        yield case, compare(oracle, ours, case)


H = 3_600_000
QUERIES = [
    # selectors, matchers, offset, @
    "http_requests_total",
    'http_requests_total{job="api"}',
    'http_requests_total{job!="api", method=~"g.*"}',
    'http_requests_total{instance!~"a:.*|b:.*"}',
    '{__name__=~"node_load1|temperature_delta", instance="a:9100"}',
    "node_load1 offset 10m",
    "node_load1 offset -10m",
    f"node_load1 @ {(T0_MS + H) / 1000}",
    "node_load1 @ start()",
    "node_load1 @ end() offset 5m",
    "flaky_up",
    "odd_gauge",
    "http_requests_total[2m]",
    "node_load1[1m] offset 1h",
    # rate family
    "rate(http_requests_total[5m])",
    "rate(http_requests_total[1m])",
    "rate(http_requests_total[30m] offset 30m)",
    "irate(http_requests_total[5m])",
    "increase(http_requests_total[10m])",
    "delta(temperature_delta[10m])",
    "idelta(node_load1[5m])",
    "deriv(node_load1[10m])",
    "predict_linear(node_load1[15m], 600)",
    "resets(http_requests_total[1h])",
    "changes(node_load1[10m])",
    "changes(odd_gauge[30m])",
    # over_time
    "avg_over_time(node_load1[10m])",
    "sum_over_time(temperature_delta[7m])",
    "min_over_time(odd_gauge[10m])",
    "max_over_time(odd_gauge[10m])",
    "count_over_time(flaky_up[10m])",
    "last_over_time(node_load1[3m])",
    "present_over_time(flaky_up[10m])",
    "stddev_over_time(temperature_delta[10m])",
    "stdvar_over_time(node_load1[10m])",
    "quantile_over_time(0.9, temperature_delta[15m])",
    "quantile_over_time(0, node_load1[15m])",
    "absent_over_time(flaky_up[5m])",
    "absent_over_time(nonexistent[5m])",
    "holt_winters(node_load1[10m], 0.3, 0.6)",
    "avg_over_time(odd_gauge[20m])",
    "sum_over_time(odd_gauge[20m])",
    # aggregations
    "sum(http_requests_total)",
    "sum by (job) (rate(http_requests_total[5m]))",
    "sum without (method) (rate(http_requests_total[5m]))",
    "avg by (instance) (node_load1)",
    "count(node_load1)",
    "count by (job) (http_requests_total)",
    "min(temperature_delta)",
    "max by (job) (temperature_delta)",
    "group by (job) (http_requests_total)",
    "stddev(temperature_delta)",
    "stdvar by (job) (node_load1)",
    "topk(2, node_load1)",
    "bottomk(2, temperature_delta)",
    "topk by (job) (1, rate(http_requests_total[5m]))",
    "quantile(0.5, node_load1)",
    "quantile by (job) (0.9, temperature_delta)",
    'count_values("load", round(node_load1))',
    'count_values by (job) ("v", round(temperature_delta / 5))',
    "max(odd_gauge)",
    # binary operators
    "node_load1 * 2",
    "2 - node_load1",
    "node_load1 > 1",
    "1 < node_load1",
    "node_load1 > bool 1",
    "node_load1 / temperature_delta",
    "node_load1 % 0.7",
    "node_load1 ^ 2",
    "node_load1 atan2 temperature_delta",
    "node_load1 == on(job, instance) node_load1",
    "http_requests_total / ignoring(method) group_left sum without (method) (http_requests_total)",
    "sum by (job, instance) (http_requests_total) / on(job, instance) group_right() http_requests_total",
    "node_load1 * on(instance) group_left(version) build_info",
    "rate(http_requests_total[5m]) > bool 0.5",
    "node_load1 and temperature_delta > 0",
    "node_load1 or flaky_up",
    "node_load1 unless on(instance) temperature_delta > 2",
    "http_requests_total and on(job) node_load1",
    "-node_load1",
    "1 + 2 * 3",
    "2 ^ 3 ^ 2",
    "10 % 3",
    "1 == bool 1",
    "(node_load1 + 1) * (node_load1 - 1)",
    # functions
    "abs(temperature_delta)",
    "ceil(node_load1)",
    "floor(temperature_delta)",
    "round(node_load1, 0.25)",
    "sqrt(node_load1)",
    "exp(node_load1 / 10)",
    "ln(node_load1)",
    "log2(node_load1)",
    "log10(node_load1)",
    "sgn(temperature_delta)",
    "clamp(temperature_delta, -2, 2)",
    "clamp_min(temperature_delta, 0)",
    "clamp_max(temperature_delta, 0)",
    "sin(node_load1) + cos(node_load1) + tan(node_load1)",
    "asin(clamp(temperature_delta / 20, -1, 1))",
    "acosh(node_load1 + 1)",
    "deg(pi()) + rad(180)",
    "scalar(sum(node_load1))",
    "scalar(node_load1)",
    "vector(1)",
    "vector(time())",
    "time()",
    "timestamp(node_load1)",
    "timestamp(http_requests_total offset 2m)",
    "timestamp(sum(node_load1))",
    "hour()",
    "minute(vector(time()))",
    "day_of_week()",
    "day_of_month()",
    "day_of_year()",
    "days_in_month()",
    "month()",
    "year()",
    "absent(nonexistent)",
    'absent(nonexistent{job="x", instance=~"y"})',
    "absent(node_load1)",
    "histogram_quantile(0.9, rate(request_duration_seconds_bucket[5m]))",
    "histogram_quantile(0.5, sum by (le, job) (rate(request_duration_seconds_bucket[10m])))",
    "histogram_quantile(0.99, request_duration_seconds_bucket)",
    'label_replace(node_load1, "host", "$1", "instance", "(.*):.*")',
    'label_replace(node_load1, "instance", "", "instance", ".*")',
    'label_join(node_load1, "id", "/", "job", "instance")',
    "sort(node_load1)",
    "sort_desc(temperature_delta)",
    # subqueries
    "max_over_time(rate(http_requests_total[5m])[30m:1m])",
    "avg_over_time(node_load1[10m:])",
    "rate(http_requests_total[10m:30s])",
    "min_over_time(node_load1[20m:2m] offset 10m)",
    "sum_over_time(sum(node_load1)[15m:1m])",
    "max_over_time(deriv(node_load1[5m])[20m:5m])",
    "node_load1[10m:1m]",
    # staleness
    "stale_gauge",
    "count_over_time(stale_gauge[10m])",
    "last_over_time(stale_gauge[10m])",
    f"rate(http_requests_total[5m] @ {(T0_MS + H) / 1000})",
    f"max_over_time(node_load1[10m:1m] @ {(T0_MS + 2 * H) / 1000})",
    "avg_over_time(node_load1[10m:1m] @ start())",
    "max_over_time(avg_over_time(node_load1[5m:1m])[20m:5m])",
    f"sum(node_load1 @ {(T0_MS + H) / 1000})",
    f"node_load1 @ {(T0_MS + H) / 1000} - node_load1",
    f"time() + node_load1 @ {(T0_MS + H) / 1000}",
    f"absent(nonexistent @ {(T0_MS + H) / 1000})",
    f"timestamp(node_load1 @ {(T0_MS + H) / 1000})",
    "http_requests_total offset 1h",
    "max_over_time(http_requests_total[20m:1m] offset 1h)",
    "rate(stale_gauge[5m])",
    "stale_gauge offset 1m",
    "irate(http_requests_total[1h])",
    "deriv(http_requests_total[20m])",
    "sum(node_load1) by (job)",
    "count(http_requests_total) without (method, instance)",
    'count_values without (instance) ("v", round(node_load1))',
    "topk(0, node_load1)",
    "topk(1.7, node_load1)",
    "bottomk(scalar(count(flaky_up)), node_load1)",
    "quantile(1.5, node_load1)",
    "quantile(-1, node_load1)",
    "histogram_quantile(0, rate(request_duration_seconds_bucket[5m]))",
    "histogram_quantile(1, rate(request_duration_seconds_bucket[5m]))",
    "histogram_quantile(2, rate(request_duration_seconds_bucket[5m]))",
    "sort(odd_gauge)",
    "sort_desc(odd_gauge)",
    "clamp(node_load1, 5, 1)",
    "round(temperature_delta)",
    "round(temperature_delta, 10)",
    "scalar(vector(1))",
    "vector(scalar(node_load1))",
    "avg(odd_gauge)",
    "node_load1 > bool on(job, instance) temperature_delta",
    "node_load1 > on(job, instance) group_left temperature_delta",
    "-sum(node_load1)",
    "- -node_load1",
    "1 / 0",
    "-1 / 0",
    "0 / 0",
    "NaN",
    "-Inf",
    '"a string"',
    'label_replace(node_load1, "x", "$1-$2-${1}y-$$-$9", "instance", "(.):(.*)")',
    'label_replace(node_load1, "x", "$name", "instance", "(?P<name>.):.*")',
    'label_join(node_load1, "job", "", "nonexistent")',
    "sum_over_time(node_load1[1h:10m])",
    "min_over_time(odd_gauge[30m:1m])",
    "resets(rate(http_requests_total[5m])[30m:1m])",
    "changes(flaky_up[30m])",
    "present_over_time(flaky_up[1m])",
    "last_over_time(flaky_up[1m] offset 5m)",
    "avg_over_time(flaky_up[20m:1m])",
    "stddev(odd_gauge)",
    "count(odd_gauge > 10)",
    "group(node_load1)",
    "sum by (le) (rate(request_duration_seconds_bucket[5m]))",
    f"predict_linear(node_load1[15m] @ {(T0_MS + 2 * H) / 1000}, 60)",
    f"timestamp(node_load1 @ {(T0_MS + H) / 1000} offset 5m)",
    f"max_over_time((node_load1 @ {(T0_MS + H) / 1000})[10m:1m] offset 20m)",
    f"max_over_time(max_over_time(node_load1[5m:1m] @ {(T0_MS + H) / 1000})[30m:7m])",
    f"hour(vector({(T0_MS + 5 * H) / 1000}))",
    # errors
    'rate({__name__=~"node_load1|temperature_delta"}[5m])',
    '{__name__=~"node_load1|temperature_delta"} * 1',
    "foo(node_load1)",
    "sum(",
    "{}",
    "rate(node_load1)",
    'label_replace(node_load1, "a-b", "x", "job", ".*")',
    "node_load1 + on(job) temperature_delta",
    "http_requests_total + ignoring(method) node_load1",
    "holt_winters(node_load1[10m], 2, 0.5)",
]
"""Queries over every construct; each is asked at several times and as range queries."""

DELIBERATE = {
    f"predict_linear(node_load1[15m] @ {(T0_MS + 2 * H) / 1000}, 60)": (
        "range queries only: Prometheus 2.42 moves the @-pinned window with the step "
        "(predict_linear is evaluated per step with an offset computed for the first step); "
        "we keep the window where @ puts it"
    ),
    f"timestamp(node_load1 @ {(T0_MS + H) / 1000} offset 5m)": (
        "Prometheus 2.42 looks the sample up at the @ time itself, dropping the offset, "
        "in data it read for the offset range; we apply the offset"
    ),
}
"""Queries where we differ from Prometheus 2.42 on purpose (listed in the README)."""

INSTANT_TIMES = [T0_MS + 2 * H, T0_MS + H + 450_000, T0_MS + 2 * H + 123_000 + 150_000, T0_MS + 3 * H + 7_500]
STALE_TIMES = [STALE_START_MS + 300_000, STALE_START_MS + 660_000, STALE_START_MS + 1_260_000]
RANGES = [
    (T0_MS + H, T0_MS + 3 * H, 60_000),
    (T0_MS + 30 * 60_000, T0_MS + 90 * 60_000, 37_000),
    (T0_MS, T0_MS + 4 * H, 300_000),
]
STALE_RANGE = (STALE_START_MS, STALE_START_MS + 1_800_000, 30_000)


def _cases_for(query: str, instant_times: list[int], ranges: list[tuple[int, int, int]]) -> list[Case]:
    cases = [Case(query, time_ms=t) for t in instant_times]
    if not query.endswith(("]", "m:1m]")) or "(" in query:
        cases += [Case(query, time_ms=start, end_ms=end, step_ms=step) for start, end, step in ranges]
    return cases


def full_cases() -> list[Case]:
    """Every query at every instant and every range: the bench's set."""
    cases: list[Case] = []
    for query in QUERIES:
        if "stale_gauge" in query:
            cases += _cases_for(query, STALE_TIMES, [STALE_RANGE])
        else:
            cases += _cases_for(query, INSTANT_TIMES, RANGES)
    return cases


def fast_cases() -> list[Case]:
    """Every query once as an instant query, and once as a range query where it can be one."""
    cases: list[Case] = []
    for number, query in enumerate(QUERIES):
        if query in DELIBERATE:
            continue
        stale = "stale_gauge" in query
        times = STALE_TIMES if stale else INSTANT_TIMES
        ranges = [STALE_RANGE] if stale else RANGES
        found = _cases_for(query, [times[number % len(times)]], [ranges[number % len(ranges)]])
        cases += found
    return cases
