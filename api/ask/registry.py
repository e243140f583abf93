"""The servers a caller may see, each with its registry row and its live status."""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

import asyncpg
from redis import asyncio as aioredis

from collector.hostport import split_host_port
from collector.storage import live_read
from collector.storage import servers as server_store
from collector.summary import ServerSummary

MAX_SERVERS = 10_000
"""The most servers one answer reads; larger fleets are beyond a chat question."""
SERVERS_SQL = "SELECT id, name, hostname, job, address, labels FROM servers WHERE id = ANY($granted)"
LIVE_READ = "redis: ZRANGE servers:index, GET server:<id>:status (live status and summary)"
"""How the registry is read, as an answer's ``queries`` lists it."""


@dataclass(frozen=True)
class FleetServer:
    """One server: how it is named (name, hostname, instance, labels) and how it is doing now."""

    id: UUID
    name: str
    hostname: str
    job: str
    instance: str
    labels: dict[str, str] = field(hash=False)
    status: str
    last_scrape: float | None
    last_error: str | None
    summary: ServerSummary
    identity: str | None

    def names(self) -> list[str]:
        """Every spelling the server may be asked about by: name, hostname, host, label values."""
        host = split_host_port(self.instance)[0] if self.instance else ""
        spelled = [self.name, self.hostname, host, self.instance, *self.labels.values()]
        return [n.casefold() for n in dict.fromkeys(spelled) if n]


async def fleet_servers(
    pg: asyncpg.Pool, redis: aioredis.Redis, allowed: set[UUID] | None
) -> list[FleetServer]:
    """The caller's servers, sorted by name: registry rows joined with live status (live-only ones too)."""
    rows, _ = await server_store.list_servers(pg, allowed=allowed, limit=MAX_SERVERS)
    live = {s.server_id: s for s in await live_read.list_servers(redis)}
    out: list[FleetServer] = []
    for row in rows:
        status = live.pop(str(row.id), None)
        out.append(
            FleetServer(
                id=row.id,
                name=row.name,
                hostname=row.hostname,
                job=status.job if status else row.job or "",
                instance=status.instance if status else row.address or "",
                labels={**row.labels, **(dict(status.labels) if status else {})},
                status=status.status if status else "unknown",
                last_scrape=status.last_scrape if status else None,
                last_error=status.last_error if status else None,
                summary=status.summary if status else ServerSummary(),
                identity=status.identity if status else None,
            )
        )
    for status in live.values():
        server_id = UUID(status.server_id)
        if allowed is not None and server_id not in allowed:
            continue
        host = split_host_port(status.instance)[0] if status.instance else status.server_id
        out.append(
            FleetServer(
                id=server_id,
                name=host,
                hostname=host,
                job=status.job,
                instance=status.instance,
                labels=dict(status.labels),
                status=status.status,
                last_scrape=status.last_scrape,
                last_error=status.last_error,
                summary=status.summary,
                identity=status.identity,
            )
        )
    out.sort(key=lambda s: (s.name.casefold(), str(s.id)))
    return out
