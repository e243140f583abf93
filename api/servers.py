"""``/api/servers``: the server inventory, registering scrape targets, and testing a target before or after.

Viewers list and read the servers granted to them (admins see all), each with its live status from Redis when
the collector has one. Operators register, edit and test servers; a server an operator registers is granted
to them. Only admins delete. Every change to registered servers is announced on
:data:`~collector.storage.servers.TARGETS_CHANGED` so the collector rescrapes its target list.

Registering checks, in this order:

1. the address as written, then what its name resolves to now, against the address policy of
   :mod:`collector.netpolicy` (link-local and cloud metadata addresses in every spelling, the
   administrator's ``registration.allow_networks`` / ``deny_networks``): 422;
2. the job: a job of the target file is refused to operators (403) and to administrators unless they set
   ``join_target_file_job`` (422). Even then the server only shares the job's name (its ``job`` label); the
   collector scrapes it with the registration defaults, never with that job's credentials, TLS client
   certificate or relabeling (:mod:`collector.registered`);
3. whether the address is already monitored, by the target file or by another server, whatever the job
   (:mod:`collector.monitored`): 409, naming the server only to a caller who may see it.

The connection test (:mod:`api.probe`) scrapes a target now, the way the collector scrapes a registered
server. Operators are trusted to reach any host they could register, so the test is no more powerful than
registering. The request and response models are :mod:`api.server_models`'; the monitoring settings
(timeout, collectors, tags, alert thresholds) are read and applied by :mod:`api.server_settings`.
"""

from __future__ import annotations

import asyncio
import json
from typing import Literal
from uuid import UUID

import aiohttp
import redis.asyncio as aioredis
import structlog
from aiohttp import web
from aiohttp.abc import AbstractResolver

from api.auth.authz import allowed_servers, require_principal, require_server
from api.auth.principal import Principal
from api.errors import ApiError
from api.keys import RESOLVER, SETTINGS, STORES
from api.openapi import ApiRoutes, body_of, query_of
from api.probe import TestReport, connection_test, connection_test_slot
from api.server_models import (
    LiveOut,
    ServerCreate,
    ServerList,
    ServerOut,
    ServerPage,
    ServerPatch,
    TargetTest,
    address_problem,
)
from api.server_settings import SETTING_FIELDS, apply_thresholds, settings_columns, thresholds_out
from collector.alerts.server_thresholds import ServerThreshold, delete_overrides
from collector.config.settings import Settings
from collector.config.targets import TargetsConfig
from collector.config.units import format_duration
from collector.hostport import split_host_port
from collector.monitored import (
    Monitored,
    endpoint,
    file_targets,
    find_monitored,
    from_table,
    read_target_file,
)
from collector.netpolicy import NetworkPolicy, parse_ip, resolve
from collector.storage import keys
from collector.storage import servers as store
from collector.storage.live_read import ServerStatus, get_server

log = structlog.get_logger(__name__)

RESOLVE_TIMEOUT_S = 3.0


def registration_policy(settings: Settings) -> NetworkPolicy:
    """The address policy of registered servers: metadata refused, plus the administrator's networks."""
    registration = settings.registration
    return NetworkPolicy(tuple(registration.allow_networks), tuple(registration.deny_networks))


def _resolver(request: web.Request) -> AbstractResolver:
    return request.app.get(RESOLVER) or aiohttp.ThreadedResolver()


async def resolved_problem(address: str, policy: NetworkPolicy, resolver: AbstractResolver) -> str | None:
    """Why the addresses a name resolves to now are refused, or None (also when it does not resolve yet:
    the collector checks every connection it makes anyway)."""
    host, port = split_host_port(address)
    if parse_ip(host) is not None:
        return None
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT_S):
            addresses = await resolve(host, port or 80, resolver)
    except TimeoutError:
        return None
    why = policy.addresses_problem(addresses or [])
    return None if why is None else f"refused: {host} resolves to {why}"


