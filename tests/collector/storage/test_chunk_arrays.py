"""The numpy column decoder: bit for bit the reference decoder's values, whatever encoding the codec chose."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from collector.storage.chunk_arrays import decode_column_array, decode_columns, decode_timestamps_array
from collector.storage.chunks import decode_column, encode_column, encode_timestamps

STALE = struct.unpack("<d", b"\x02\x00\x00\x00\x00\x00\xf0\x7f")[0]


def bits(values: list[float]) -> list[bytes]:
    return [struct.pack("<d", v) for v in values]


def same_as_reference(values: list[float]) -> None:
    encoded = encode_column(values)
    decoded = decode_column_array(encoded, len(values))
    assert decoded.dtype == np.float64
    assert bits(decoded.tolist()) == bits(decode_column(encoded, len(values))) == bits(values)


@given(st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=300))
def test_any_floats_decode_bit_for_bit(values: list[float]) -> None:
    same_as_reference(values)


@given(st.lists(st.decimals(min_value=-(10**9), max_value=10**9, places=3, allow_nan=False), max_size=300))
def test_decimal_columns_decode_exactly(values: list[object]) -> None:
    same_as_reference([float(str(v)) for v in values])


@given(st.lists(st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1), max_size=300))
def test_integer_columns_of_any_width_decode_exactly(values: list[int]) -> None:
    same_as_reference([float(v) for v in values])


@pytest.mark.parametrize(
    ("name", "values"),
    [
        ("empty", []),
        ("one value", [42.5]),
        ("two values", [1.0, 3.0]),
        ("constant", [4096.0] * 240),
        ("steady counter (second order)", [1e9 + 1500.0 * i for i in range(240)]),
        ("random walk in hundredths", [round(100 + ((i * 37) % 11 - 5) * 0.01 * i, 2) for i in range(240)]),
        ("wide integers", [float(2**40 + (i * 7919) % 2**31) for i in range(240)]),
        ("negative zero forces xor", [0.0, -0.0, 1.0]),
        ("staleness marker", [1.0] * 100 + [STALE]),
        ("ratios", [i / 3 for i in range(240)]),
    ],
)
def test_every_encoding_decodes_as_the_reference(name: str, values: list[float]) -> None:
    same_as_reference(values)


def test_timestamps_decode_to_int64_milliseconds() -> None:
    stamps = [1_700_000_000_000 + 15_000 * i + (i % 4) * 125 for i in range(240)]
    decoded = decode_timestamps_array(encode_timestamps(stamps), len(stamps))
    assert decoded.dtype == np.int64
    assert decoded.tolist() == stamps


COLUMN_VALUES = st.one_of(
    st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=40),
    st.lists(st.decimals(min_value=-(10**6), max_value=10**6, places=2, allow_nan=False), max_size=40).map(
        lambda values: [float(str(v)) for v in values]
    ),
    st.lists(st.integers(min_value=-(2**40), max_value=2**40), max_size=40).map(
        lambda v: [float(i) for i in v]
    ),
    st.integers(min_value=0, max_value=40).map(lambda n: [7.5] * n),
)


@given(st.lists(COLUMN_VALUES, max_size=12))
def test_columns_decoded_together_are_each_column_decoded_alone(columns: list[list[float]]) -> None:
    encoded = [(encode_column(values), len(values)) for values in columns]
    together = decode_columns(encoded)
    assert len(together) == len(columns)
    for (data, count), got, values in zip(encoded, together, columns, strict=True):
        assert bits(got.tolist()) == bits(decode_column_array(data, count).tolist()) == bits(values)


def test_columns_alike_in_width_and_count_are_decoded_as_one_group() -> None:
    columns = [[float(i * 10 + j) for j in range(50)] for i in range(5)] + [[0.5 * j for j in range(50)]]
    together = decode_columns([(encode_column(values), len(values)) for values in columns])
    assert [column.tolist() for column in together] == columns
