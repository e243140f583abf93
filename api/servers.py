"""``/api/servers``: the server inventory, registering scrape targets, and testing a target before or after.

Viewers list and read the servers granted to them (admins see all), each with its live status from Redis when
the collector has one. Operators register, edit and test servers; a server an operator registers is granted
to them. Only admins delete. Every change to registered servers is announced on
:data:`~collector.storage.servers.TARGETS_CHANGED` so the collector rescrapes its target list.

The connection test scrapes a target now, with the collector's own fetch and parser. Operators are trusted to
reach any host they could register, so the test is no more powerful than registering; it only ever contacts
the address given (a redirect elsewhere is refused) and never a link-local cloud metadata address
(169.254.0.0/16, ``fd00:ec2::254``), whether written as an address or reached through a name.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import time
from types import SimpleNamespace
from typing import Annotated, Literal
from uuid import UUID

import aiohttp
import redis.asyncio as aioredis
import structlog
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from pydantic import AfterValidator, BaseModel, Field
from yarl import URL

from api.auth.authz import allowed_servers, require_principal, require_server
from api.errors import ApiError
from api.keys import STORES
from api.openapi import ApiRoutes, BodyModel, QueryModel, body_of, query_of
from collector.scrape.fetch import FetchError, FetchSpec, fetch
from collector.scrape.parser import ParseError, ParseResult, parse
from collector.scrape.relabel import is_valid_label_name
from collector.storage import keys
from collector.storage import servers as store
from collector.storage.live_read import ServerStatus, get_server
from collector.targets import target_address_problem
from collector.units import format_duration, parse_duration

log = structlog.get_logger(__name__)

TEST_TIMEOUT_S = 5.0
TEST_BODY_LIMIT_BYTES = 10 * 1024 * 1024
MIN_SCRAPE_INTERVAL_S = 5.0
MAX_SCRAPE_INTERVAL_S = 86_400.0
MAX_LABELS = 32
MAX_FAMILIES_SHOWN = 50
_METADATA_NETWORKS = (ipaddress.ip_network("169.254.0.0/16"), ipaddress.ip_network("fd00:ec2::254/128"))
_RESERVED_LABELS = frozenset({"job", "instance"})
# Sample-name suffixes of histogram, summary, counter and info families, to name the family of a sample.
_FAMILY_SUFFIXES = ("_bucket", "_count", "_sum", "_total", "_created", "_info", "_gcount", "_gsum")


def split_address(address: str) -> tuple[str, int | None]:
    """The host (without IPv6 brackets) and port of ``host:port`` or ``[ipv6]:port``."""
    if address.startswith("["):
        host, _, rest = address[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else None
    host, sep, port = address.rpartition(":")
    return (host, int(port)) if sep and port.isdigit() else (address, None)


def is_metadata_ip(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether ``ip`` is a link-local cloud metadata address (IPv4-mapped IPv6 included)."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in _METADATA_NETWORKS)


def address_problem(address: str) -> str | None:
    """Why ``address`` cannot be registered or tested, or None: ``host:port`` with a port, not metadata."""
    problem = target_address_problem(address)
    if problem is not None:
        return problem
    host, port = split_address(address)
    if port is None:
        return "a port is required: host:port, such as 10.0.0.5:9100"
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None
    if is_metadata_ip(ip):
        return "link-local metadata addresses (169.254.0.0/16, fd00:ec2::254) are refused"
    return None


def _address(value: str) -> str:
    problem = address_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


def _labels(value: dict[str, str]) -> dict[str, str]:
    if len(value) > MAX_LABELS:
        raise ValueError(f"at most {MAX_LABELS} labels")
    for name in value:
        if not is_valid_label_name(name):
            raise ValueError(f"{name!r} is not a label name ([a-zA-Z_][a-zA-Z0-9_]*)")
        if name.startswith("__"):
            raise ValueError(f"{name!r}: names starting with __ are reserved for internal use")
        if name in _RESERVED_LABELS:
            raise ValueError(f"{name!r} is set from the server's job and address")
    return value


def _interval(value: str) -> str:
    seconds = parse_duration(value)
    if not MIN_SCRAPE_INTERVAL_S <= seconds <= MAX_SCRAPE_INTERVAL_S:
        raise ValueError(f"the scrape interval must be between 5s and 1d, not {value}")
    return value


Address = Annotated[
    str,
    Field(max_length=261, description="host:port with no scheme or path", examples=["127.0.0.1:9100"]),
    AfterValidator(_address),
]
Job = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]+$")]
MetricsPath = Annotated[str, Field(min_length=1, max_length=1024, pattern=r"^/[^\s?#]*$")]
Labels = Annotated[
    dict[str, Annotated[str, Field(max_length=1024)]],
    Field(description=f"at most {MAX_LABELS}; names [a-zA-Z_][a-zA-Z0-9_]*, not starting with __"),
    AfterValidator(_labels),
]
Interval = Annotated[
    str,
    Field(max_length=32, description="a duration of at least 5s, such as 30s or 1m", examples=["30s"]),
    AfterValidator(_interval),
]
Name = Annotated[str, Field(min_length=1, max_length=256)]
Description = Annotated[str, Field(max_length=4096)]
Scheme = Literal["http", "https"]


class ServerCreate(BodyModel):
    """A server to register as a scrape target."""

    name: Name
    address: Address
    job: Job = "servers"
    scheme: Scheme = "http"
    metrics_path: MetricsPath = "/metrics"
    labels: Labels = Field(default_factory=dict)
    description: Description | None = None
    scrape_interval: Interval | None = Field(None, description="null: the collector's global interval")
    enabled: bool = True


class ServerPatch(BodyModel):
    """The fields to change; job and address are the server's identity and may only be repeated unchanged."""

    name: Name | None = None
    address: Address | None = None
    job: Job | None = None
    scheme: Scheme | None = None
    metrics_path: MetricsPath | None = None
    labels: Labels | None = None
    description: Description | None = None
    scrape_interval: Interval | None = Field(None, description="null: the collector's global interval")
    enabled: bool | None = None


