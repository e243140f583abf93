"""Series and series sets in PostgreSQL: the reference data every history row points to.

A target's scrape is stored as one row of values aligned with its *series set*: the list of the target's
series in page order. A set is registered once (its ``series`` rows, then its ``series_sets`` row holding
the series ids in order) and is one bigint afterwards. Both are keyed by digests, so registering is
idempotent: a replayed batch or a second collector finds the rows already there.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from collector.result import SeriesKey
from collector.storage.partitions import Connection

SETS_PER_TRANSACTION = 50
"""How many new sets one transaction registers: a first wave's progress survives a timeout in slices."""


@dataclass(frozen=True, slots=True)
class SeriesSetDef:
    """The series of one target's scrapes, in value order."""

    server_id: UUID
    series: tuple[SeriesKey, ...]


def series_key_hash(key: SeriesKey) -> bytes:
    """A 16-byte digest of a series' name and labels: the unique key of its ``series`` row."""
    metric, labels = key
    text = "\x00".join([metric, *(f"{k}\x01{v}" for k, v in labels)])
    return hashlib.blake2b(text.encode(), digest_size=16).digest()


def series_set_digest(server_id: UUID, series: Sequence[SeriesKey]) -> bytes:
    """A 16-byte digest of a target's series list, order included: the unique key of its set row."""
    h = hashlib.blake2b(server_id.bytes, digest_size=16)
    for metric, labels in series:
        h.update(metric.encode())
        for k, v in labels:
            h.update(b"\x01" + k.encode() + b"\x02" + v.encode())
        h.update(b"\x00")
    return h.digest()


@dataclass(frozen=True, slots=True)
class _SeriesRows:
    """The ``series`` rows of some sets, as the arrays of one ``INSERT … unnest``, and each set's hashes."""

    hashed: list[list[bytes]]
    key_hashes: list[bytes]
    server_ids: list[UUID]
    metrics: list[str]
    labels: list[str]


def _series_rows(sets: Sequence[tuple[bytes, SeriesSetDef]]) -> _SeriesRows:
    hashed = [[series_key_hash(key) for key in definition.series] for _, definition in sets]
    unique: dict[bytes, tuple[UUID, SeriesKey]] = {}
    for hashes, (_, definition) in zip(hashed, sets, strict=True):
        for h, key in zip(hashes, definition.series, strict=True):
            unique.setdefault(h, (definition.server_id, key))
    return _SeriesRows(
        hashed,
        list(unique),
        [v[0] for v in unique.values()],
        [v[1][0] for v in unique.values()],
        [json.dumps(dict(v[1][1])) for v in unique.values()],
    )


async def register_sets(conn: Connection, sets: Sequence[tuple[bytes, SeriesSetDef]]) -> dict[bytes, int]:
    """Store the series and the set rows of ``sets``; returns each digest's set id."""
    # Hashing and encoding tens of thousands of series is CPU work: off the event loop.
    rows = await asyncio.to_thread(_series_rows, sets)
    hashed, unique = rows.hashed, rows.key_hashes
    await conn.execute(
        """INSERT INTO series (key_hash, server_id, metric, labels)
           SELECT h, s, m, l::jsonb
           FROM unnest($1::bytea[], $2::uuid[], $3::text[], $4::text[]) AS u(h, s, m, l)
           ON CONFLICT (key_hash) DO NOTHING""",
        unique,
        rows.server_ids,
        rows.metrics,
        rows.labels,
    )
    ids = {
        r["key_hash"]: r["id"]
        for r in await conn.fetch("SELECT key_hash, id FROM series WHERE key_hash = ANY($1)", unique)
    }
    await conn.executemany(
        """INSERT INTO series_sets (digest, server_id, n_series, series_ids) VALUES ($1, $2, $3, $4)
           ON CONFLICT (digest) DO NOTHING""",
        [
            (digest, definition.server_id, len(hashes), [ids[h] for h in hashes])
            for hashes, (digest, definition) in zip(hashed, sets, strict=True)
        ],
    )
    found = await conn.fetch(
        "SELECT digest, id FROM series_sets WHERE digest = ANY($1)", [digest for digest, _ in sets]
    )
    return {r["digest"]: r["id"] for r in found}
