"""The byte forms of the live layer: a target's latest scrape and a series list."""

from __future__ import annotations

import json
import math
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collector.storage.live_codec import decode_latest, decode_series_set, encode_latest, encode_series_set
from tests.collector.test_summary import make_result, node_samples

T0 = 1_700_000_000.0


def test_latest_encoding_is_little_endian_with_a_fixed_header() -> None:
    result = make_result(node_samples()[:2], T0)
    data = encode_latest(result)
    version, flags, timestamp_ms, count, id_length = struct.unpack_from("<BBqIH", data)
    assert (version, flags, timestamp_ms, count, id_length) == (1, 0, T0 * 1000, 2, len(result.series_set_id))
    assert len(data) == 16 + id_length + 8 * 2


@given(
    values=st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=50),
    with_timestamps=st.booleans(),
    set_id=st.text(max_size=40),
)
def test_latest_encoding_roundtrips_values_and_timestamps(
    values: list[float], with_timestamps: bool, set_id: str
) -> None:
    result = make_result([], T0)
    result.values = values
    result.series_set_id = set_id
    result.timestamps_ms = [1_700_000_000_000 + i for i in range(len(values))] if with_timestamps else None
    decoded = decode_latest(encode_latest(result))
    assert decoded.series_set_id == set_id
    assert decoded.timestamps_ms == result.timestamps_ms
    assert [struct.pack("<d", v) for v in decoded.values] == [struct.pack("<d", v) for v in values]


def test_stale_markers_keep_their_nan_payload() -> None:
    (stale_nan,) = struct.unpack(">d", bytes.fromhex("7ff0000000000002"))
    result = make_result([], T0)
    result.values = [stale_nan]
    (value,) = decode_latest(encode_latest(result)).values
    assert math.isnan(value) and struct.pack("<d", value) == struct.pack("<d", stale_nan)


def test_series_set_encoding_roundtrips_and_compresses() -> None:
    series = tuple(key for key, _ in node_samples())
    data = encode_series_set(series)
    assert decode_series_set(data) == series
    assert len(data) < len(json.dumps(series)) / 3


@pytest.mark.parametrize("data", [b"", b"\x02abc", b"\x01not zlib"])
def test_undecodable_series_set_raises_value_error(data: bytes) -> None:
    with pytest.raises(ValueError, match="series set"):
        decode_series_set(data)
