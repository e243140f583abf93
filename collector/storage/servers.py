"""The ``servers`` table as an inventory: listing, reading, registering, editing and removing servers.

A server is either *discovered* (the collector's history writer inserts it when it first scrapes a target of
the target file) or registered through the API (``source = 'api'``). Either way its id is
:func:`~collector.result.server_id_for` of its job and address, so the collector's writers and the
API agree on it without a round trip; that is also why job and address cannot change after registration.

After any change to registered servers the API publishes on
:data:`~collector.storage.keys.TARGETS_CHANGED`, for whoever wants to know at once; the collector reads
:func:`registered_targets` again on its own, every few seconds.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Literal
from uuid import UUID

import asyncpg

from collector.hostport import split_host_port
from collector.result import server_id_for

Source = Literal["discovered", "api"]
Scheme = Literal["http", "https"]


UPDATABLE: Final = frozenset(
    {
        "name",
        "description",
        "scheme",
        "metrics_path",
        "labels",
        "scrape_interval_s",
        "scrape_timeout_s",
        "collectors",
        "tags",
        "enabled",
    }
)
"""Columns :func:`update_server` may change; job and address are the server's identity and stay."""

_COLUMNS: Final = """id, name, hostname, description, status, created_at, updated_at, last_check, owner_id,
    job, address, labels, source, scheme, metrics_path, scrape_interval_s, enabled, scrape_timeout_s,
    collectors, tags"""


@dataclass(frozen=True)
class ServerRecord:
    """One row of ``servers``; job and address are None for rows made before servers were targets."""

    id: UUID
    name: str
    hostname: str
    description: str | None
    status: str
    created_at: datetime
    updated_at: datetime
    last_check: datetime | None
    owner_id: UUID | None
    job: str | None
    address: str | None
    labels: dict[str, str]
    source: Source
    scheme: str
    metrics_path: str
    scrape_interval_s: float | None
    """None: the collector's global scrape interval."""
    enabled: bool
    scrape_timeout_s: float | None = None
    """None: the collector's global scrape timeout (never longer than the interval)."""
    collectors: tuple[str, ...] | None = None
    """None: every collector the exporter runs; else the ``collect[]`` parameters of each scrape."""
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class NewServer:
    """What registering a server takes; the id follows from ``job`` and ``address``."""

    name: str
    address: str
    job: str = "servers"
    scheme: Scheme = "http"
    metrics_path: str = "/metrics"
    labels: Mapping[str, str] = field(default_factory=dict)
    description: str | None = None
    scrape_interval_s: float | None = None
    enabled: bool = True
    owner_id: UUID | None = None
    scrape_timeout_s: float | None = None
    collectors: tuple[str, ...] | None = None
    tags: tuple[str, ...] = ()

    @property
    def id(self) -> UUID:
        """The id the server's target will have."""
        return server_id_for(self.job, self.address)


@dataclass(frozen=True)
class RegisteredServer:
    """A server registered through the API, as the collector scrapes it."""

    id: UUID
    name: str
    job: str
    address: str
    scheme: str
    metrics_path: str
    labels: dict[str, str]
    scrape_interval_s: float | None
    """None: the collector's global scrape interval."""
    scrape_timeout_s: float | None = None
    """None: the collector's global scrape timeout."""
    collectors: tuple[str, ...] | None = None
    """None: whatever the exporter serves; else only these collectors (``collect[]``)."""

    @property
    def url(self) -> str:
        """The metrics URL."""
        return f"{self.scheme}://{self.address}{self.metrics_path}"


@dataclass(frozen=True)
class ServerAddress:
    """Where a server of the table is scraped (its job and address), for registration's duplicate check."""

    id: UUID
    job: str
    address: str
    scheme: str
    source: Source


class ServerExistsError(Exception):
    """Another server already has this job and address (registered or discovered)."""

    def __init__(self, job: str, address: str) -> None:
        super().__init__(f"a server with job {job!r} and address {address!r} already exists")
        self.job = job
        self.address = address
        self.server_id = server_id_for(job, address)


def _labels(value: object) -> dict[str, str]:
    # asyncpg hands jsonb over as text unless a codec is set on the pool.
    decoded = json.loads(value) if isinstance(value, str) else value
    return {str(k): str(v) for k, v in dict(decoded).items()} if isinstance(decoded, dict) else {}


