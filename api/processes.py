"""``GET /api/monitoring/processes``: a server's busiest processes, from its latest scrape in Redis.

The exporter publishes its top N processes by CPU and by resident memory
(:mod:`exporter.collectors.processes`): ``openmanager_process_cpu_percent{pid,name}``,
``openmanager_process_resident_memory_bytes{pid,name}`` and ``openmanager_processes``. This route reads the
target's latest scrape (:func:`collector.storage.live_read.latest_series`) and returns both rankings, each
entry with the other measure when the process is in both lists. A target that exposes no process series
(node_exporter, say) answers empty lists. Viewers see the servers granted to them, as on the other
monitoring routes.
"""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

from aiohttp import web
from pydantic import BaseModel, Field

from api.auth.authz import require_server
from api.errors import ApiError
from api.keys import STORES
from api.openapi import ApiRoutes, QueryModel, query_of
from collector.result import SeriesKey
from collector.storage.live_read import get_server, latest_series

CPU_METRIC = "openmanager_process_cpu_percent"
MEMORY_METRIC = "openmanager_process_resident_memory_bytes"
COUNT_METRIC = "openmanager_processes"


class ProcessQuery(QueryModel):
    """What ``GET /api/monitoring/processes`` reads."""

    server_id: UUID = Field(alias="serverId")


class ProcessOut(BaseModel):
    """One process; a measure is null when the process is not in that measure's top list."""

    pid: int
    name: str
    cpu_percent: float | None = Field(description="percent of one CPU, as top shows it")
    resident_memory_bytes: float | None


class TopProcesses(BaseModel):
    """A server's busiest processes at its latest scrape."""

    server_id: UUID = Field(serialization_alias="serverId")
    timestamp: float | None = Field(description="Unix seconds of the scrape the lists come from")
    processes: int | None = Field(description="number of processes on the host")
    by_cpu: list[ProcessOut] = Field(description="highest CPU first")
    by_memory: list[ProcessOut] = Field(description="largest resident memory first")


def _exported(labels: dict[str, str], name: str) -> str:
    # A target label of the same name (a server's ``name``) wins the clash; Prometheus's rules keep the
    # exporter's value as ``exported_<name>``.
    return labels.get(f"exported_{name}", labels.get(name, ""))


def top_processes(
    series: Iterable[tuple[SeriesKey, float, int]],
) -> tuple[list[ProcessOut], list[ProcessOut]]:
    """Both rankings from one scrape's series: (by CPU, by memory), each sorted highest first."""
    cpu: dict[tuple[int, str], float] = {}
    memory: dict[tuple[int, str], float] = {}
    for (name, labels), value, _ in series:
        if name not in (CPU_METRIC, MEMORY_METRIC):
            continue
        label = dict(labels)
        try:
            key = (int(_exported(label, "pid")), _exported(label, "name"))
        except ValueError:
            continue
        (cpu if name == CPU_METRIC else memory)[key] = value

    def entry(key: tuple[int, str]) -> ProcessOut:
        return ProcessOut(
            pid=key[0], name=key[1], cpu_percent=cpu.get(key), resident_memory_bytes=memory.get(key)
        )

    by_cpu = [entry(key) for key in sorted(cpu, key=lambda k: (-cpu[k], k[0]))]
    by_memory = [entry(key) for key in sorted(memory, key=lambda k: (-memory[k], k[0]))]
    return by_cpu, by_memory


routes = ApiRoutes()


@routes.get(
    "/api/monitoring/processes",
    summary="A server's top processes",
    tag="monitoring",
    role="viewer",
    query=ProcessQuery,
    response=TopProcesses,
)
async def processes(request: web.Request) -> TopProcesses:
    """The top processes by CPU and by memory at the server's latest scrape (empty when it reports none)."""
    query = query_of(request, ProcessQuery)
    await require_server(request, query.server_id, "viewer")
    redis = request.app[STORES].redis
    live = await get_server(redis, query.server_id)
    if live is None:
        raise ApiError(404, f"no live data for server {query.server_id}: it has not been scraped yet")
    series = await latest_series(redis, live.identity) if live.identity else []
    by_cpu, by_memory = top_processes(series)
    count = next((value for (name, _), value, _ in series if name == COUNT_METRIC), None)
    stamps = [stamp for (name, _), _, stamp in series if name in (CPU_METRIC, MEMORY_METRIC)]
    return TopProcesses(
        server_id=query.server_id,
        timestamp=max(stamps) / 1000 if stamps else None,
        processes=int(count) if count is not None else None,
        by_cpu=by_cpu,
        by_memory=by_memory,
    )
