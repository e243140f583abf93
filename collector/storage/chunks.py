"""Lossless compression of sample sequences for the compacted history tiers.

A chunk holds one target's scrapes of one hour (or its rollup buckets) as a matrix: one column per series.
Each column is encoded on its own so that a reader can fetch a single series with ``substring`` on the
stored payload, using the offsets array kept beside it.

Column encoding (pure Python, no numpy, so every step is a list comprehension or a C-level ``array``/``zlib``
call; a column of 240 values encodes in about 0.1 ms):

* **decimal**: when every value is a finite decimal with at most ``_MAX_DECIMALS`` digits after the point
  (integers, and values that exporters print such as ``12345.67``), the column is stored as integers scaled
  by ``10**k``: the first value and first delta as varints, then first or second order differences,
  zigzagged and packed at the narrowest fixed width (0, 1, 2, 4 or 8 bytes) with the bytes of each width
  grouped into planes.
  Counters that grow steadily and constant gauges become runs of zeros.
* **xor**: any other column (full-precision ratios, NaN, infinities) is stored as the IEEE-754 bit patterns
  XORed with the previous value's, split into 8 byte planes, so equal sign, exponent and high mantissa bits
  become zero planes. This is lossless bit for bit, NaN payloads (the staleness marker) included.

Each column is then deflated (raw deflate, no header or checksum: the database page checksums cover it).
Decoding is exact: ``decode_column(encode_column(v), len(v))`` returns values equal bit for bit.
"""

from __future__ import annotations

import math
import zlib
from array import array
from collections.abc import Sequence
from itertools import pairwise

_DECIMAL = 0x00
_XOR = 0x80
_ORDER2 = 0x40
_MAX_DECIMALS = 6
_MAX_EXACT_INT = 2**53
_WIDTH_CODES = {1: "B", 2: "H", 4: "I", 8: "Q"}
_WBITS = -15
_LEVEL = 6


def _zigzag(values: list[int]) -> list[int]:
    # Values stay below 2**62 in magnitude (see _MAX_EXACT_INT), so the sign shift by 63 is exact.
    return [(v << 1) ^ (v >> 63) for v in values]


def _unzigzag(values: Sequence[int]) -> list[int]:
    return [v >> 1 if not v & 1 else -((v + 1) >> 1) for v in values]


def _varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _read_varint(data: bytes | memoryview, pos: int) -> tuple[int, int]:
    shift = 0
    value = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _pack(values: list[int]) -> bytes:
    """Unsigned integers at the narrowest fixed width, width byte first, bytes grouped into planes."""
    top = max(values, default=0)
    if top == 0:
        return b"\x00"
    width = 1 if top < 1 << 8 else 2 if top < 1 << 16 else 4 if top < 1 << 32 else 8
    raw = array(_WIDTH_CODES[width], values).tobytes()
    if width == 1:
        return b"\x01" + raw
    # Grouping the k-th byte of every value together puts the (mostly zero) high bytes in long runs.
    return bytes([width]) + b"".join(raw[i::width] for i in range(width))


def _unpack(data: bytes | memoryview, pos: int, count: int) -> tuple[list[int], int]:
    width = data[pos]
    pos += 1
    if width == 0:
        return [0] * count, pos
    size = width * count
    planes = bytes(data[pos : pos + size])
    if width == 1:
        return list(planes), pos + size
    raw = bytearray(size)
    for i in range(width):
        raw[i::width] = planes[i * count : (i + 1) * count]
    return array(_WIDTH_CODES[width], bytes(raw)).tolist(), pos + size


def _decimals(values: Sequence[float]) -> int | None:
    """The smallest k such that every value is an integer over 10**k, or None."""
    if 0.0 in values and any(v == 0.0 and math.copysign(1.0, v) < 0 for v in values):
        return None  # -0.0 is an integer, but scaling would turn it into +0.0
    if all(map(float.is_integer, values)):
        return 0 if min(values) > -_MAX_EXACT_INT and max(values) < _MAX_EXACT_INT else None
    texts = list(map(repr, values))
    joined = ",".join(texts)
    if "e" in joined or "n" in joined:
        return None  # exponent notation, nan or inf
    k = max(map(len, [t.partition(".")[2] for t in texts]))
    if k > _MAX_DECIMALS or max(map(abs, values)) * 10**k >= _MAX_EXACT_INT:
        return None
    return k


