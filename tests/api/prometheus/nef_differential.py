"""The "Node Exporter Full" differential: two real exporters' pages as history in Prometheus and in ours.

Two hosts run on loopback: our exporter (``openmanager-exporter``, job ``openmanager``) and Debian's
``prometheus-node-exporter`` (job ``node``) with the collectors that work unprivileged and whose series do
not come and go (`NODE_EXPORTER_ARGS`). Each is scraped once, in the text format, and its page is replayed
as a scrape every 15 s (each host at its own phase): counters grow by random steps, gauges wobble around
their scraped value, 0/1 gauges (info series, flags) stay, ``node_time_seconds`` follows the clock, and the
scrape adds ``up``, ``scrape_duration_seconds`` and ``scrape_samples_scraped``. The same samples go into
Debian's Prometheus (promtool backfill, `Oracle`) and through the collector's history write path into our
PostgreSQL, as the PromQL differential harness does. `compare_dashboard` then sends both what Grafana
sends for the dashboard with one host selected and compares the answers value by value (1e-6 relative).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import numpy as np

from collector.promql import Series
from collector.result import ScrapeResult, TargetInfo, server_id_for
from collector.scrape.parser import ParseResult, parse
from tests.api.prometheus.differential_history import series_key
from tests.api.prometheus.grafana_requests import (
    SCRAPE_INTERVAL_MS,
    Ask,
    Request,
    TimeRange,
    label_values,
    panel_requests,
    variable_requests,
)
from tests.api.prometheus.node_exporter_full import load, panel_queries, template_variables
from tests.collector.promql.differential import compare_bodies
from tests.peers import NODE_EXPORTER, exporter_processes

NODE_EXPORTER_ARGS = (
    "--collector.disable-defaults",
    *(
        f"--collector.{name}"
        for name in (
            *("conntrack", "cpu", "diskstats", "entropy", "filefd", "filesystem", "loadavg", "meminfo"),
            *("netclass", "netdev", "netstat", "pressure", "processes", "sockstat", "softnet", "stat"),
            *("time", "timex", "uname", "vmstat"),
        )
    ),
)
"""Collectors that answer without privileges or hardware (no hwmon, schedstat or systemd over D-Bus)."""
TEXT_FORMAT = "text/plain;version=0.0.4"
PHASES_MS = {"node": 3_250, "openmanager": 9_125}
"""Each host's scrape phase in the 15 s interval (multiples of 125 ms stay exact as float seconds)."""
_CUMULATIVE_SUFFIXES = ("_total", "_sum", "_count", "_bucket")


@dataclass(frozen=True)
class Host:
    """One host: its job, its instance and its scraped page."""

    job: str
    instance: str
    page: ParseResult

    def target(self) -> TargetInfo:
        """The target that scrapes it."""
        labels = (("instance", self.instance), ("job", self.job))
        url = f"http://{self.instance}/metrics"
        return TargetInfo(
            self.job, server_id_for(self.job, self.instance), self.job, self.instance, labels, url, 15, 10
        )


@contextmanager
def running_exporters() -> Iterator[dict[str, str]]:
    """Our exporter (job ``openmanager``) and Debian's node_exporter (job ``node``): job to address."""
    if NODE_EXPORTER is None:
        raise FileNotFoundError("prometheus-node-exporter (Debian package) is needed")
    with exporter_processes(node_job="node", node_args=NODE_EXPORTER_ARGS) as addresses:
        yield addresses


async def scrape_hosts(addresses: dict[str, str]) -> list[Host]:
    """Each exporter's page, scraped once in the text format and parsed by the collector's parser."""
    hosts = []
    async with aiohttp.ClientSession() as session:
        for job, address in sorted(addresses.items()):
            async with session.get(f"http://{address}/metrics", headers={"Accept": TEXT_FORMAT}) as response:
                response.raise_for_status()
                page = parse(await response.read(), response.headers.get("Content-Type"))
            hosts.append(Host(job, address, page))
    return hosts


def _cumulative(name: str, page: ParseResult) -> bool:
    meta = page.metadata.get(name)
    if meta is not None:
        return meta.type == "counter"
    for suffix in _CUMULATIVE_SUFFIXES:
        family = page.metadata.get(name.removesuffix(suffix))
        if name.endswith(suffix) and family is not None:
            return family.type in ("counter", "histogram", "summary")
    return name.endswith("_total")


