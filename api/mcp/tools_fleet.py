"""The fleet tools: ``list_servers``, ``server_status``, ``list_alerts`` and ``top_processes``.

They read the live layer (Redis) and the alerts table as the monitoring and alert routes do, keeping only
the servers the caller may see. A server the caller may not see answers exactly as one that does not
exist. Nothing here changes anything: a server's ``dashboard_path`` is a link for a human to follow.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import Field
from redis.exceptions import RedisError

from api.mcp.context import ToolContext
from api.mcp.output import MAX_ROWS, Answer, cap_rows
from api.mcp.spec import ToolArgs, ToolError, ToolSpec
from api.processes import COUNT_METRIC, top_processes
from collector.alerts.alert_store import AlertRecord, list_alerts
from collector.promql.history_source import UNAVAILABLE_ERRORS
from collector.storage import live_read
from collector.storage.live_read import ServerStatus

ServerRef = Annotated[
    str,
    Field(
        min_length=1,
        max_length=256,
        description="a server id, or its name, instance (host:port) or host as list_servers shows them",
    ),
]


class ListServersArgs(ToolArgs):
    """``list_servers``."""

    status: Literal["up", "down", "warning", "unknown"] | None = None
    name: Annotated[str | None, Field(max_length=200)] = Field(
        default=None, description="only servers whose name, instance or id contains this text"
    )


class ServerArgs(ToolArgs):
    """``server_status``."""

    server: ServerRef


class AlertsArgs(ToolArgs):
    """``list_alerts``."""

    state: Literal["active", "pending", "firing", "resolved"] = "active"
    severity: Literal["info", "warning", "critical"] | None = None
    server: ServerRef | None = None
    limit: Annotated[int, Field(ge=1, le=MAX_ROWS)] = 50


class ProcessesArgs(ToolArgs):
    """``top_processes``."""

    server: ServerRef
    limit: Annotated[int, Field(ge=1, le=50)] = 10


async def _visible_servers(ctx: ToolContext) -> list[ServerStatus]:
    try:
        servers = await live_read.list_servers(ctx.backend.redis)
    except (RedisError, OSError):
        raise ToolError("the live layer (Redis) is not available", 503) from None
    return [s for s in servers if ctx.servers is None or UUID(s.server_id) in ctx.servers]


def _host(instance: str) -> str:
    return instance.rsplit(":", 1)[0].strip("[]") if ":" in instance else instance


async def resolve_server(ctx: ToolContext, ref: str) -> ServerStatus:
    """The visible server ``ref`` names (id, name label, instance or host); a 404 tool error otherwise."""
    servers = await _visible_servers(ctx)
    wanted = ref.strip().casefold()
    exact = [s for s in servers if s.server_id == wanted]
    if not exact:
        exact = [
            s
            for s in servers
            if wanted
            in (s.labels.get("name", "").casefold(), s.instance.casefold(), _host(s.instance).casefold())
        ]
    if len(exact) == 1:
        return exact[0]
    if not exact:
        raise ToolError("no server you may see has that id, name or address; see list_servers", 404)
    raise ToolError(
        f"{len(exact)} servers match that name; give one of their ids: "
        + ", ".join(s.server_id for s in exact[:10]),
        400,
    )


def server_row(server: ServerStatus) -> dict[str, Any]:
    """A server as the tools show it."""
    return {
        "id": server.server_id,
        "name": server.labels.get("name", server.instance),
        "job": server.job,
        "instance": server.instance,
        "status": server.status,
        "last_scrape": server.last_scrape,
        "summary": server.summary.to_dict(),
    }


async def run_list_servers(ctx: ToolContext, args: ListServersArgs) -> Answer:
    """The servers the caller may see, with status and headline numbers."""
    servers = await _visible_servers(ctx)
    rows = [server_row(s) for s in servers if live_read.matches(s, args.status, args.name, None)]
    answer = Answer({"count": len(rows)}, rows_key="servers")
    answer.data["servers"], answer.truncated = cap_rows(rows, MAX_ROWS, "servers", answer.notes)
    return answer


def _alert_row(alert: AlertRecord) -> dict[str, Any]:
    return {
        "id": str(alert.id),
        "server_id": str(alert.server_id) if alert.server_id else None,
        "severity": alert.severity,
        "state": alert.state,
        "title": alert.title,
        "message": alert.message,
        "value": alert.value,
        "labels": alert.labels,
        "started_at": alert.started_at.isoformat() if alert.started_at else None,
        "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None,
        "acknowledged": alert.acknowledged_by is not None,
    }


async def _alerts(
    ctx: ToolContext, servers: set[UUID] | None, args: AlertsArgs
) -> tuple[list[dict[str, Any]], int]:
    try:
        records, total = await list_alerts(
            ctx.backend.pg,
            state=args.state,
            severity=args.severity,
            allowed_servers=servers,
            limit=args.limit,
        )
    except UNAVAILABLE_ERRORS:
        raise ToolError("the history store (PostgreSQL) is not available", 503) from None
    return [_alert_row(r) for r in records], total


async def run_server_status(ctx: ToolContext, args: ServerArgs) -> Answer:
    """One server: status, last error, labels, headline numbers, its active alerts and a dashboard link."""
    server = await resolve_server(ctx, args.server)
    alerts, total = await _alerts(ctx, {UUID(server.server_id)}, AlertsArgs(limit=20))
    data = {
        **server_row(server),
        "last_error": server.last_error,
        "scrape_duration_s": server.scrape_duration_s,
        "labels": dict(server.labels),
        "active_alerts": alerts,
        "active_alert_count": total,
        "dashboard_path": f"/#/server/{server.server_id}",
    }
    return Answer(data, rows_key="active_alerts")


async def run_list_alerts(ctx: ToolContext, args: AlertsArgs) -> Answer:
    """Alerts of the caller's servers (active by default), newest first."""
    servers = None if ctx.servers is None else set(ctx.servers)
    if args.server is not None:
        servers = {UUID((await resolve_server(ctx, args.server)).server_id)}
    rows, total = await _alerts(ctx, servers, args)
    answer = Answer({"total": total, "alerts": rows}, rows_key="alerts")
    if total > len(rows):
        answer.truncated = True
        answer.notes.append(f"showing {len(rows)} of {total} alerts; raise limit or filter")
    return answer


