"""The wire format: both message versions decode to the same samples, by the fast path and by protobuf."""

from __future__ import annotations

import math
import struct
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from collector.ingest.wire import (
    MESSAGES,
    Decoded,
    DecodedTooLargeError,
    WireError,
    decode_v1,
    decode_v2,
    encode_v1,
    encode_v2,
    label_pairs,
    snappy_decode,
    snappy_encode,
)

T = 1_764_000_000_000
STALE = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0]

Series = list[tuple[list[tuple[str, str]], list[tuple[int, float]]]]


def _samples(d: Decoded, version: int) -> list[tuple[list[tuple[str, str]], int, float]]:
    return [
        (label_pairs(d.keys[e]), int(t), float(v))
        for e, t, v in zip(d.entries, d.timestamps_ms, d.values, strict=True)
    ]


CASES: dict[str, Series] = {
    "one sample each": [
        ([("__name__", "a"), ("job", "j")], [(T, 1.5)]),
        ([("__name__", "b"), ("job", "j")], [(T + 1, -2.0)]),
    ],
    "value zero (left out on the wire)": [([("__name__", "a")], [(T, 0.0)])],
    "small timestamps (short varints)": [
        ([("__name__", "a")], [(0, 1.0)]),
        ([("__name__", "b")], [(5, 2.0)]),
    ],
    "several samples of a series": [([("__name__", "a")], [(T, 1.0), (T + 15_000, 2.0), (T + 30_000, 0.0)])],
    "special values": [
        ([("__name__", "a")], [(T, math.inf)]),
        ([("__name__", "b")], [(T, -math.inf)]),
        ([("__name__", "c")], [(T, STALE)]),
    ],
    "long label value (two-byte length)": [([("__name__", "a"), ("x", "v" * 300)], [(T, 3.0)])],
    "no samples": [([("__name__", "a")], [])],
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("version", [1, 2])
def test_decodes_what_was_encoded(case: str, version: int) -> None:
    series = CASES[case]
    payload = encode_v1(series) if version == 1 else encode_v2(series)
    decoded = decode_v1(payload, set()) if version == 1 else decode_v2(payload)
    expected = [(list(labels), t, v) for labels, samples in series for t, v in samples]
    got = _samples(decoded, version)
    assert [(lab, t) for lab, t, _ in got] == [(lab, t) for lab, t, _ in expected]
    # Bit for bit: a staleness marker must stay a staleness marker.
    assert [struct.pack("<d", v) for _, _, v in got] == [struct.pack("<d", v) for _, _, v in expected]


def test_known_keys_and_new_keys_decode_alike() -> None:
    series: Series = [([("__name__", "m"), ("i", str(i))], [(T + i, float(i))]) for i in range(50)]
    payload = encode_v1(series)
    first = decode_v1(payload, set())
    again = decode_v1(payload, set(first.keys))
    assert first.keys == again.keys
    assert np.array_equal(first.values, again.values)
    assert all(isinstance(key, bytes) for key in first.keys)  # the fast path took every series


def test_a_series_with_other_fields_after_its_sample_takes_the_slow_path() -> None:
    request: Any = MESSAGES["WriteRequest"]()
    entry = request.timeseries.add()
    entry.labels.add(name="__name__", value="h")
    entry.samples.add(value=1.0, timestamp=T)
    raw = request.SerializeToString() + b""
    # A histogram (field 4) after the sample: counted, never taken for the sample.
    ts_bytes = entry.SerializeToString() + b"\x22\x00"
    payload = b"\x0a" + bytes([len(ts_bytes)]) + ts_bytes
    decoded = decode_v1(payload, set())
    assert decoded.histograms == 1
    assert _samples(decoded, 1) == [([("__name__", "h")], T, 1.0)]
    assert raw


def test_a_label_prefix_that_is_not_only_labels_is_not_trusted() -> None:
    # The bytes before the tail are a sample field, not labels: the series must be decoded whole.
    request: Any = MESSAGES["WriteRequest"]()
    entry = request.timeseries.add()
    entry.labels.add(name="__name__", value="x")
    entry.samples.add(value=7.0, timestamp=T)
    entry.samples.add(value=8.0, timestamp=T + 1)
    decoded = decode_v1(request.SerializeToString(), set())
    assert [(t, v) for _, t, v in _samples(decoded, 1)] == [(T, 7.0), (T + 1, 8.0)]


@pytest.mark.parametrize(
    "payload",
    [b"\xff\xff\xff", b"\x0a\x05\x01", b"\x12\x01"],
)
def test_a_body_that_is_not_a_write_request_is_a_wire_error(payload: bytes) -> None:
    with pytest.raises(WireError):
        decode_v1(payload, set())


def test_version_2_refuses_a_symbol_past_the_table() -> None:
    request: Any = MESSAGES["RequestV2"]()
    request.symbols.extend(["", "__name__"])
    entry = request.timeseries.add()
    entry.labels_refs.extend([1, 7])
    with pytest.raises(WireError, match="symbol"):
        decode_v2(request.SerializeToString())


def test_snappy_round_trip_and_limits() -> None:
    data = b"abc" * 1000
    assert snappy_decode(snappy_encode(data), len(data)) == data
    with pytest.raises(DecodedTooLargeError):
        snappy_decode(snappy_encode(data), len(data) - 1)
    with pytest.raises(WireError):
        snappy_decode(b"\x05abc", 100)
    with pytest.raises(WireError):
        snappy_decode(b"", 100)


_label_text = st.text(st.characters(codec="utf-8", categories=("L", "N", "P", "S", "Zs")), max_size=40)
_series = st.lists(
    st.tuples(
        st.lists(st.tuples(_label_text, _label_text), max_size=4),
        st.lists(
            st.tuples(
                st.one_of(st.integers(-(2**40), 2**45), st.integers(2**35, 2**42 - 1)),
                st.floats(allow_nan=False),
            ),
            max_size=3,
        ),
    ),
    max_size=20,
)


@given(series=_series, known=st.booleans())
def test_any_request_decodes_to_its_samples(series: Series, known: bool) -> None:
    payload = encode_v1(series)
    decoded = decode_v1(payload, set(decode_v1(payload, set()).keys) if known else set())
    expected = [(list(labels), t, struct.pack("<d", v)) for labels, samples in series for t, v in samples]
    got = [(lab, t, struct.pack("<d", v)) for lab, t, v in _samples(decoded, 1)]
    assert got == expected  # in request order, whichever path each series took