def _values(
    name: str, value: float, cumulative: bool, ts: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    n = len(ts)
    if name == "node_time_seconds":
        return np.asarray(ts / 1000, dtype=np.float64)
    if cumulative:
        return np.asarray(value + np.cumsum(rng.random(n) * max(1.0, abs(value) * 1e-5)), dtype=np.float64)
    if value in (0.0, 1.0) or not np.isfinite(value):
        return np.full(n, value)
    return np.asarray(value * (1 + 0.02 * rng.standard_normal(n)), dtype=np.float64)


def replay(host: Host, start_ms: int, end_ms: int) -> list[Series]:
    """The host's page as a scrape every 15 s from ``start_ms`` (at its phase) up to ``end_ms``."""
    first = start_ms + PHASES_MS[host.job]
    ts = np.arange(first, end_ms + 1, SCRAPE_INTERVAL_MS, dtype=np.int64)
    rng = np.random.default_rng(zlib.crc32(host.job.encode()))
    base = {"job": host.job, "instance": host.instance}
    out = []
    for sample in host.page.samples:
        values = _values(sample.name, sample.value, _cumulative(sample.name, host.page), ts, rng)
        out.append(Series({"__name__": sample.name, **dict(sample.labels), **base}, ts, values))
    synthetic = {
        "up": np.ones(len(ts)),
        "scrape_duration_seconds": np.round(0.01 + 0.04 * rng.random(len(ts)), 4),
        "scrape_samples_scraped": np.full(len(ts), float(len(host.page.samples))),
    }
    out.extend(Series({"__name__": name, **base}, ts, values) for name, values in synthetic.items())
    return out


def scrape_results(host: Host, series: Sequence[Series]) -> list[ScrapeResult]:
    """The replayed scrapes as the collector hands them to storage: one result per host and time."""
    target = host.target()
    keys = tuple(series_key(dict(item.labels)) for item in series)
    matrix = np.stack([item.values for item in series], axis=1)
    return [
        ScrapeResult(
            target=target,
            timestamp_ms=int(t),
            duration_s=0.02,
            error=None,
            error_reason=None,
            series=keys,
            series_set_id=f"nef-{host.job}",
            values=row.tolist(),
        )
        for t, row in zip(series[0].ts.tolist(), matrix, strict=True)
    ]


@dataclass
class Outcome:
    """One host kind's comparison: how many requests agreed, how many had data, and what differed."""

    job: str
    requests: int = 0
    with_data: int = 0
    differences: list[tuple[str, str]] = field(default_factory=list)

    def add(self, what: str, request: Request, expected: dict[str, Any], difference: str | None) -> None:
        """Count one request, whether Prometheus's answer (``expected``) had data, and its difference."""
        self.requests += 1
        self.with_data += _has_data(expected)
        if difference is not None:
            self.differences.append((f"{what}: {request.describe()}", difference))

    def summary(self) -> str:
        """``N/M agree`` with the host kind and how many answers carried data."""
        agreed = self.requests - len(self.differences)
        return f"{self.job}: {agreed}/{self.requests} agree ({self.with_data} answered with data)"


def _has_data(body: dict[str, Any]) -> bool:
    data = body.get("data")
    result = data.get("result") if isinstance(data, dict) else data
    return bool(result)


async def compare_dashboard(
    theirs: Ask, ours: Ask, time_range: TimeRange, job: str, scrape_interval_ms: int = SCRAPE_INTERVAL_MS
) -> Outcome:
    """Grafana's requests for the dashboard with ``job``'s host selected, asked of both, compared.

    ``scrape_interval_ms`` is the data source's scrape interval (``timeInterval``).
    """
    dashboard = load()
    outcome = Outcome(job)
    selected: dict[str, str] = {}
    for variable in template_variables(dashboard):
        labels, series = variable_requests(variable, selected, time_range)
        expected, got = await theirs(labels.path, labels.params), await ours(labels.path, labels.params)
        mine, wanted = label_values(got), label_values(expected)
        outcome.add(f"${variable.name}", labels, expected, None if mine == wanted else f"{wanted} vs {mine}")
        if series is not None:
            expected, got = await theirs(series.path, series.params), await ours(series.path, series.params)
            same = _series_set(expected) == _series_set(got)
            outcome.add(f"${variable.name}", series, expected, None if same else "series differ")
        preferred = job if variable.label == "job" else None
        selected[variable.name] = preferred if preferred in wanted else (wanted[0] if wanted else "")
    for query in panel_queries(dashboard):
        for request in panel_requests(query, selected, time_range, scrape_interval_ms):
            expected, got = (
                await theirs(request.path, request.params),
                await ours(request.path, request.params),
            )
            outcome.add(
                query.describe(), request, expected, compare_bodies(expected, got, request.params["query"])
            )
    return outcome


def _series_set(body: dict[str, Any]) -> set[tuple[tuple[str, str], ...]]:
    return {tuple(sorted(item.items())) for item in body.get("data") or []}
