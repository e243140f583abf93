"""``GET /api/cluster``: the collectors sharing the fleet, each one's share of the targets, the leases.

The target set is the one ``/api/v1/targets`` lists: the target file and the servers registered through the
API, built as the collectors build them (where this process cannot read the target file, the targets the live
layer knows). Shares come from :mod:`collector.cluster.overview`, with the collectors' own ownership
function. Per-server grants hold: a caller who is not an administrator counts only the targets of the servers
granted to it (``scope`` says which).
"""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from aiohttp import web
from pydantic import BaseModel, Field

from api.auth.authz import allowed_servers
from api.keys import SETTINGS, STORES
from api.openapi import ApiRoutes
from api.prometheus.targets import configured_targets, server_of
from collector.cluster.overview import overview, read_cluster
from collector.storage.live_read import list_servers

routes = ApiRoutes()


class ClusterMemberOut(BaseModel):
    """A collector of the cluster, as its last heartbeat described it."""

    member: str = Field(description="the member id (`cluster.member_id`)")
    host: str | None = Field(description="the host it runs on")
    pid: int | None
    role: Literal["leader", "member"] = Field(description="`leader` while it holds a lease")
    started_at: float | None = Field(description="unix time its process started")
    heartbeat_age_s: float | None = Field(description="seconds since its last heartbeat (Redis's clock)")
    ttl_s: float | None = Field(description="how long it stays a member without a heartbeat")
    live: bool = Field(description="false once its TTL ran out (it is dropped at another's next heartbeat)")
    share: int = Field(description="targets it owns by the collectors' ownership function")
    scraping: int | None = Field(
        description="targets it said it scrapes at its last heartbeat; null for a caller limited by grants"
    )


class LeaseOut(BaseModel):
    """A lease of what runs once in the cluster, and its holder."""

    name: str
    runs: list[str] = Field(description="what the holder runs: `alert_engine`, `maintenance`")
    held: bool
    holder: str | None = Field(
        description="the member holding it; null when nobody does, or when its holder names none"
    )
    expires_in_s: float | None = Field(description="until it expires unless renewed")
    fence: int | None = Field(description="its fencing counter: one more at each new holder")


class ClusterOut(BaseModel):
    """The cluster: members and their shares, leases, replication factor and totals."""

    members: list[ClusterMemberOut]
    leases: list[LeaseOut]
    replication_factor: int = Field(description="owners per target (the members' setting)")
    targets: int = Field(description="targets counted (see scope)")
    unowned: int = Field(description="targets owned by no live member")
    scope: Literal["all", "granted"] = Field(description="`granted`: only the caller's servers' targets")


async def _fleet(request: web.Request) -> list[tuple[str, UUID]]:
    """Every target's identity and server: configured ones, else the ones the live layer knows."""
    stores = request.app[STORES]
    configured = await configured_targets(request.app[SETTINGS], stores.pg)
    if configured is not None:
        return [(target.identity, server_of(target)) for target in configured.active]
    return [
        (status.identity, UUID(status.server_id))
        for status in await list_servers(stores.redis)
        if status.identity is not None
    ]


@routes.get(
    "/api/cluster",
    summary="Collectors sharing the fleet, their shares and the leases",
    tag="monitoring",
    role="viewer",
    response=ClusterOut,
    errors=((503, "Redis or PostgreSQL does not answer; try again after Retry-After"),),
)
async def cluster(request: web.Request) -> ClusterOut:
    """The members (host, process, role, start, heartbeat age, TTL, share of the targets), which member holds
    each lease, the replication factor and the totals (targets, targets owned by no live member)."""
    allowed = await allowed_servers(request)
    fleet = await _fleet(request)
    identities = [identity for identity, server in fleet if allowed is None or server in allowed]
    state = await read_cluster(request.app[STORES].redis)
    seen = overview(state, identities, request.app[SETTINGS].cluster.replication_factor)
    scope: Literal["all", "granted"] = "all" if allowed is None else "granted"
    members = [ClusterMemberOut.model_validate(row, from_attributes=True) for row in seen.members]
    if scope == "granted":
        # What a member scrapes counts the whole fleet, which the caller's grants do not cover.
        members = [member.model_copy(update={"scraping": None}) for member in members]
    return ClusterOut(
        members=members,
        leases=[LeaseOut.model_validate(lease, from_attributes=True) for lease in seen.leases],
        replication_factor=seen.replication_factor,
        targets=seen.targets,
        unowned=seen.unowned,
        scope=scope,
    )
