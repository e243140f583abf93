"""The column codec: exact round trips for every float, and small output for the usual shapes of series."""

from __future__ import annotations

import math
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collector.storage.chunks import (
    decode_column,
    decode_streams,
    decode_timestamps,
    encode_column,
    encode_streams,
    encode_timestamps,
)


def bits(values: list[float]) -> list[bytes]:
    return [struct.pack("<d", v) for v in values]


@given(st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=300))
def test_any_floats_round_trip_bit_for_bit(values: list[float]) -> None:
    assert bits(decode_column(encode_column(values), len(values))) == bits(values)


@given(st.lists(st.decimals(min_value=-(10**9), max_value=10**9, places=2, allow_nan=False), max_size=300))
def test_decimal_values_round_trip(values: list[object]) -> None:
    floats = [float(str(v)) for v in values]
    assert decode_column(encode_column(floats), len(floats)) == floats


@pytest.mark.parametrize(
    ("name", "values", "max_bytes_per_sample"),
    [
        ("constant", [4096.0] * 240, 0.1),
        ("steady counter", [1e9 + 1500.0 * i for i in range(240)], 0.1),
        (
            "cpu seconds in hundredths",
            [round(12345.67 + 14.99 * i + (i % 3) * 0.01, 2) for i in range(240)],
            0.5,
        ),
        ("memory in pages", [float(2**30 + 4096 * ((i * 37) % 101)) for i in range(240)], 1.5),
        (
            "staleness marker",
            [1.0] * 100 + [struct.unpack("<d", b"\x02\x00\x00\x00\x00\x00\xf0\x7f")[0]],
            0.25,
        ),
    ],
)
def test_common_series_compress_far_below_eight_bytes(
    name: str, values: list[float], max_bytes_per_sample: float
) -> None:
    encoded = encode_column(values)
    assert len(encoded) / len(values) <= max_bytes_per_sample, name
    assert bits(decode_column(encoded, len(values))) == bits(values)


def test_negative_zero_and_nan_survive() -> None:
    values = [0.0, -0.0, math.nan, 1.5, -math.inf]
    assert bits(decode_column(encode_column(values), 5)) == bits(values)


def test_timestamps_round_trip_and_regular_ones_cost_almost_nothing() -> None:
    stamps = [1_700_000_000_000 + 15_000 * i + (3 if i == 7 else 0) for i in range(240)]
    encoded = encode_timestamps(stamps)
    assert decode_timestamps(encoded, 240) == stamps
    assert len(encoded) < 30


def test_streams_back_to_back_decode_with_their_lengths() -> None:
    streams = [[1.0, 2.0, 3.0], [], [0.1] * 7]
    assert decode_streams(encode_streams(streams), [3, 0, 7]) == streams
