"""``/api/monitoring/…``: live server status, metric history, Redis and PostgreSQL health.

Thin handlers over the storage read layer (:mod:`collector.storage.live_read`,
:mod:`collector.storage.history_read`, :mod:`collector.storage.pgstats`). Viewers and above read servers and
history, each seeing only the servers granted to them (admins see all); the store statistics expose
infrastructure details and need the operator role.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal
from uuid import UUID

from aiohttp import web
from pydantic import BaseModel, BeforeValidator, Field, WithJsonSchema

from api.auth.authz import allowed_servers, require_server
from api.errors import ApiError
from api.fleet import FleetCache, encode_listing
from api.keys import FLEET, STORES
from api.openapi import ApiRoutes, BodyModel, QueryModel, body_of, query_of
from collector.config.units import parse_duration
from collector.matchers import Matcher
from collector.storage.history_read import series_range, server_history
from collector.storage.live_read import ServerStatus, get_server, matches, redis_stats
from collector.storage.pgstats import postgres_stats
from collector.summary import Status

MAX_POINTS = 11_000
"""The most points one performance answer may hold (the history layer's own bound)."""
DEFAULT_RANGE = timedelta(hours=1)
_DEFAULT_POINTS = 360
_MAX_STEP_S = 366 * 86400
_LATEST_UNIX_S = 253_402_300_799  # 9999-12-31T23:59:59Z: the last instant a datetime can hold
_UNIX = re.compile(r"\d{1,12}(\.\d{1,9})?")


def parse_time(value: object) -> datetime:
    """An instant from RFC 3339 text (with an offset) or Unix seconds; ValueError says which form to use."""
    if isinstance(value, datetime):
        return value
    text = str(value).strip()
    if _UNIX.fullmatch(text):
        seconds = float(text)
        if seconds > _LATEST_UNIX_S:
            raise ValueError("Unix time is out of range")
        return datetime.fromtimestamp(seconds, UTC)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError("expected RFC 3339 (2024-05-01T12:00:00Z) or Unix seconds") from None
    if parsed.tzinfo is None:
        raise ValueError("an RFC 3339 time needs an offset, e.g. Z or +09:00")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError("time is out of range") from None


def parse_step(value: object) -> int:
    """Whole seconds from ``60`` or a Prometheus duration (``1m``, ``1h30m``, ``1w``); at least 1 s."""
    text = str(value).strip()
    try:
        seconds = float(text) if text.isdigit() else parse_duration(text)
    except ValueError:
        raise ValueError("expected seconds (60) or a duration like 30s, 1m, 1h30m, 2d") from None
    if not 1 <= seconds <= _MAX_STEP_S:
        raise ValueError(f"step must be between 1 s and {_MAX_STEP_S} s")
    if not seconds.is_integer():
        raise ValueError("step must be a whole number of seconds")
    return int(seconds)


Instant = Annotated[
    datetime,
    BeforeValidator(parse_time),
    WithJsonSchema({"type": "string", "description": "RFC 3339 time or Unix seconds"}),
]
Step = Annotated[
    int,
    BeforeValidator(parse_step),
    WithJsonSchema({"type": "string", "description": "seconds (60) or a duration (30s, 1m, 1h, 1d)"}),
]
Points = Annotated[
    list[tuple[float, float]],
    # A pair as an array of two numbers: plainer than prefixItems, which not every OpenAPI tool reads.
    WithJsonSchema(
        {
            "type": "array",
            "items": {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2},
        }
    ),
]
LabelFilter = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*=.*$", max_length=512)]


class _ServerFilters(BaseModel):
    status: Status | None = Field(None, description="only servers with this status")
    name: str | None = Field(
        None, max_length=256, description="case-insensitive part of the name, instance or server id"
    )
    label: LabelFilter | None = Field(None, description="``name=value``: only servers with this label")

    def label_pair(self) -> tuple[str, str] | None:
        """The label filter split at its first ``=``."""
        if self.label is None:
            return None
        name, _, value = self.label.partition("=")
        return name, value


class ServerQuery(_ServerFilters, QueryModel):
    """Filters of ``GET /api/monitoring/servers``."""


class ServerBody(_ServerFilters, BodyModel):
    """Filters of ``POST /api/monitoring/servers``, as a JSON body."""


class SummaryOut(BaseModel):
    """A server's headline numbers; null where its scrape had no source for one."""

    cpu: float | None = None
    memory: float | None = None
    disk: float | None = None
    network_rx: float | None = None
    network_tx: float | None = None
    load1: float | None = None
    uptime_s: float | None = None


class ServerOut(BaseModel):
    """One server's live status."""

    server_id: str
    name: str
    status: Status
    last_scrape: float | None = Field(description="Unix seconds of the last scrape")
    last_error: str | None
    scrape_duration_s: float | None
    job: str
    instance: str
    labels: dict[str, str]
    summary: SummaryOut


class ServerList(BaseModel):
    """The servers that match, sorted by name."""

    servers: list[ServerOut]
    total: int


PerformanceMetric = Literal["cpu", "memory", "disk", "network_rx", "network_tx", "load1"]
"""The per-scrape summary metrics (``server_stats``), and ``load1``: the 1-minute load average, read from the
raw history of the server's ``node_load1`` series."""
LOAD_SERIES = "node_load1"


class PerformanceQuery(QueryModel):
    """What ``GET /api/monitoring/performance`` reads."""

    server_id: UUID = Field(alias="serverId")
    metric: PerformanceMetric
    from_: Instant | None = Field(None, alias="from", description="start; default an hour before ``to``")
    to: Instant | None = Field(None, description="end; default now")
    step: Step | None = Field(None, description="bucket width; default the range / 360, at least 1 s")


class Performance(BaseModel):
    """A metric's history for one server: averages per step, with their min, max and mean."""

    server_id: UUID = Field(serialization_alias="serverId")
    metric: PerformanceMetric
    from_: datetime = Field(serialization_alias="from")
    to: datetime
    step: int = Field(description="seconds")
    points: Points = Field(description="[Unix seconds, value], oldest first")
    min: float | None
    max: float | None
    avg: float | None
    current: float | None = Field(description="the latest live value from Redis, if any")


class RedisStatsOut(BaseModel):
    """Redis health: memory, keys, ops/s, hit rate, clients."""

    version: str
    uptime_s: int
    connected_clients: int
    used_memory_bytes: int
    used_memory_peak_bytes: int
    maxmemory_bytes: int
    ops_per_s: int
    keyspace_hits: int
    keyspace_misses: int
    hit_rate: float | None
    keys: dict[str, int]
    expires: dict[str, int]


class PartitionOut(BaseModel):
    """One partition of a partitioned table."""

    name: str
    bytes: int
    rows_estimate: int


class TableOut(BaseModel):
    """One table, a partitioned one summed over its partitions."""

    name: str
    bytes: int
    rows_estimate: int
    partitions: list[PartitionOut]


class HistoryOut(BaseModel):
    """Size of each history tier and its cost per sample."""

    raw_bytes: int
    raw_samples_estimate: int
    raw_bytes_per_sample: float | None
    chunk_bytes: int
    chunk_samples: int
    chunk_bytes_per_sample: float | None
    rollup_5m_bytes: int
    rollup_1h_bytes: int


class PostgresStatsOut(BaseModel):
    """Database health: sizes, rows, connections, partitions."""

    server_version: str
    database: str
    database_bytes: int
    connections: dict[str, int]
    max_connections: int
    tables: list[TableOut]
    history: HistoryOut


routes = ApiRoutes()


def _server_out(server: ServerStatus) -> ServerOut:
    return ServerOut(
        server_id=server.server_id,
        name=_name(server),
        status=server.status,
        last_scrape=server.last_scrape,
        last_error=server.last_error,
        scrape_duration_s=server.scrape_duration_s,
        job=server.job,
        instance=server.instance,
        labels=dict(server.labels),
        summary=SummaryOut(**server.summary.to_dict()),
    )


def _name(server: ServerStatus) -> str:
    return server.labels.get("name") or server.instance


def _encode(server: ServerStatus) -> bytes:
    return _server_out(server).model_dump_json(by_alias=True).encode()


def _order(server: ServerStatus) -> tuple[str, str]:
    return _name(server).casefold(), server.server_id


def setup_fleet(app: web.Application) -> None:
    """Give ``app`` the snapshot cache the servers listing answers from."""
    app[FLEET] = FleetCache(_encode, _order)


def _accepts_gzip(request: web.Request) -> bool:
    for coding in request.headers.get("Accept-Encoding", "").split(","):
        name, _, params = coding.strip().partition(";")
        if name.strip().lower() == "gzip":
            return params.replace(" ", "") not in {"q=0", "q=0.0", "q=0.00", "q=0.000"}
    return False


async def _servers(request: web.Request, filters: _ServerFilters) -> web.Response:
    allowed = await allowed_servers(request)
    snapshot = await request.app[FLEET].snapshot(request.app[STORES].redis)
    label = filters.label_pair()
    if allowed is None and filters.status is None and not filters.name and label is None:
        # The whole fleet: encoded (and gzipped) once per snapshot, not per request.
        if _accepts_gzip(request):
            return web.Response(
                body=snapshot.listing_gzipped(),
                content_type="application/json",
                headers={"Content-Encoding": "gzip", "Vary": "Accept-Encoding"},
            )
        return web.Response(
            body=snapshot.listing, content_type="application/json", headers={"Vary": "Accept-Encoding"}
        )
    entries = [
        entry
        for entry in snapshot.entries
        if (allowed is None or entry.server_id in allowed)
        and matches(entry.status, filters.status, filters.name, label)
    ]
    return web.Response(body=encode_listing(entries), content_type="application/json")


@routes.get(
    "/api/monitoring/servers",
    summary="Live status of every server",
    tag="monitoring",
    role="viewer",
    query=ServerQuery,
    response=ServerList,
)
async def servers_get(request: web.Request) -> web.Response:
    """Every server's live status from Redis, filtered by status, name and label, sorted by name."""
    return await _servers(request, query_of(request, ServerQuery))


@routes.post(
    "/api/monitoring/servers",
    summary="Live status of every server (filters in the body)",
    tag="monitoring",
    role="viewer",
    body=ServerBody,
    response=ServerList,
)
async def servers_post(request: web.Request) -> web.Response:
    """As the GET form, with the filters as a JSON body."""
    return await _servers(request, body_of(request, ServerBody))


def _resolve_range(query: PerformanceQuery, now: datetime) -> tuple[datetime, datetime, int]:
    end = query.to or now
    start = query.from_ or end - DEFAULT_RANGE
    if end <= start:
        raise ApiError(
            422, "'to' must be after 'from'", details=[{"field": "to", "problem": "not after from"}]
        )
    span_s = (end - start).total_seconds()
    step = query.step or max(1, -(-int(span_s) // _DEFAULT_POINTS))
    if span_s / step > MAX_POINTS:
        raise ApiError(
            422,
            f"that range and step give more than {MAX_POINTS} points; use a larger step",
            details=[
                {"field": "step", "problem": f"at least {-(-int(span_s) // MAX_POINTS)} s for this range"}
            ],
        )
    return start, end, step


@routes.get(
    "/api/monitoring/performance",
    summary="A server's metric history",
    tag="monitoring",
    role="viewer",
    query=PerformanceQuery,
    response=Performance,
)
async def performance(request: web.Request) -> Performance:
    """Average of one metric per step over a time range, with min, max, mean and the current live value."""
    query = query_of(request, PerformanceQuery)
    await require_server(request, query.server_id, "viewer")
    start, end, step = _resolve_range(query, datetime.fromtimestamp(time.time(), UTC))
    stores = request.app[STORES]
    if query.metric == "load1":
        selected = await series_range(
            stores.pg,
            [Matcher(name="__name__", value=LOAD_SERIES)],
            start,
            end,
            step,
            server_id=query.server_id,
        )
        rows = selected[0].points if selected else []
    else:
        rows = await server_history(stores.pg, query.server_id, query.metric, start, end, step)
    points = [(t.timestamp(), v) for t, v in rows]
    values = [v for _, v in points]
    live = await get_server(stores.redis, query.server_id)
    return Performance(
        server_id=query.server_id,
        metric=query.metric,
        from_=start,
        to=end,
        step=step,
        points=points,
        min=min(values, default=None),
        max=max(values, default=None),
        avg=sum(values) / len(values) if values else None,
        current=live.summary.to_dict().get(query.metric) if live is not None else None,
    )


@routes.get(
    "/api/monitoring/redis-stats",
    summary="Redis health",
    tag="monitoring",
    role="operator",
    response=RedisStatsOut,
)
async def redis_health(request: web.Request) -> RedisStatsOut:
    """Memory, keys, ops/s, hit rate, clients, uptime and version of the live store."""
    return RedisStatsOut.model_validate(await redis_stats(request.app[STORES].redis))


async def _postgres(request: web.Request) -> PostgresStatsOut:
    return PostgresStatsOut.model_validate(await postgres_stats(request.app[STORES].pg))


@routes.get(
    "/api/monitoring/postgres-stats",
    summary="PostgreSQL health",
    tag="monitoring",
    role="operator",
    response=PostgresStatsOut,
)
async def postgres_health(request: web.Request) -> PostgresStatsOut:
    """Database size, per-table sizes and row estimates, partitions, connections and version."""
    return await _postgres(request)


@routes.get(
    "/api/monitoring/supabase-stats",
    summary="PostgreSQL health (the seed's path)",
    tag="monitoring",
    role="operator",
    response=PostgresStatsOut,
)
async def supabase_health(request: web.Request) -> PostgresStatsOut:
    """The same as ``/api/monitoring/postgres-stats``, at the path the seed's clients call."""
    return await _postgres(request)
