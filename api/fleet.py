"""The fleet listing, read from Redis at most once a second and kept encoded, for ``/api/monitoring/servers``.

Reading a thousand statuses from Redis, parsing them and serializing a thousand response models costs tens
of milliseconds: fine once, far too much for every request of a dashboard a whole team keeps open. A
:class:`FleetCache` holds one snapshot: every server's status, sorted as the answer is, with each server's
JSON already encoded. A request filters the snapshot and joins the encoded pieces, so its cost no longer
grows with the work of reading and serializing the fleet.

A snapshot is at most ``max_age_s`` old when a request starts a refresh (the collector writes a server once
per scrape interval, 15 s by default, so a second's staleness shows nothing the next event would not).
Requests that arrive during a refresh are answered from the previous snapshot rather than waiting (unless it
is more than a few ``max_age_s`` old, after a quiet spell), and share that one refresh instead of each
reading Redis. A refresh parses and encodes only the servers whose
status document changed since the previous one: at a 15 s interval, a fifteenth of the fleet per second.

The whole listing (every server, no filter: what an admin's dashboard asks for) is encoded once per snapshot,
and gzipped once, on the first request that accepts gzip: a thousand servers are a third of a megabyte of
JSON and a tenth of that compressed.
"""

from __future__ import annotations

import asyncio
import gzip
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from uuid import UUID

import redis.asyncio as aioredis

from collector.storage.live_read import ServerStatus, parse_status, status_documents

_SERVE_STALE_FACTOR = 3
"""A snapshot up to this many ``max_age_s`` old is served while a refresh runs; an older one waits for it."""


@dataclass(frozen=True, slots=True)
class FleetEntry:
    """One server of a snapshot: its status (what filters read), id and encoded JSON."""

    status: ServerStatus
    server_id: UUID
    encoded: bytes


_GZIP_LEVEL = 3
"""Most of level 9's saving on this repetitive JSON, at a fraction of its time."""


def encode_listing(entries: Iterable[FleetEntry]) -> bytes:
    """The ``{"servers": [...], "total": n}`` document of ``entries``."""
    pieces = [entry.encoded for entry in entries]
    return b'{"servers":[' + b",".join(pieces) + b'],"total":' + str(len(pieces)).encode() + b"}"


@dataclass(slots=True)
class FleetSnapshot:
    """Every server with a live status, in answer order, and the whole listing encoded."""

    entries: tuple[FleetEntry, ...]
    taken_at: float
    listing: bytes
    """:func:`encode_listing` of every entry."""
    _gzipped: bytes | None = None

    def listing_gzipped(self) -> bytes:
        """The whole listing gzipped, compressed on the first call."""
        if self._gzipped is None:
            self._gzipped = gzip.compress(self.listing, _GZIP_LEVEL, mtime=0)
        return self._gzipped


class FleetCache:
    """The latest fleet snapshot.

    ``encode`` turns a status into the JSON of one listed server; ``order`` is the sort key of the answer.
    """

    def __init__(
        self,
        encode: Callable[[ServerStatus], bytes],
        order: Callable[[ServerStatus], tuple[str, str]],
        *,
        max_age_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._encode = encode
        self._order = order
        self._max_age_s = max_age_s
        self._clock = clock
        self._snapshot: FleetSnapshot | None = None
        self._refreshing: asyncio.Task[FleetSnapshot] | None = None
        self._by_raw: dict[str, tuple[bytes, FleetEntry]] = {}
        """Each server's last status document and the entry made from it, reused while it is unchanged."""
        self.refreshes = 0
        """How many times Redis was read (for tests and metrics)."""

    async def snapshot(self, redis: aioredis.Redis) -> FleetSnapshot:
        """The held snapshot; when it is older than ``max_age_s``, a refresh starts (awaited only if none)."""
        current = self._snapshot
        if current is not None and self._clock() - current.taken_at < self._max_age_s:
            return current
        if self._refreshing is None:
            self._refreshing = asyncio.create_task(self._refresh(redis))
            self._refreshing.add_done_callback(self._refreshed)
        if current is not None and self._clock() - current.taken_at < self._max_age_s * _SERVE_STALE_FACTOR:
            return current
        # Shielded: a client that goes away must not cancel the refresh the others are waiting for.
        return await asyncio.shield(self._refreshing)

    def _refreshed(self, task: asyncio.Task[FleetSnapshot]) -> None:
        if self._refreshing is task:
            self._refreshing = None
        if not task.cancelled() and task.exception() is not None:
            # Retrieved here so a failed refresh is not reported as never retrieved; the next request retries.
            self._snapshot = None

    def invalidate(self) -> None:
        """Forget the snapshot: the next request reads Redis (after a change made through the API)."""
        self._snapshot = None

    async def _refresh(self, redis: aioredis.Redis) -> FleetSnapshot:
        taken_at = self._clock()
        previous = self._by_raw
        current: dict[str, tuple[bytes, FleetEntry]] = {}
        for server_id, raw in await status_documents(redis):
            held = previous.get(server_id)
            if held is not None and held[0] == raw:
                current[server_id] = held
                continue
            status = parse_status(server_id, raw)
            if status is not None:
                current[server_id] = (raw, FleetEntry(status, UUID(server_id), self._encode(status)))
        self._by_raw = current
        entries = tuple(sorted((entry for _, entry in current.values()), key=lambda e: self._order(e.status)))
        snapshot = FleetSnapshot(entries, taken_at, encode_listing(entries))
        self._snapshot = snapshot
        self.refreshes += 1
        return snapshot