async def run_top_processes(ctx: ToolContext, args: ProcessesArgs) -> Answer:
    """A server's busiest processes by CPU and by memory at its latest scrape."""
    server = await resolve_server(ctx, args.server)
    try:
        series = await live_read.latest_series(ctx.backend.redis, server.identity) if server.identity else []
    except (RedisError, OSError):
        raise ToolError("the live layer (Redis) is not available", 503) from None
    by_cpu, by_memory = top_processes(series)
    count = next((value for (name, _), value, _ in series if name == COUNT_METRIC), None)
    data = {
        "server_id": server.server_id,
        "processes": int(count) if count is not None else None,
        "by_cpu": [p.model_dump() for p in by_cpu[: args.limit]],
        "by_memory": [p.model_dump() for p in by_memory[: args.limit]],
    }
    answer = Answer(data)
    if not by_cpu and not by_memory:
        answer.notes.append("this server's exporter reports no per-process series")
    return answer


FLEET_TOOLS = (
    ToolSpec(
        "list_servers",
        "The servers you may see: id, name, instance, status (up/down/warning/unknown) and headline numbers "
        "(cpu, memory, disk percent, network bytes/s, load).",
        ListServersArgs,
        run_list_servers,
    ),
    ToolSpec(
        "server_status",
        "One server's status, last scrape error, labels, headline numbers and active alerts, with the "
        "dashboard page a human can open to act on it.",
        ServerArgs,
        run_server_status,
    ),
    ToolSpec(
        "list_alerts",
        "Alerts of the servers you may see, newest first: active (pending or firing) by default.",
        AlertsArgs,
        run_list_alerts,
    ),
    ToolSpec(
        "top_processes",
        "A server's busiest processes by CPU and by resident memory at its latest scrape.",
        ProcessesArgs,
        run_top_processes,
    ),
)
