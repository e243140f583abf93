"""``GET /api/stats``: fleet and usage statistics for the dashboard's overview.

Servers are counted from the live layer, restricted to the caller's grants; targets and samples come from the
scheduler when the collector runs in this process (null otherwise); series, database size and users from
PostgreSQL's statistics, so the answer costs a few catalogue reads, never a table scan.
"""

from __future__ import annotations

from collections import Counter
from uuid import UUID

from aiohttp import web
from pydantic import BaseModel, Field

from api.auth.authz import allowed_servers
from api.keys import SCHEDULER_STATE, STORES
from api.openapi import ApiRoutes
from collector.storage.live_read import list_servers
from collector.storage.pgstats import postgres_stats
from collector.storage.users import count_users
from collector.summary import Status

_STATUSES: tuple[Status, ...] = ("up", "warning", "down", "unknown")


class ServerCounts(BaseModel):
    """Servers with a live status, by status."""

    total: int
    up: int
    warning: int
    down: int
    unknown: int


class FleetStats(BaseModel):
    """Fleet and usage statistics."""

    servers: ServerCounts = Field(description="the servers the caller may see")
    targets: int | None = Field(description="scrape targets; null when no collector runs in this process")
    targets_up: int | None
    samples_ingested: int | None = Field(description="samples since start; null when not reported")
    series_estimate: int = Field(description="distinct series stored (planner estimate)")
    database_bytes: int
    users: int


def _count(state: dict[str, object], name: str) -> int | None:
    value = state.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


routes = ApiRoutes()


@routes.get(
    "/api/stats", summary="Fleet and usage statistics", tag="monitoring", role="viewer", response=FleetStats
)
async def fleet_stats(request: web.Request) -> FleetStats:
    """Servers by status, targets, samples ingested, series, database size and number of users."""
    stores = request.app[STORES]
    allowed = await allowed_servers(request)
    servers = [s for s in await list_servers(stores.redis) if allowed is None or UUID(s.server_id) in allowed]
    by_status = Counter(s.status for s in servers)
    database = await postgres_stats(stores.pg)
    series = next((t["rows_estimate"] for t in database["tables"] if t["name"] == "series"), 0)
    scheduler = request.app[SCHEDULER_STATE]()
    return FleetStats(
        servers=ServerCounts(total=len(servers), **{status: by_status[status] for status in _STATUSES}),
        targets=_count(scheduler, "targets"),
        targets_up=_count(scheduler, "targets_up"),
        samples_ingested=_count(scheduler, "samples_ingested"),
        series_estimate=series,
        database_bytes=database["database_bytes"],
        users=await count_users(stores.pg),
    )