async def _check_address(request: web.Request, address: str, policy: NetworkPolicy) -> None:
    problem = address_problem(address, policy) or await resolved_problem(address, policy, _resolver(request))
    if problem is not None:
        raise ApiError(422, problem, details=[{"field": "address", "problem": problem}])


routes = ApiRoutes()


def _server_out(
    record: store.ServerRecord, live: ServerStatus | None, thresholds: list[ServerThreshold] | None = None
) -> ServerOut:
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
        scrape_timeout=format_duration(record.scrape_timeout_s) if record.scrape_timeout_s else None,
        collectors=None if record.collectors is None else list(record.collectors),
        tags=list(record.tags),
        thresholds=thresholds,
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


async def granted_server(
    request: web.Request, minimum_role: Literal["viewer", "operator"]
) -> store.ServerRecord:
    """The server of the path's ``{id}`` when the caller has ``minimum_role`` and its grant (403); 404."""
    server_id = _server_id(request)
    await require_server(request, server_id, minimum_role)
    record = await store.get_server(request.app[STORES].pg, server_id)
    if record is None:
        raise ApiError(404, f"no such server: {server_id}")
    return record


async def _with_live(
    request: web.Request, record: store.ServerRecord, thresholds: list[ServerThreshold] | None = None
) -> ServerOut:
    return _server_out(record, await get_server(request.app[STORES].redis, record.id), thresholds)


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
    """Register a scrape target (answered with 201); its id is derived from its job and address.

    Refused: an address the address policy refuses, as written or as resolved now (422); a job of the target
    file unless an administrator sets ``join_target_file_job`` (403, 422); an address already monitored by
    the target file or another server, whatever its job (409).
    """
    body = body_of(request, ServerCreate)
    principal = require_principal(request)
    stores = request.app[STORES]
    settings = request.app[SETTINGS]
    await _check_address(request, body.address, registration_policy(settings))
    config = await asyncio.to_thread(read_target_file, settings.targets)
    _check_job(principal, body, config)
    monitored = await _monitored(request, config)
    candidate = endpoint(body.address, body.scheme)
    assert candidate is not None, "the address passed address_problem"
    existing = await find_monitored(candidate, monitored, _resolver(request))
    if existing is not None:
        raise await _already_monitored(request, body.address, existing.server_id, existing.job)
    columns = await settings_columns(request, body.model_dump(include=set(SETTING_FIELDS)), None)
    new = store.NewServer(
        name=body.name,
        address=body.address,
        job=body.job,
        scheme=body.scheme,
        metrics_path=body.metrics_path,
        labels=body.labels,
        description=body.description,
        enabled=body.enabled,
        owner_id=principal.user_id,
        **columns,  # type: ignore[arg-type]
    )
    try:
        # Non-admins see only granted servers: grant the creator theirs, or they could not read it back.
        record = await store.create_server(stores.pg, new, grant_owner=principal.role != "admin")
    except store.ServerExistsError as exc:
        # Registered at the same time by someone else.
        raise await _already_monitored(request, body.address, exc.server_id, exc.job) from None
    await _announce(stores.redis, "created", record.id)
    return _server_out(record, None)


def _check_job(principal: Principal, body: ServerCreate, config: TargetsConfig | None) -> None:
    """Refuse a job of the target file, unless an administrator asks for it explicitly."""
    if config is None or body.job not in {job.job_name for job in config.jobs}:
        return
    if principal.role != "admin":
        raise ApiError(
            403,
            f"job {body.job!r} is a job of the target file: only an administrator may register into it;"
            " choose another job",
        )
    if not body.join_target_file_job:
        problem = (
            f"job {body.job!r} is a job of the target file; set join_target_file_job to register into it"
            " by name (the server is scraped with the registration defaults, never with the job's"
            " credentials, TLS client certificate or relabeling), or choose another job"
        )
        raise ApiError(422, problem, details=[{"field": "job", "problem": "a job of the target file"}])


