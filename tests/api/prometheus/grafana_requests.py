"""The HTTP requests Grafana's Prometheus data source sends for a dashboard, and a client that sends them.

The rules, as Grafana 11 applies them (``pkg/promlib``; the browser's part in ``rangeUtil``):

- **Interval** (``$__interval``): the time range divided by the panel's data points (``maxDataPoints``, else
  its width in pixels), rounded to a "nice" duration (`round_interval_ms`); never below the minimum, which
  is the target's ``interval`` or else the data source's scrape interval (``timeInterval``, 15 s here, as
  the dashboard's README asks), and never below the range / 11,000 (Prometheus's point limit). The step of a
  range query is that interval (``intervalFactor`` 1).
- **Rate interval** (``$__rate_interval``): max(interval + scrape interval, 4 × scrape interval), written as
  Go writes a duration (``1m0s``, ``1m15s``: `go_duration`); the interval here is the one the browser
  computed (rounded first, then raised to the minimum).
- ``$__interval_ms``, ``$__range`` (whole seconds, rounded, plus ``s``), ``$__range_s``, ``$__range_ms``,
  ``$__rate_interval_ms`` follow from those.
- **Range queries** (``POST /api/v1/query_range``, form body): start and end each rounded *down* to a
  multiple of the step (UTC, no offset); times as seconds with the fraction only when there is one.
- **Instant queries** (``POST /api/v1/query``): at the range's end, not aligned.
- **Variables** (``label_values(selector, label)``): ``GET /api/v1/label/<label>/values`` with
  ``match[]`` = the selector (its variables filled in), ``start`` and ``end`` in whole seconds (start
  rounded down, end up); values sorted alphabetically (the variables' ``sort: 1``); the first is selected
  unless the caller prefers another. Grafana asks ``/api/v1/series`` with the same ``match[]`` instead where
  a Prometheus lacks ``match[]`` on label values; `variable_requests` gives both, so both are compared.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from tests.api.prometheus.node_exporter_full import PanelQuery, TemplateVariable, fill

SCRAPE_INTERVAL_MS = 15_000
SAFE_RESOLUTION = 11_000
_NICE_MS = (
    (15, 10),
    (35, 20),
    (75, 50),
    (150, 100),
    (350, 200),
    (750, 500),
    (1_500, 1_000),
    (3_500, 2_000),
    (7_500, 5_000),
    (12_500, 10_000),
    (17_500, 15_000),
    (25_000, 20_000),
    (45_000, 30_000),
    (90_000, 60_000),
    (210_000, 120_000),
    (450_000, 300_000),
    (750_000, 600_000),
    (1_050_000, 900_000),
    (1_500_000, 1_200_000),
    (2_700_000, 1_800_000),
    (5_400_000, 3_600_000),
    (9_000_000, 7_200_000),
    (16_200_000, 10_800_000),
    (32_400_000, 21_600_000),
    (86_400_000, 43_200_000),
    (604_800_000, 86_400_000),
    (1_814_400_000, 604_800_000),
)
"""(up to and including this many ms, the nice interval): Grafana's rounding table."""
_UNITS_MS = (("y", 31_536_000_000), ("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000))

Ask = Callable[[str, Mapping[str, str]], Awaitable[dict[str, Any]]]
"""Sends one request (path, parameters) to a Prometheus-compatible API; returns its JSON body."""


@dataclass(frozen=True)
class TimeRange:
    """The dashboard's time range, Unix milliseconds."""

    from_ms: int
    to_ms: int

    @property
    def span_ms(self) -> int:
        """The range's length."""
        return self.to_ms - self.from_ms


@dataclass(frozen=True)
class Request:
    """One HTTP request of the data source."""

    path: str
    params: dict[str, str]

    def describe(self) -> str:
        """The request in one line."""
        shown = " ".join(f"{k}={v}" for k, v in self.params.items() if k != "query")
        return f"{self.path} {self.params.get('query', '')!r} {shown}"


def round_interval_ms(interval_ms: float) -> int:
    """Grafana's "nice" interval for a raw one."""
    for limit, nice in _NICE_MS:
        if interval_ms <= limit:
            return nice
    return 2_592_000_000 if interval_ms < 3_628_800_000 else 31_536_000_000


def format_interval(interval_ms: int) -> str:
    """An interval as Grafana writes ``$__interval``: its largest whole unit (``1m``, ``30s``, ``500ms``)."""
    for unit, size in _UNITS_MS:
        if interval_ms >= size:
            return f"{interval_ms // size}{unit}"
    return f"{max(interval_ms, 1)}ms"


def go_duration(duration_ms: int) -> str:
    """A duration as Go's ``time.Duration.String`` writes it: ``1m0s``, ``2h0m0s``, ``1.5s``, ``250ms``."""
    if duration_ms == 0:
        return "0s"
    if duration_ms < 1_000:
        return f"{duration_ms}ms"
    hours, rest = divmod(duration_ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds = f"{rest // 1000}" if rest % 1000 == 0 else f"{rest / 1000:g}"
    if hours:
        return f"{hours}h{minutes}m{seconds}s"
    if minutes:
        return f"{minutes}m{seconds}s"
    return f"{seconds}s"


def parse_interval_ms(text: str) -> int:
    """A Grafana interval (``15s``, ``1m``, ``2h``, ``500ms``; a bare number is seconds) in milliseconds."""
    text = text.strip("<>")
    if text.isdigit():
        return int(text) * 1000
    if text.endswith("ms") and text[:-2].isdigit():
        return int(text[:-2])
    for unit, size in _UNITS_MS:
        if text.endswith(unit) and text[:-1].isdigit():
            return int(text[:-1]) * size
    raise ValueError(f"not a Grafana interval: {text!r}")


def _min_interval_ms(query: PanelQuery, scrape_interval_ms: int) -> int:
    if not query.min_interval or query.min_interval.startswith("$"):
        return scrape_interval_ms
    return parse_interval_ms(query.min_interval)


def step_ms(query: PanelQuery, time_range: TimeRange, scrape_interval_ms: int = SCRAPE_INTERVAL_MS) -> int:
    """The step of the range query (and ``$__interval``), as Grafana's backend computes it."""
    minimum = _min_interval_ms(query, scrape_interval_ms)
    raw = time_range.span_ms / query.max_data_points
    calculated = minimum if raw < minimum else round_interval_ms(raw)
    return max(calculated, round_interval_ms(time_range.span_ms / SAFE_RESOLUTION))


def browser_interval_ms(
    query: PanelQuery, time_range: TimeRange, scrape_interval_ms: int = SCRAPE_INTERVAL_MS
) -> int:
    """The interval the browser sends with the query (``intervalMs``): rounded, then raised to the minimum."""
    return max(
        round_interval_ms(time_range.span_ms / query.max_data_points),
        _min_interval_ms(query, scrape_interval_ms),
    )


def builtins(
    query: PanelQuery, time_range: TimeRange, scrape_interval_ms: int = SCRAPE_INTERVAL_MS
) -> dict[str, str]:
    """Grafana's built-in variables for ``query`` over ``time_range``."""
    step = step_ms(query, time_range, scrape_interval_ms)
    requested_min = _min_interval_ms(query, scrape_interval_ms)
    rate_ms = max(
        browser_interval_ms(query, time_range, scrape_interval_ms) + requested_min, 4 * requested_min
    )
    range_s = math.floor(time_range.span_ms / 1000 + 0.5)
    return {
        "__interval_ms": str(step),
        "__interval": format_interval(step),
        "__range_ms": str(time_range.span_ms),
        "__range_s": str(range_s),
        "__range": f"{range_s}s",
        "__rate_interval_ms": str(rate_ms),
        "__rate_interval": go_duration(rate_ms),
    }


def seconds(ms: int) -> str:
    """Unix milliseconds as Grafana writes a time parameter: seconds, a fraction only when there is one."""
    whole, fraction = divmod(ms, 1000)
    return str(whole) if fraction == 0 else f"{whole}.{fraction:03d}".rstrip("0")


def panel_requests(
    query: PanelQuery,
    variables: Mapping[str, str],
    time_range: TimeRange,
    scrape_interval_ms: int = SCRAPE_INTERVAL_MS,
) -> list[Request]:
    """The requests Grafana sends for one target: a range query, an instant query, or both."""
    expr = fill(query.expr, {**variables, **builtins(query, time_range, scrape_interval_ms)})
    out = []
    if query.range:
        step = step_ms(query, time_range, scrape_interval_ms)
        start = time_range.from_ms // step * step
        end = time_range.to_ms // step * step
        params = {"query": expr, "start": seconds(start), "end": seconds(end), "step": seconds(step)}
        out.append(Request("/api/v1/query_range", params))
    if query.instant:
        out.append(Request("/api/v1/query", {"query": expr, "time": seconds(time_range.to_ms)}))
    return out


def variable_requests(
    variable: TemplateVariable, variables: Mapping[str, str], time_range: TimeRange
) -> tuple[Request, Request | None]:
    """The label values request for ``variable`` and, where it has a selector, the series request."""
    params = {"start": str(time_range.from_ms // 1000), "end": str(-(-time_range.to_ms // 1000))}
    if not variable.selector:
        return Request(f"/api/v1/label/{variable.label}/values", params), None
    selector = fill(variable.selector, variables)
    labels = Request(f"/api/v1/label/{variable.label}/values", {"match[]": selector, **params})
    return labels, Request("/api/v1/series", {"match[]": selector, **params})


def label_values(body: Mapping[str, Any]) -> list[str]:
    """The values of a label values answer, sorted as the dashboard's variables sort them."""
    return sorted(body.get("data") or [])


def asker(session: aiohttp.ClientSession, base_url: str, headers: Mapping[str, str] | None = None) -> Ask:
    """Sends requests as the data source does: queries and series as POST forms, label values as GET."""

    async def ask(path: str, params: Mapping[str, str]) -> dict[str, Any]:
        url = base_url + path
        if path.startswith("/api/v1/label/"):
            response = await session.get(url, params=dict(params), headers=headers)
        else:
            response = await session.post(url, data=dict(params), headers=headers)
        async with response:
            body: dict[str, Any] = await response.json(content_type=None)
            return body

    return ask
