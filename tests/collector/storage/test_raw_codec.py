"""The packed value column of history_raw: big-endian float64, as PostgreSQL's float8send writes it."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collector.storage.raw_codec import pack_values, unpack_one, unpack_values


def test_values_are_big_endian_float64_back_to_back() -> None:
    assert pack_values([1.0, -2.5]) == struct.pack(">dd", 1.0, -2.5)


@given(st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=100))
def test_packing_roundtrips_every_bit_pattern(values: list[float]) -> None:
    back = unpack_values(pack_values(values))
    assert [struct.pack(">d", v) for v in back] == [struct.pack(">d", v) for v in values]


def test_bytes_that_are_not_whole_values_are_refused() -> None:
    with pytest.raises(ValueError, match="multiple of 8"):
        unpack_values(b"\x00" * 12)


def test_one_value_picked_by_substring_and_past_the_end() -> None:
    assert unpack_one(struct.pack(">d", 42.0)) == 42.0
    assert unpack_one(b"") is None