def _record(row: asyncpg.Record) -> ServerRecord:
    return ServerRecord(
        id=row["id"],
        name=row["name"],
        hostname=row["hostname"],
        description=row["description"],
        status=row["status"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        last_check=row["last_check"],
        owner_id=row["owner_id"],
        job=row["job"],
        address=row["address"],
        labels=_labels(row["labels"]),
        source=row["source"],
        scheme=row["scheme"],
        metrics_path=row["metrics_path"],
        scrape_interval_s=row["scrape_interval_s"],
        enabled=row["enabled"],
        scrape_timeout_s=row["scrape_timeout_s"],
        collectors=_names(row["collectors"]),
        tags=tuple(row["tags"]),
    )


def _names(value: list[str] | None) -> tuple[str, ...] | None:
    return None if value is None else tuple(value)


async def list_servers(
    pool: asyncpg.Pool, *, allowed: Collection[UUID] | None = None, limit: int = 100, offset: int = 0
) -> tuple[list[ServerRecord], int]:
    """A page of servers sorted by name, and how many there are in all; ``allowed`` None means every one."""
    ids = None if allowed is None else list(allowed)
    rows = await pool.fetch(
        f"""SELECT {_COLUMNS}, count(*) OVER () AS total FROM servers
            WHERE $1::uuid[] IS NULL OR id = ANY($1::uuid[])
            ORDER BY lower(name), id LIMIT $2 OFFSET $3""",  # noqa: S608 - constant column list
        ids,
        limit,
        offset,
    )
    if rows:
        return [_record(r) for r in rows], int(rows[0]["total"])
    # An offset past the end still reports the total, so a client can page back.
    total: int = await pool.fetchval(
        "SELECT count(*) FROM servers WHERE $1::uuid[] IS NULL OR id = ANY($1::uuid[])", ids
    )
    return [], total


async def get_server(pool: asyncpg.Pool, server_id: UUID) -> ServerRecord | None:
    """One server; None when there is no such row."""
    row = await pool.fetchrow(f"SELECT {_COLUMNS} FROM servers WHERE id = $1", server_id)  # noqa: S608 - constant
    return _record(row) if row is not None else None


async def create_server(pool: asyncpg.Pool, server: NewServer, *, grant_owner: bool = False) -> ServerRecord:
    """Register ``server`` (source ``api``); :class:`ServerExistsError` when its job and address are taken.

    ``grant_owner`` also grants the owner access to it, in the same transaction.
    """
    async with pool.acquire() as conn, conn.transaction():
        try:
            row = await conn.fetchrow(
                f"""INSERT INTO servers (id, name, hostname, description, owner_id, job, address, labels,
                                         source, scheme, metrics_path, scrape_interval_s, enabled,
                                         scrape_timeout_s, collectors, tags)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, 'api', $9, $10, $11, $12, $13, $14, $15)
                    RETURNING {_COLUMNS}""",  # noqa: S608 - constant column list
                server.id,
                server.name,
                split_host_port(server.address)[0],
                server.description,
                server.owner_id,
                server.job,
                server.address,
                json.dumps(dict(server.labels)),
                server.scheme,
                server.metrics_path,
                server.scrape_interval_s,
                server.enabled,
                server.scrape_timeout_s,
                None if server.collectors is None else list(server.collectors),
                list(server.tags),
            )
        except asyncpg.UniqueViolationError:
            # The primary key or UNIQUE (job, address): both mean this target is already a server.
            raise ServerExistsError(server.job, server.address) from None
        assert row is not None
        if grant_owner and server.owner_id is not None:
            await conn.execute(
                "INSERT INTO server_grants (user_id, server_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                server.owner_id,
                server.id,
            )
    return _record(row)


async def update_server(
    pool: asyncpg.Pool, server_id: UUID, fields: Mapping[str, object]
) -> ServerRecord | None:
    """Change the given columns (names from :data:`UPDATABLE`); None when there is no such server.

    Raises ``ValueError`` naming a column that cannot be changed.
    """
    unknown = set(fields) - UPDATABLE
    if unknown:
        raise ValueError(
            f"cannot update {', '.join(sorted(unknown))}; updatable: {', '.join(sorted(UPDATABLE))}"
        )
    names = sorted(fields)
    values: list[object] = []
    for name in names:
        value = fields[name]
        if name == "labels" and isinstance(value, Mapping):
            value = json.dumps(dict(value))
        elif isinstance(value, tuple):
            value = list(value)  # text[] columns: asyncpg takes lists
        values.append(value)
    # Column names come from UPDATABLE only, never from the caller's text.
    assignments = ", ".join(
        f"{name} = ${i}{'::jsonb' if name == 'labels' else ''}" for i, name in enumerate(names, start=2)
    )
    sets = f"{assignments}, updated_at = now()" if assignments else "updated_at = now()"
    row = await pool.fetchrow(
        f"UPDATE servers SET {sets} WHERE id = $1 RETURNING {_COLUMNS}",  # noqa: S608 - names from UPDATABLE
        server_id,
        *values,
    )
    return _record(row) if row is not None else None


async def delete_server(pool: asyncpg.Pool, server_id: UUID) -> bool:
    """Remove a server with its stats, alerts and grants; False when there was none."""
    deleted = await pool.fetchval("DELETE FROM servers WHERE id = $1 RETURNING id", server_id)
    return deleted is not None


async def registered_targets(pool: asyncpg.Pool) -> list[RegisteredServer]:
    """The enabled servers registered through the API, for the collector to scrape, by job and address."""
    rows = await pool.fetch(
        """SELECT id, name, job, address, scheme, metrics_path, labels, scrape_interval_s, scrape_timeout_s,
                  collectors
           FROM servers
           WHERE source = 'api' AND enabled ORDER BY job, address"""
    )
    return [
        RegisteredServer(
            id=r["id"],
            name=r["name"],
            job=r["job"],
            address=r["address"],
            scheme=r["scheme"],
            metrics_path=r["metrics_path"],
            labels=_labels(r["labels"]),
            scrape_interval_s=r["scrape_interval_s"],
            scrape_timeout_s=r["scrape_timeout_s"],
            collectors=_names(r["collectors"]),
        )
        for r in rows
    ]


async def server_addresses(pool: asyncpg.Pool) -> list[ServerAddress]:
    """Every server with a job and an address, registered or discovered."""
    rows = await pool.fetch(
        """SELECT id, job, address, scheme, source FROM servers
           WHERE job IS NOT NULL AND address IS NOT NULL"""
    )
    return [ServerAddress(r["id"], r["job"], r["address"], r["scheme"], r["source"]) for r in rows]