class TargetTest(BodyModel):
    """A target to test before registering it."""

    address: Address
    scheme: Scheme = "http"
    metrics_path: MetricsPath = "/metrics"


class ServerPage(QueryModel):
    """Paging of ``GET /api/servers``."""

    limit: int = Field(100, ge=1, le=1000)
    offset: int = Field(0, ge=0, le=1_000_000)


class LiveOut(BaseModel):
    """What the collector last saw of the server."""

    status: str
    last_scrape: float | None = Field(description="Unix seconds of the last scrape")
    last_error: str | None
    scrape_duration_s: float | None


class ServerOut(BaseModel):
    """One server; ``status`` is the live one when the collector has scraped it, else the stored one."""

    id: UUID
    name: str
    hostname: str
    description: str | None
    job: str | None
    address: str | None
    scheme: str
    metrics_path: str
    labels: dict[str, str]
    scrape_interval: str | None
    enabled: bool
    source: Literal["discovered", "api"]
    status: str
    created_at: float = Field(description="Unix seconds")
    updated_at: float = Field(description="Unix seconds")
    live: LiveOut | None


class ServerList(BaseModel):
    """A page of servers sorted by name, and how many the caller may see in all."""

    servers: list[ServerOut]
    total: int
    limit: int
    offset: int


class TestReport(BaseModel):
    """What scraping a target now found; an unreachable or invalid target is reported, never an error."""

    url: str
    reachable: bool = Field(description="an HTTP response came back")
    ok: bool = Field(description="HTTP 200 with a page that parses")
    http_status: int | None
    error: str | None
    error_reason: str | None = Field(description="timeout, connection, tls, http_status, parse, refused, …")
    duration_s: float
    content_type: str | None
    format: str | None
    sample_count: int
    series_count: int
    family_count: int
    metric_families: list[str] = Field(description=f"the first {MAX_FAMILIES_SHOWN}, in page order")
    node_exporter: bool
    openmanager_exporter: bool


routes = ApiRoutes()


