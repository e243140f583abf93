"""The value column of ``history_raw``: one scrape's values as one ``bytea``.

The values are packed as big-endian float64, back to back, in series-set order: the bytes PostgreSQL's own
``float8send`` gives, so SQL can still pick value ``i`` with ``substring(vals FROM 8 * (i - 1) + 1 FOR 8)``.
A ``float8[]`` column made asyncpg encode each value on its own (checking whether it is itself a nested
array), which cost the collector more than everything else it does to write history; packing is one C
call. NaN payloads (Prometheus's stale markers) survive.
"""

from __future__ import annotations

import struct
import sys
from array import array
from collections.abc import Sequence

_SWAP = sys.byteorder == "little"
_ONE = struct.Struct(">d")


def pack_values(values: Sequence[float]) -> bytes:
    """``values`` as big-endian float64 bytes."""
    packed = array("d", values)
    if _SWAP:
        packed.byteswap()
    return packed.tobytes()


def unpack_values(data: bytes) -> list[float]:
    """The values :func:`pack_values` packed; raises ValueError when ``data`` is not whole float64s."""
    if len(data) % 8:
        raise ValueError(f"raw values are {len(data)} bytes, not a multiple of 8")
    values = array("d", data)
    if _SWAP:
        values.byteswap()
    return values.tolist()


def unpack_one(data: bytes) -> float | None:
    """One value picked with ``substring`` (None when the position was past the end of the row)."""
    return _ONE.unpack(data)[0] if len(data) == 8 else None