def _encode_decimal(values: Sequence[float], k: int) -> bytes:
    scale = 10**k
    ints = list(map(int, values)) if k == 0 else [round(v * scale) for v in values]
    if k and [m / scale for m in ints] != list(values):
        raise ValueError("not exact at this scale")
    deltas = [b - a for a, b in pairwise(ints)]
    second = [b - a for a, b in pairwise(deltas)]
    head = _varint(_zigzag([ints[0]])[0]) + (_varint(_zigzag([deltas[0]])[0]) if deltas else b"")
    # Steady counters have near-constant deltas (second order wins); random walks do better on first order.
    if second and max(map(abs, second)) < max(map(abs, deltas[1:])):
        return bytes([_DECIMAL | _ORDER2 | k]) + head + _pack(_zigzag(second))
    return bytes([_DECIMAL | k]) + head + _pack(_zigzag(deltas[1:]))


def _encode_xor(values: Sequence[float]) -> bytes:
    bits = array("Q", array("d", values).tobytes())
    xored = [bits[0]] + [a ^ b for a, b in pairwise(bits)]
    raw = array("Q", xored).tobytes()
    return bytes([_XOR]) + b"".join(raw[i::8] for i in range(8))


def encode_column(values: Sequence[float]) -> bytes:
    """One series' values, compressed; see the module docstring for the format."""
    if not values:
        return b""
    k = _decimals(values)
    body = None
    if k is not None:
        try:
            body = _encode_decimal(values, k)
        except ValueError:
            body = None
    if body is None:
        body = _encode_xor(values)
    return zlib.compress(body, _LEVEL, _WBITS)


def decode_column(data: bytes | memoryview, count: int) -> list[float]:
    """The ``count`` values that :func:`encode_column` packed into ``data``."""
    if count == 0:
        return []
    return _decode_body(zlib.decompress(data, _WBITS), count)


def _decode_body(body: bytes, count: int) -> list[float]:
    mode = body[0]
    if mode & _XOR:
        raw = bytearray(8 * count)
        for i in range(8):
            raw[i::8] = body[1 + i * count : 1 + (i + 1) * count]
        xored = array("Q", bytes(raw)).tolist()
        bits = [xored[0]]
        for x in xored[1:]:
            bits.append(bits[-1] ^ x)
        return array("d", array("Q", bits).tobytes()).tolist()
    k = mode & 0x3F
    z0, pos = _read_varint(body, 1)
    ints = _unzigzag([z0])
    if count > 1:
        zd, pos = _read_varint(body, pos)
        delta = _unzigzag([zd])[0]
        rest, _ = _unpack(body, pos, count - 2)
        diffs = _unzigzag(rest)
        value = ints[0] + delta
        ints.append(value)
        if mode & _ORDER2:
            for dd in diffs:
                delta += dd
                value += delta
                ints.append(value)
        else:
            for d in diffs:
                value += d
                ints.append(value)
    if k == 0:
        return [float(m) for m in ints]
    scale = 10**k
    return [m / scale for m in ints]


def encode_timestamps(timestamps_ms: Sequence[int]) -> bytes:
    """Millisecond timestamps (ascending), compressed with second order differences."""
    return encode_column([float(t) for t in timestamps_ms])


def decode_timestamps(data: bytes | memoryview, count: int) -> list[int]:
    """The timestamps that :func:`encode_timestamps` packed."""
    return [int(t) for t in decode_column(data, count)]


def encode_streams(streams: Sequence[Sequence[float]]) -> bytes:
    """Several columns of one series back to back (each a self-delimiting deflate stream)."""
    return b"".join(encode_column(s) for s in streams)


def decode_streams(data: bytes | memoryview, counts: Sequence[int]) -> list[list[float]]:
    """The columns that :func:`encode_streams` packed, given each one's length."""
    out: list[list[float]] = []
    rest = bytes(data)
    for count in counts:
        if count == 0:
            out.append([])
            continue
        inflater = zlib.decompressobj(_WBITS)
        body = inflater.decompress(rest)
        rest = inflater.unused_data
        out.append(_decode_body(body, count))
    return out