def _server_out(record: store.ServerRecord, live: ServerStatus | None) -> ServerOut:
    return ServerOut(
        id=record.id,
        name=record.name,
        hostname=record.hostname,
        description=record.description,
        job=record.job,
        address=record.address,
        scheme=record.scheme,
        metrics_path=record.metrics_path,
        labels=record.labels,
        scrape_interval=format_duration(record.scrape_interval_s) if record.scrape_interval_s else None,
        enabled=record.enabled,
        source=record.source,
        status=live.status if live is not None else record.status,
        created_at=record.created_at.timestamp(),
        updated_at=record.updated_at.timestamp(),
        live=None
        if live is None
        else LiveOut(
            status=live.status,
            last_scrape=live.last_scrape,
            last_error=live.last_error,
            scrape_duration_s=live.scrape_duration_s,
        ),
    )


def _server_id(request: web.Request) -> UUID:
    raw = request.match_info["id"]
    try:
        return UUID(raw)
    except ValueError:
        raise ApiError(404, f"no such server: {raw}") from None


async def _record(request: web.Request, minimum_role: Literal["viewer", "operator"]) -> store.ServerRecord:
    server_id = _server_id(request)
    await require_server(request, server_id, minimum_role)
    record = await store.get_server(request.app[STORES].pg, server_id)
    if record is None:
        raise ApiError(404, f"no such server: {server_id}")
    return record


async def _with_live(request: web.Request, record: store.ServerRecord) -> ServerOut:
    return _server_out(record, await get_server(request.app[STORES].redis, record.id))


async def _announce(redis: aioredis.Redis, action: str, server_id: UUID) -> None:
    message = json.dumps({"action": action, "server_id": str(server_id)})
    try:
        await redis.publish(keys.channel(keys.TARGETS_CHANGED, redis), message)
    except aioredis.RedisError as exc:
        # The change is stored; the collector also rereads its targets on its own reloads.
        log.warning(
            "could not announce a targets change", action=action, server_id=str(server_id), error=str(exc)
        )


@routes.get(
    "/api/servers",
    summary="List servers",
    tag="servers",
    role="viewer",
    query=ServerPage,
    response=ServerList,
)
async def servers_list(request: web.Request) -> ServerList:
    """The servers the caller may see, sorted by name, each with its live status when there is one."""
    page = query_of(request, ServerPage)
    allowed = await allowed_servers(request)
    records, total = await store.list_servers(
        request.app[STORES].pg, allowed=allowed, limit=page.limit, offset=page.offset
    )
    servers = [await _with_live(request, record) for record in records]
    return ServerList(servers=servers, total=total, limit=page.limit, offset=page.offset)


@routes.post(
    "/api/servers",
    summary="Register a server",
    tag="servers",
    role="operator",
    body=ServerCreate,
    response=ServerOut,
    status=201,
)
async def server_create(request: web.Request) -> ServerOut:
    """Register a scrape target (answered with 201); its id is derived from its job and address."""
    body = body_of(request, ServerCreate)
    principal = require_principal(request)
    stores = request.app[STORES]
    new = store.NewServer(
        name=body.name,
        address=body.address,
        job=body.job,
        scheme=body.scheme,
        metrics_path=body.metrics_path,
        labels=body.labels,
        description=body.description,
        scrape_interval_s=parse_duration(body.scrape_interval) if body.scrape_interval else None,
        enabled=body.enabled,
        owner_id=principal.user_id,
    )
    try:
        # Non-admins see only granted servers: grant the creator theirs, or they could not read it back.
        record = await store.create_server(stores.pg, new, grant_owner=principal.role != "admin")
    except store.ServerExistsError as exc:
        raise ApiError(
            409,
            f"{exc}; edit that server instead, or use another job",
            details={"server_id": str(exc.server_id), "job": exc.job, "address": exc.address},
        ) from None
    await _announce(stores.redis, "created", record.id)
    return _server_out(record, None)


@routes.post(
    "/api/servers/test",
    summary="Test a target before registering it",
    tag="servers",
    role="operator",
    body=TargetTest,
    response=TestReport,
)
async def target_test(request: web.Request) -> TestReport:
    """Scrape the address now (5 s, 10 MB) and report what was found; only that address is contacted."""
    body = body_of(request, TargetTest)
    return await connection_test(body.scheme, body.address, body.metrics_path)