async def _monitored(request: web.Request, config: TargetsConfig | None) -> list[Monitored]:
    """Everything monitored now: the target file's targets and the table's servers."""
    rows = await store.server_addresses(request.app[STORES].pg)
    from_file = (
        await asyncio.to_thread(file_targets, config, request.app[SETTINGS].targets.parent)
        if config is not None
        else []
    )
    return [*from_file, *from_table(rows)]


async def _already_monitored(request: web.Request, address: str, server_id: UUID, job: str) -> ApiError:
    """The 409 for an address already monitored: which server only to a caller who may see it."""
    allowed = await allowed_servers(request)
    if allowed is None or server_id in allowed:
        return ApiError(
            409,
            f"{address} is already monitored by server {server_id} (job {job!r}); edit that server instead",
            details={"server_id": str(server_id), "job": job, "address": address},
        )
    return ApiError(
        409,
        f"{address} is already monitored; ask an administrator for access to that server",
        details={"address": address},
    )


@routes.post(
    "/api/servers/test",
    summary="Test a target before registering it",
    tag="servers",
    role="operator",
    body=TargetTest,
    response=TestReport,
)
async def target_test(request: web.Request) -> TestReport:
    """Scrape the address now (5 s, the registration limits, 2 tests at once) and report what was found.

    The address is checked as registration checks it, what its name resolves to now included (422), so a
    name that points at a metadata or link-local address is refused with a reason, not reported as an
    unreachable target; the connection itself is checked again when it is made."""
    body = body_of(request, TargetTest)
    settings = request.app[SETTINGS]
    policy = registration_policy(settings)
    await _check_address(request, body.address, policy)
    async with connection_test_slot(request):
        return await connection_test(
            body.scheme,
            body.address,
            body.metrics_path,
            policy=policy,
            limits=settings.registration,
            resolver=request.app.get(RESOLVER),
        )


@routes.get(
    "/api/servers/{id}",
    summary="Read a server",
    tag="servers",
    role="viewer",
    response=ServerOut,
)
async def server_get(request: web.Request) -> ServerOut:
    """One server the caller may see, with its live status when there is one and its alert thresholds."""
    record = await granted_server(request, "viewer")
    return await _with_live(request, record, await thresholds_out(request, record))


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
    """Change the fields given; a null ``scrape_interval`` or ``scrape_timeout`` returns to the global one.

    Interval, timeout and collectors apply from the collector's next re-read of the servers (every 5 s), no
    restart; ``thresholds`` override alert threshold rules for this server by name (null removes one).
    """
    body = body_of(request, ServerPatch)
    record = await granted_server(request, "operator")
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
    given.update(await settings_columns(request, given, record))
    changes = body.thresholds if "thresholds" in given else None
    given.pop("thresholds", None)
    thresholds = await apply_thresholds(request, record, changes) if changes else None
    stores = request.app[STORES]
    updated = await store.update_server(stores.pg, record.id, given)
    if updated is None:
        raise ApiError(404, f"no such server: {record.id}")
    await _announce(stores.redis, "updated", updated.id)
    return await _with_live(request, updated, thresholds or await thresholds_out(request, updated))


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
    await delete_overrides(stores.pg, server_id)
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
    """Scrape the server's address now (5 s, the registration limits, 2 tests at once) and report it."""
    record = await granted_server(request, "operator")
    if record.address is None:
        raise ApiError(
            422, "this server has no address to test", details=[{"field": "address", "problem": "missing"}]
        )
    settings = request.app[SETTINGS]
    policy = registration_policy(settings)
    problem = address_problem(record.address, policy)
    if problem is not None:
        raise ApiError(422, problem, details=[{"field": "address", "problem": problem}])
    async with connection_test_slot(request):
        return await connection_test(
            record.scheme,
            record.address,
            record.metrics_path,
            policy=policy,
            limits=settings.registration,
            resolver=request.app.get(RESOLVER),
        )
