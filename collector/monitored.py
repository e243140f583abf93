"""Whether an address is already monitored, by the target file or by a server in the ``servers`` table.

Grants are given per server. Registering the address of a server one is not granted under another job would
make a second server with the first one's data, readable by whoever registered it, so the API refuses to
register an address that is already monitored, whatever the job (:func:`find_monitored`).

Addresses are compared as endpoints: the host as an address in its one canonical form (any IPv4 spelling,
the IPv4 address an IPv6 one carries) or as a lower-case name without trailing dots, and the port, the
scheme's default where none is written. Names on the same port are also compared by what they resolve to
(``localhost:9100`` is ``127.0.0.1:9100``), within a time bound: a name that does not resolve in time is
compared as written. A name whose DNS changes after registration is not checked again.

What is monitored: the targets of the target file's jobs (static and file_sd, after ``relabel_configs``, as
the collector builds them) and every row of ``servers`` with an address, registered or discovered (a
discovered row is a target-file target scraped at least once; an administrator deletes a stale one).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal
from uuid import UUID

import structlog
from aiohttp.abc import AbstractResolver
from yarl import URL

from collector.config.configfile import ConfigError
from collector.config.targets import TargetsConfig, load_targets
from collector.discovery import build_targets, discover
from collector.netpolicy import embedded_ipv4, parse_ip, resolve
from collector.result import server_id_for
from collector.storage.servers import ServerAddress

log = structlog.get_logger(__name__)

RESOLVE_TIMEOUT_S: Final = 3.0
_RESOLVE_CONCURRENCY: Final = 16
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}

Source = Literal["file", "api", "discovered"]


@dataclass(frozen=True)
class Endpoint:
    """A host in canonical form (an address, or a lower-case name) and a port."""

    host: str
    port: int

    @property
    def is_name(self) -> bool:
        """Whether the host is a name (compared through DNS as well)."""
        return parse_ip(self.host) is None


@dataclass(frozen=True)
class Monitored:
    """An address something already monitors: which server (by id and job) and from where."""

    address: str
    job: str
    server_id: UUID
    source: Source
    endpoint: Endpoint


def canonical_host(host: str) -> str:
    """One spelling per host: an address in ``ipaddress`` form (IPv4 when an IPv6 one carries it), else
    the name in lower case without trailing dots."""
    ip = parse_ip(host)
    if ip is None:
        return host.strip("[]").rstrip(".").lower()
    return str(embedded_ipv4(ip) or ip)


def endpoint(address: str, scheme: str = "http") -> Endpoint | None:
    """The endpoint of ``host:port`` (or ``[ipv6]:port``, or a host alone: the scheme's port), else None."""
    try:
        url = URL(f"{scheme}://{address}")
    except ValueError:
        return None
    if not url.raw_host:
        return None
    port = url.explicit_port or _DEFAULT_PORTS.get(scheme, 80)
    return Endpoint(canonical_host(url.raw_host), port)


def file_targets(config: TargetsConfig, base_dir: Path) -> list[Monitored]:
    """The targets of the target file's jobs as the collector builds them (reads file_sd files)."""
    found = []
    for job in config.jobs:
        groups = [group for source in discover(job, base_dir) for group in source.groups]
        targets, _ = build_targets(job, groups)
        for target in targets:
            url = URL(target.url)
            if not url.raw_host:
                continue
            instance = dict(target.labels).get("instance", "")
            point = Endpoint(canonical_host(url.raw_host), url.port or 80)
            server_id = server_id_for(job.job_name, instance)
            found.append(Monitored(url.raw_authority, job.job_name, server_id, "file", point))
    return found


def read_target_file(path: Path) -> TargetsConfig | None:
    """The target file, or None (logged) when it cannot be read: registration then knows only the table."""
    try:
        return load_targets(path)
    except ConfigError as exc:
        log.warning(
            "target file not readable for registration checks", file=str(path), problems=len(exc.problems)
        )
        return None


def from_table(rows: Iterable[ServerAddress]) -> list[Monitored]:
    """The monitored addresses of ``servers`` rows."""
    found = []
    for row in rows:
        point = endpoint(row.address, row.scheme)
        if point is not None:
            source: Source = "api" if row.source == "api" else "discovered"
            found.append(Monitored(row.address, row.job, row.id, source, point))
    return found


async def _resolved(
    names: Iterable[str], port: int, resolver: AbstractResolver, timeout_s: float
) -> dict[str, set[str]]:
    """The addresses of each name that resolves within ``timeout_s`` (canonical forms)."""
    limit = asyncio.Semaphore(_RESOLVE_CONCURRENCY)
    found: dict[str, set[str]] = {}

    async def one(name: str) -> None:
        async with limit:
            addresses = await resolve(name, port, resolver)
        if addresses:
            found[name] = {canonical_host(a) for a in addresses}

    tasks = [asyncio.create_task(one(name)) for name in set(names)]
    if tasks:
        _, pending = await asyncio.wait(tasks, timeout=timeout_s)
        for task in pending:
            task.cancel()
    return found


async def find_monitored(
    candidate: Endpoint,
    monitored: Sequence[Monitored],
    resolver: AbstractResolver,
    *,
    timeout_s: float = RESOLVE_TIMEOUT_S,
) -> Monitored | None:
    """The first monitored address that is the same endpoint as ``candidate``, else None."""
    same_port = [m for m in monitored if m.endpoint.port == candidate.port]
    for item in same_port:
        if item.endpoint.host == candidate.host:
            return item
    names = [m.endpoint.host for m in same_port if m.endpoint.is_name]
    if candidate.is_name:
        names.append(candidate.host)
    if not names:
        return None
    resolved = await _resolved(names, candidate.port, resolver, timeout_s)
    mine = resolved.get(candidate.host, set()) | ({candidate.host} if not candidate.is_name else set())
    for item in same_port:
        theirs = resolved.get(item.endpoint.host, set()) | (
            set() if item.endpoint.is_name else {item.endpoint.host}
        )
        if mine & theirs:
            return item
    return None