@routes.get(
    "/api/servers/{id}",
    summary="Read a server",
    tag="servers",
    role="viewer",
    response=ServerOut,
)
async def server_get(request: web.Request) -> ServerOut:
    """One server the caller may see, with its live status when there is one."""
    return await _with_live(request, await _record(request, "viewer"))


@routes.route(
    "PATCH",
    "/api/servers/{id}",
    summary="Edit a server",
    tag="servers",
    role="operator",
    body=ServerPatch,
    response=ServerOut,
)
async def server_update(request: web.Request) -> ServerOut:
    """Change the fields given; a null ``scrape_interval`` returns to the global one."""
    body = body_of(request, ServerPatch)
    record = await _record(request, "operator")
    given = body.model_dump(exclude_unset=True)
    for key in ("job", "address"):
        if key in given and given.pop(key) != getattr(record, key):
            raise ApiError(
                422,
                f"the {key} of a server cannot change: it is the server's identity; register a new server",
                details=[{"field": key, "problem": "differs from the stored value"}],
            )
    for key in ("name", "scheme", "metrics_path", "labels", "enabled"):
        if key in given and given[key] is None:
            raise ApiError(422, f"{key} cannot be null", details=[{"field": key, "problem": "null"}])
    if "scrape_interval" in given:
        interval = given.pop("scrape_interval")
        given["scrape_interval_s"] = parse_duration(interval) if interval else None
    stores = request.app[STORES]
    updated = await store.update_server(stores.pg, record.id, given)
    if updated is None:
        raise ApiError(404, f"no such server: {record.id}")
    await _announce(stores.redis, "updated", updated.id)
    return await _with_live(request, updated)


@routes.route(
    "DELETE",
    "/api/servers/{id}",
    summary="Delete a server",
    tag="servers",
    role="admin",
    status=204,
)
async def server_delete(request: web.Request) -> web.Response:
    """Remove the server with its history, alerts and grants (answered with 204)."""
    server_id = _server_id(request)
    stores = request.app[STORES]
    if not await store.delete_server(stores.pg, server_id):
        raise ApiError(404, f"no such server: {server_id}")
    await _announce(stores.redis, "deleted", server_id)
    return web.Response(status=204)


@routes.post(
    "/api/servers/{id}/test",
    summary="Test a server's target",
    tag="servers",
    role="operator",
    response=TestReport,
)
async def server_test(request: web.Request) -> TestReport:
    """Scrape the server's address now (5 s, 10 MB) and report what was found."""
    record = await _record(request, "operator")
    if record.address is None:
        raise ApiError(
            422, "this server has no address to test", details=[{"field": "address", "problem": "missing"}]
        )
    problem = address_problem(record.address)
    if problem is not None:
        raise ApiError(422, problem, details=[{"field": "address", "problem": problem}])
    return await connection_test(record.scheme, record.address, record.metrics_path)


class _Probe:
    """Watches one test's requests: the HTTP status seen, and any contact refused on the way."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host.lower()
        self.port = port
        self.status: int | None = None
        self.refused: str | None = None
        self.trace = aiohttp.TraceConfig()
        self.trace.on_request_end.append(self._on_end)
        self.trace.on_request_redirect.append(self._on_redirect)

    def refuse(self, why: str) -> OSError:
        """Record ``why`` and the error that aborts the request."""
        self.refused = why
        return OSError(why)

    async def _on_end(
        self, _: aiohttp.ClientSession, __: SimpleNamespace, params: aiohttp.TraceRequestEndParams
    ) -> None:
        self.status = params.response.status

    async def _on_redirect(
        self, _: aiohttp.ClientSession, __: SimpleNamespace, params: aiohttp.TraceRequestRedirectParams
    ) -> None:
        self.status = params.response.status
        target = params.response.url.join(URL(params.response.headers.get("Location", "")))
        if (target.host or "").lower() != self.host or target.port != self.port:
            why = f"redirect to {target.host}:{target.port} refused: only the given address is tested"
            raise aiohttp.ClientConnectionError(str(self.refuse(why)))


class _OnlyThisHost(AbstractResolver):
    """Resolves only the tested host, and drops metadata addresses from its answers.

    aiohttp connects to IP literals without a resolver; those are checked by :func:`address_problem`, and a
    redirect to another address is refused by :class:`_Probe` before it is followed.
    """

    def __init__(self, probe: _Probe) -> None:
        self._probe = probe
        self._inner = aiohttp.ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """The tested host's addresses without metadata ones; an ``OSError`` for any other host."""
        if host.lower() != self._probe.host:
            raise self._probe.refuse(f"only {self._probe.host} may be contacted, not {host}")
        found = await self._inner.resolve(host, port, family)
        kept = [r for r in found if not is_metadata_ip(ipaddress.ip_address(r["host"].split("%", 1)[0]))]
        if not kept:
            raise self._probe.refuse(f"{host} resolves only to refused link-local metadata addresses")
        return kept

    async def close(self) -> None:
        """Release the inner resolver."""
        await self._inner.close()


