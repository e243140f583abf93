"""Decoding chunk columns into numpy arrays: :mod:`collector.storage.chunks`'s format, without Python loops.

:func:`collector.storage.chunks.decode_column` rebuilds a column value by value in Python, which is fine for
maintenance (a few columns at a time) but not for a query reading days of thousands of series. The functions
here read the same bytes with whole-array operations (byte planes as a reshape, zigzag as shifts, first and
second order differences as ``cumsum``, XOR chains as ``bitwise_xor.accumulate``) and give results equal bit
for bit to ``decode_column``'s, NaN payloads (the staleness marker) included.
"""

from __future__ import annotations

import zlib

import numpy as np
from numpy.typing import NDArray

Floats = NDArray[np.float64]

_XOR = 0x80
_ORDER2 = 0x40
_WBITS = -15


def _read_varint(body: bytes, pos: int) -> tuple[int, int]:
    shift = 0
    value = 0
    while True:
        byte = body[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _unzigzag(value: int) -> int:
    return value >> 1 if not value & 1 else -((value + 1) >> 1)


def _unzigzag_array(packed: NDArray[np.uint64]) -> NDArray[np.int64]:
    # Zigzagged values stay below 2**63 (the encoder keeps magnitudes below 2**53), so int64 holds them.
    half = (packed >> np.uint64(1)).astype(np.int64)
    sign = (packed & np.uint64(1)).astype(np.int64)
    return np.asarray(half ^ -sign, dtype=np.int64)


def _planes(body: bytes, pos: int, width: int, count: int) -> NDArray[np.uint64]:
    """``count`` little-endian unsigned integers of ``width`` bytes stored as byte planes."""
    raw = np.frombuffer(body, dtype=np.uint8, count=width * count, offset=pos)
    interleaved = np.ascontiguousarray(raw.reshape(width, count).T)
    return interleaved.view(f"<u{width}").reshape(count).astype(np.uint64)


def _decode_xor(body: bytes, count: int) -> NDArray[np.float64]:
    bits = _planes(body, 1, 8, count)
    return np.bitwise_xor.accumulate(bits).view(np.float64)


def _decode_decimal(body: bytes, mode: int, count: int) -> NDArray[np.float64]:
    k = mode & 0x3F
    first, pos = _read_varint(body, 1)
    ints = np.empty(count, dtype=np.int64)
    ints[0] = _unzigzag(first)
    if count > 1:
        packed_delta, pos = _read_varint(body, pos)
        delta = _unzigzag(packed_delta)
        width = body[pos]
        rest = count - 2
        if width == 0 or rest == 0:
            diffs = np.zeros(rest, dtype=np.int64)
        else:
            diffs = _unzigzag_array(_planes(body, pos + 1, width, rest))
        steps = np.empty(count - 1, dtype=np.int64)
        steps[0] = delta
        if mode & _ORDER2:
            steps[1:] = delta + np.cumsum(diffs)
        else:
            steps[1:] = diffs
        ints[1:] = ints[0] + np.cumsum(steps)
    values = ints.astype(np.float64)
    if k:
        # Exact integers over an exact power of ten: one correctly rounded division, as int / int in Python.
        values /= float(10**k)
    return values


def decode_column_array(data: bytes | memoryview, count: int) -> NDArray[np.float64]:
    """The ``count`` values of one stored column (see :func:`collector.storage.chunks.encode_column`)."""
    if count == 0:
        return np.empty(0, dtype=np.float64)
    body = zlib.decompress(data, _WBITS)
    mode = body[0]
    if mode & _XOR:
        return _decode_xor(body, count)
    return _decode_decimal(body, mode, count)


def decode_timestamps_array(data: bytes | memoryview, count: int) -> NDArray[np.int64]:
    """The millisecond timestamps of a stored matrix (see ``chunks.encode_timestamps``)."""
    return decode_column_array(data, count).astype(np.int64)


def _stacked_planes(planes: list[bytes], width: int, count: int) -> NDArray[np.uint64]:
    """(columns × ``count``) unsigned integers of ``width`` bytes, each column's stored as byte planes."""
    raw = np.frombuffer(b"".join(planes), dtype=np.uint8).reshape(len(planes), width, count)
    interleaved = np.ascontiguousarray(raw.transpose(0, 2, 1))
    return interleaved.view(f"<u{width}").reshape(len(planes), count).astype(np.uint64)


def _decode_decimal_group(
    heads: list[tuple[int, int, int, bytes]], mode: int, width: int, count: int
) -> Floats:
    """Decimal columns alike in order, width and count, decoded together: (first, delta, k, planes) each."""
    ints = np.empty((len(heads), count), dtype=np.int64)
    ints[:, 0] = [first for first, _, _, _ in heads]
    if count > 1:
        rest = count - 2
        steps = np.empty((len(heads), count - 1), dtype=np.int64)
        steps[:, 0] = [delta for _, delta, _, _ in heads]
        if width == 0 or rest == 0:
            diffs = np.zeros((len(heads), rest), dtype=np.int64)
        else:
            diffs = _unzigzag_array(_stacked_planes([p for _, _, _, p in heads], width, rest))
        if mode & _ORDER2:
            steps[:, 1:] = steps[:, :1] + np.cumsum(diffs, axis=1)
        else:
            steps[:, 1:] = diffs
        ints[:, 1:] = ints[:, :1] + np.cumsum(steps, axis=1)
    values = ints.astype(np.float64)
    scales = np.array([float(10**k) for _, _, k, _ in heads])
    if bool(np.any(scales != 1.0)):
        # As in decode_column_array: one correctly rounded division; by 1.0 it changes nothing.
        values /= scales[:, None]
    return values


def decode_columns(columns: list[tuple[bytes, int]]) -> list[Floats]:
    """:func:`decode_column_array` of each (data, count), equal bit for bit, with the numpy work done once per
    group of columns alike in encoding, width and count rather than once per column."""
    out: list[Floats | None] = [None] * len(columns)
    groups: dict[tuple[int, int, int], list[tuple[int, tuple[int, int, int, bytes]]]] = {}
    for index, (data, count) in enumerate(columns):
        if count == 0:
            out[index] = np.empty(0, dtype=np.float64)
            continue
        body = zlib.decompress(data, _WBITS)
        mode = body[0]
        if mode & _XOR:
            groups.setdefault((_XOR, 8, count), []).append((index, (0, 0, 0, body[1 : 1 + 8 * count])))
            continue
        first, pos = _read_varint(body, 1)
        delta, width, planes = 0, 0, b""
        if count > 1:
            packed_delta, pos = _read_varint(body, pos)
            delta = _unzigzag(packed_delta)
            width = body[pos]
            planes = body[pos + 1 : pos + 1 + width * (count - 2)]
        key = (mode & _ORDER2, width, count)
        groups.setdefault(key, []).append((index, (_unzigzag(first), delta, mode & 0x3F, planes)))
    for (mode, width, count), members in groups.items():
        heads = [head for _, head in members]
        if mode == _XOR:
            bits = _stacked_planes([planes for _, _, _, planes in heads], 8, count)
            decoded = np.bitwise_xor.accumulate(bits, axis=1).view(np.float64)
        else:
            decoded = _decode_decimal_group(heads, mode, width, count)
        for row, (index, _) in enumerate(members):
            out[index] = decoded[row].copy()  # its own memory: a cache may keep one column, not the group
    return [column for column in out if column is not None]
