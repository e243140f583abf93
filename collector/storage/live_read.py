"""The read side of the Redis live layer for the API: statuses, recent points, latest values, Redis health.

Layout and encodings are those written by :mod:`collector.storage.live`; key names come from
:mod:`collector.storage.keys`. Every function takes the shared client (``decode_responses=False``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypedDict, cast, get_args

import redis.asyncio as aioredis

from collector.result import SeriesKey
from collector.storage import keys
from collector.storage.live_codec import decode_latest, decode_series_set
from collector.summary import ServerSummary, Status

_STATUSES: frozenset[str] = frozenset(get_args(Status))


@dataclass(frozen=True, slots=True)
class ServerStatus:
    """One server's live status, as the collector last wrote it."""

    server_id: str
    status: Status
    last_scrape: float | None
    """Unix time in seconds of the last scrape."""
    last_error: str | None
    """The last scrape's error; None when it succeeded."""
    scrape_duration_s: float | None
    job: str
    instance: str
    labels: Mapping[str, str] = field(hash=False)
    identity: str | None
    """The target whose latest values :func:`latest_series` reads."""
    summary: ServerSummary

    def to_dict(self) -> dict[str, object]:
        """The status as the JSON the collector wrote (summary fields that are unknown left out)."""
        return {
            "server_id": self.server_id,
            "status": self.status,
            "last_scrape": self.last_scrape,
            "last_error": self.last_error,
            "scrape_duration_s": self.scrape_duration_s,
            "job": self.job,
            "instance": self.instance,
            "labels": dict(self.labels),
            "identity": self.identity,
            "summary": self.summary.to_dict(),
        }


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _binary(value: bytes | str) -> bytes:
    if isinstance(value, str):
        raise TypeError("the live layer's binary values need a client with decode_responses=False")
    return value


def _optional_float(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _optional_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def parse_status(server_id: str, data: bytes | str) -> ServerStatus | None:
    """Read a ``server:{id}:status`` value; None when it is not a JSON object.

    A status word this version does not know reads as ``unknown`` rather than failing the whole listing.
    """
    try:
        doc = json.loads(data)
    except ValueError:
        return None
    if not isinstance(doc, dict):
        return None
    status = doc.get("status")
    labels = doc.get("labels")
    summary = doc.get("summary")
    return ServerStatus(
        server_id=server_id,
        status=cast(Status, status) if status in _STATUSES else "unknown",
        last_scrape=_optional_float(doc.get("last_scrape")),
        last_error=_optional_str(doc.get("last_error")),
        scrape_duration_s=_optional_float(doc.get("scrape_duration_s")),
        job=_optional_str(doc.get("job")) or "",
        instance=_optional_str(doc.get("instance")) or "",
        labels={str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {},
        identity=_optional_str(doc.get("identity")),
        summary=ServerSummary.from_dict(summary) if isinstance(summary, dict) else ServerSummary(),
    )


def matches(
    server: ServerStatus, status: str | None, name: str | None, label: tuple[str, str] | None
) -> bool:
    """Whether ``server`` passes the listing's filters (see :func:`list_servers`); None means any."""
    if status is not None and server.status != status:
        return False
    if name is not None:
        needle = name.casefold()
        haystacks = (server.instance, server.labels.get("name", ""), server.server_id)
        if not any(needle in hay.casefold() for hay in haystacks):
            return False
    return label is None or server.labels.get(label[0]) == label[1]


async def status_documents(redis: aioredis.Redis) -> list[tuple[str, bytes]]:
    """Every indexed server's id and raw status document, in two round trips (expired ones left out)."""
    ids = [_text(raw) for raw in await redis.zrange(keys.SERVERS_INDEX, 0, -1)]
    if not ids:
        return []
    pipe = redis.pipeline(transaction=False)
    for server_id in ids:
        pipe.get(keys.server_status(server_id))
    replies: list[bytes | None] = await pipe.execute()
    # An index entry outlives its status by up to one batch: skip what has expired.
    return [(server_id, raw) for server_id, raw in zip(ids, replies, strict=True) if raw is not None]


async def list_servers(
    redis: aioredis.Redis,
    *,
    status: str | None = None,
    name: str | None = None,
    label: tuple[str, str] | None = None,
) -> list[ServerStatus]:
    """Every server with a live status, sorted by job and instance, in two round trips.

    Filters: ``status`` exactly; ``name`` as a case-insensitive substring of the instance, the ``name``
    label or the server id; ``label`` as a (name, value) pair the server's labels must hold.
    """
    servers = []
    for server_id, raw in await status_documents(redis):
        server = parse_status(server_id, raw)
        if server is not None and matches(server, status, name, label):
            servers.append(server)
    servers.sort(key=lambda s: (s.job, s.instance, s.server_id))
    return servers


async def get_server(redis: aioredis.Redis, server_id: str | uuid.UUID) -> ServerStatus | None:
    """One server's live status; None when Redis has none."""
    raw = await redis.get(keys.server_status(server_id))
    return parse_status(str(server_id), raw) if raw is not None else None


async def latest_series(redis: aioredis.Redis, identity: str) -> list[tuple[SeriesKey, float, int]]:
    """Every series of a target's latest scrape as (series, value, timestamp in ms).

    Empty when the target has no latest value, or while its series set is missing (Redis lost it; the
    collector writes it again within its refresh interval). Raises ValueError for a value that does not
    match its series set.
    """
    raw = await redis.get(keys.target_latest(identity))
    if raw is None:
        return []
    latest = decode_latest(_binary(raw))
    if not latest.values:
        return []
    raw_set = await redis.get(keys.series_set(latest.series_set_id))
    if raw_set is None:
        return []
    series = decode_series_set(_binary(raw_set))
    if len(series) != len(latest.values):
        raise ValueError(
            f"latest value of {identity} has {len(latest.values)} values for {len(series)} series"
        )
    stamps = latest.timestamps_ms or [latest.timestamp_ms] * len(series)
    return list(zip(series, latest.values, stamps, strict=True))


class RedisStats(TypedDict):
    """Redis health for ``/api/monitoring/redis-stats``."""

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
    """Hits / (hits + misses) since the server started; None before any lookup."""
    keys: dict[str, int]
    """Keys per database (``db0`` …); databases without keys are absent."""
    expires: dict[str, int]
    """Keys with a TTL per database."""


def _int(info: Mapping[str, object], name: str) -> int:
    value = info.get(name, 0)
    return int(value) if isinstance(value, int | float | str) else 0


async def redis_stats(redis: aioredis.Redis) -> RedisStats:
    """Memory, keys, ops/s, hit rate, clients, uptime and version from one ``INFO``."""
    info: dict[str, object] = await redis.info()
    hits, misses = _int(info, "keyspace_hits"), _int(info, "keyspace_misses")
    databases = {
        name: value for name, value in info.items() if name.startswith("db") and isinstance(value, dict)
    }
    return RedisStats(
        version=str(info.get("redis_version", "")),
        uptime_s=_int(info, "uptime_in_seconds"),
        connected_clients=_int(info, "connected_clients"),
        used_memory_bytes=_int(info, "used_memory"),
        used_memory_peak_bytes=_int(info, "used_memory_peak"),
        maxmemory_bytes=_int(info, "maxmemory"),
        ops_per_s=_int(info, "instantaneous_ops_per_sec"),
        keyspace_hits=hits,
        keyspace_misses=misses,
        hit_rate=hits / (hits + misses) if hits + misses else None,
        keys={name: _int(db, "keys") for name, db in databases.items()},
        expires={name: _int(db, "expires") for name, db in databases.items()},
    )