def _family(name: str, result: ParseResult) -> str:
    if name in result.metadata:
        return name
    for suffix in _FAMILY_SUFFIXES:
        if name.endswith(suffix) and name[: -len(suffix)] in result.metadata:
            return name[: -len(suffix)]
    return name


def families(result: ParseResult) -> list[str]:
    """The metric families of a page in page order (histogram and summary series under their family)."""
    seen: dict[str, None] = {}
    for sample in result.samples:
        seen.setdefault(_family(sample.name, result))
    for name in result.metadata:
        seen.setdefault(name)
    return list(seen)


def exporter_kind(names: list[str]) -> tuple[bool, bool]:
    """Whether the families look like node_exporter's, and like the OpenManager exporter's."""
    openmanager = any(n.startswith("openmanager_") for n in names)
    node = "node_exporter_build_info" in names or (
        not openmanager and any(n.startswith("node_") for n in names)
    )
    return node, openmanager


def _failed(
    url: str, probe: _Probe, started: float, error: str, reason: str, *, content_type: str | None = None
) -> TestReport:
    return TestReport(
        url=url,
        reachable=probe.status is not None,
        ok=False,
        http_status=probe.status,
        error=error,
        error_reason=reason,
        duration_s=time.monotonic() - started,
        content_type=content_type,
        format=None,
        sample_count=0,
        series_count=0,
        family_count=0,
        metric_families=[],
        node_exporter=False,
        openmanager_exporter=False,
    )


async def connection_test(scheme: str, address: str, metrics_path: str) -> TestReport:
    """Scrape ``scheme://address{metrics_path}`` now and report (the address passed ``address_problem``)."""
    url = f"{scheme}://{address}{metrics_path}"
    host, port = split_address(address)
    probe = _Probe(host, port if port is not None else (443 if scheme == "https" else 80))
    started = time.monotonic()
    connector = aiohttp.TCPConnector(resolver=_OnlyThisHost(probe), limit=1, force_close=True)
    # A session of its own: the collector's shared one resolves and follows redirects anywhere.
    async with aiohttp.ClientSession(
        connector=connector,
        auto_decompress=False,
        trust_env=False,
        cookie_jar=aiohttp.DummyCookieJar(),
        trace_configs=[probe.trace],
    ) as session:
        try:
            page = await fetch(session, FetchSpec(url, TEST_TIMEOUT_S, TEST_BODY_LIMIT_BYTES))
        except FetchError as exc:
            if probe.refused is not None:
                return _failed(url, probe, started, probe.refused, "refused")
            return _failed(url, probe, started, str(exc), exc.reason)
    try:
        result = parse(page.body, page.content_type)
    except ParseError as exc:
        return _failed(
            url, probe, started, f"not a metrics page: {exc}", "parse", content_type=page.content_type
        )
    names = families(result)
    node, openmanager = exporter_kind(names)
    return TestReport(
        url=url,
        reachable=True,
        ok=True,
        http_status=probe.status,
        error=None,
        error_reason=None,
        duration_s=time.monotonic() - started,
        content_type=page.content_type,
        format=result.format,
        sample_count=len(result.samples),
        series_count=len({(s.name, s.labels) for s in result.samples}),
        family_count=len(names),
        metric_families=names[:MAX_FAMILIES_SHOWN],
        node_exporter=node,
        openmanager_exporter=openmanager,
    )
