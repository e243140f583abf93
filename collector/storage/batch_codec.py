"""The byte form of a :class:`~collector.storage.history.HistoryBatch`, as kept in the spool.

Layout: the magic ``OMHB1``, then one zlib stream (level 1: the spool is written while PostgreSQL is down and
must keep up with scraping) holding a JSON header of targets and series-set definitions, followed by the rows
in binary: per row a fixed header (server id, time, set digest, up, which stats are present), the present
stats and the values as little-endian float64. Values go through ``array`` so that encoding a scrape is one
C call, and NaN payloads survive.
"""

from __future__ import annotations

import json
import math
import struct
import zlib
from array import array
from collections.abc import Collection
from uuid import UUID

from collector.storage.history import HistoryBatch, ScrapeRow, StatsValues
from collector.storage.series_sets import SeriesSetDef
from collector.storage.server_rows import TargetRow

_MAGIC = b"OMHB1"
_ROW = struct.Struct("<16sq16sBBI")
_STATS = struct.Struct("<5d")
_LEN = struct.Struct("<I")


class BatchDecodeError(ValueError):
    """The bytes are not a batch this version wrote."""


def encode_batch(batch: HistoryBatch, define_sets: Collection[bytes]) -> bytes:
    """``batch`` as bytes, carrying the definitions of the sets in ``define_sets`` only."""
    header = {
        "targets": [
            [str(t.server_id), t.job, t.instance, [list(p) for p in t.labels]] for t in batch.targets.values()
        ],
        # Tuples are JSON arrays as they are: a million series are not copied into lists first.
        "sets": [
            [digest.hex(), str(d.server_id), d.series]
            for digest, d in batch.sets.items()
            if digest in define_sets
        ],
    }
    head = json.dumps(header, separators=(",", ":"), check_circular=False).encode()
    parts = [_LEN.pack(len(head)), head]
    for row in batch.rows:
        stats = row.stats.as_tuple() if row.stats is not None else (None,) * 5
        mask = sum(1 << i for i, v in enumerate(stats) if v is not None)
        parts.append(_ROW.pack(row.server_id.bytes, row.ts_ms, row.set_digest, row.up, mask, len(row.values)))
        if mask:
            parts.append(_STATS.pack(*(math.nan if v is None else v for v in stats)))
        parts.append(array("d", row.values).tobytes())
    return _MAGIC + zlib.compress(b"".join(parts), 1)


def decode_batch(data: bytes) -> HistoryBatch:
    """The batch that :func:`encode_batch` wrote; raises :class:`BatchDecodeError` on anything else."""
    if not data.startswith(_MAGIC):
        raise BatchDecodeError("not a history batch")
    try:
        body = zlib.decompress(data[len(_MAGIC) :])
        (head_len,) = _LEN.unpack_from(body, 0)
        pos = _LEN.size + head_len
        header = json.loads(body[_LEN.size : pos])
        batch = HistoryBatch()
        for sid, job, instance, labels in header["targets"]:
            server_id = UUID(sid)
            batch.targets[server_id] = TargetRow(server_id, job, instance, tuple((k, v) for k, v in labels))
        for digest, sid, series in header["sets"]:
            keys = tuple([(m, tuple(map(tuple, labels))) for m, labels in series])
            batch.sets[bytes.fromhex(digest)] = SeriesSetDef(UUID(sid), keys)
        while pos < len(body):
            sid_bytes, ts_ms, digest, up, mask, count = _ROW.unpack_from(body, pos)
            pos += _ROW.size
            stats = None
            if mask:
                raw = _STATS.unpack_from(body, pos)
                pos += _STATS.size
                stats = StatsValues(*(v if mask & (1 << i) else None for i, v in enumerate(raw)))
            values = array("d")
            values.frombytes(body[pos : pos + 8 * count])
            pos += 8 * count
            batch.rows.append(ScrapeRow(UUID(bytes=sid_bytes), ts_ms, digest, values, bool(up), stats))
    except (zlib.error, struct.error, ValueError, KeyError, TypeError) as exc:
        raise BatchDecodeError(f"corrupt history batch: {exc}") from exc
    return batch
