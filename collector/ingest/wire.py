"""The remote-write wire format: snappy blocks and the protobuf messages of Remote-Write 1.0 and 2.0.

The messages are declared here with protobuf's descriptor API and built at import, so no ``protoc`` runs at
install time and no generated code is kept; protobuf's C parser (upb) does the decoding. Only the fields we
store are declared: the rest (metadata, exemplars, created timestamps) is kept by protobuf as unknown
fields and ignored.

A typical request from Prometheus holds a few hundred to a few thousand series with one sample each, and
the same series come back in every request. Walking every label of every series through protobuf's Python
objects costs about 10 µs a series, so version 1 is read in two steps:

1. protobuf splits the request into each series' bytes (``timeseries`` declared as ``repeated bytes``);
2. a series whose bytes end in one sample in the shape Prometheus writes (value then a timestamp of six
   varint bytes, or the timestamp alone for a value of 0) is taken apart with numpy over all series at
   once: its key is the bytes before the sample, which are exactly the encoded labels. A key seen before
   was checked to be nothing but label fields; a new key is checked once (:func:`_only_labels`) before
   it is trusted. Every other series (several samples, exemplars, histograms, fields in another order,
   other timestamps) is decoded whole by protobuf.

Keys are therefore either those label bytes or a tuple of label names and values interleaved (slow path
and version 2); :func:`label_pairs` turns either into pairs.
"""

from __future__ import annotations

from collections.abc import Container, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import cramjam
import numpy as np
import numpy.typing as npt
from google.protobuf import descriptor_pb2, descriptor_pool, message, message_factory

V1_PROTO: Final = "prometheus.WriteRequest"
V2_PROTO: Final = "io.prometheus.write.v2.Request"

Key = Hashable
"""A series' key: its encoded label fields (``bytes``) or its names and values interleaved (``tuple``)."""


class WireError(ValueError):
    """The body is not a valid snappy block or remote-write message (a 400)."""


class DecodedTooLargeError(ValueError):
    """The body decompresses to more than the limit (a 413)."""

    def __init__(self, size_bytes: int, limit_bytes: int) -> None:
        super().__init__(f"the body decompresses to {size_bytes} bytes, over the limit of {limit_bytes}")
        self.size_bytes = size_bytes
        self.limit_bytes = limit_bytes


_F = descriptor_pb2.FieldDescriptorProto
_OPTIONAL, _REPEATED = _F.LABEL_OPTIONAL, _F.LABEL_REPEATED


def _message_classes() -> dict[str, type[message.Message]]:
    """The message classes, from a file descriptor made here (package ``openmanager.remote``)."""
    file = descriptor_pb2.FileDescriptorProto(
        name="openmanager/remote_write.proto", package="openmanager.remote", syntax="proto3"
    )

    def declare(name: str, *fields: tuple[str, int, int, int, str]) -> None:
        msg = file.message_type.add(name=name)
        for field_name, number, kind, label, type_name in fields:
            field = msg.field.add(name=field_name, number=number, type=kind, label=label)
            if type_name:
                field.type_name = f".openmanager.remote.{type_name}"

    declare("Label", ("name", 1, _F.TYPE_STRING, _OPTIONAL, ""), ("value", 2, _F.TYPE_STRING, _OPTIONAL, ""))
    declare(
        "Sample", ("value", 1, _F.TYPE_DOUBLE, _OPTIONAL, ""), ("timestamp", 2, _F.TYPE_INT64, _OPTIONAL, "")
    )
    # Version 1 (prometheus.WriteRequest): histograms are counted, never decoded.
    declare(
        "TimeSeries",
        ("labels", 1, _F.TYPE_MESSAGE, _REPEATED, "Label"),
        ("samples", 2, _F.TYPE_MESSAGE, _REPEATED, "Sample"),
        ("histograms", 4, _F.TYPE_BYTES, _REPEATED, ""),
    )
    declare("SplitRequest", ("timeseries", 1, _F.TYPE_BYTES, _REPEATED, ""))
    declare("WriteRequest", ("timeseries", 1, _F.TYPE_MESSAGE, _REPEATED, "TimeSeries"))
    # Version 2 (io.prometheus.write.v2.Request): labels are references into the request's symbols.
    declare(
        "TimeSeriesV2",
        ("labels_refs", 1, _F.TYPE_UINT32, _REPEATED, ""),
        ("samples", 2, _F.TYPE_MESSAGE, _REPEATED, "Sample"),
        ("histograms", 3, _F.TYPE_BYTES, _REPEATED, ""),
    )
    declare(
        "RequestV2",
        ("symbols", 4, _F.TYPE_STRING, _REPEATED, ""),
        ("timeseries", 5, _F.TYPE_MESSAGE, _REPEATED, "TimeSeriesV2"),
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return {
        m.name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"openmanager.remote.{m.name}"))
        for m in file.message_type
    }


MESSAGES: Final = _message_classes()
"""The message classes by name: ``WriteRequest``, ``TimeSeries``, ``Sample``, ``Label``, ``RequestV2`` …"""

_TIMESERIES: Final = MESSAGES["TimeSeries"]
_SPLIT: Final = MESSAGES["SplitRequest"]
_REQUEST_V2: Final = MESSAGES["RequestV2"]

# The tail of a series with one sample as Prometheus encodes it: field 2 (0x12), its length, the value
# (0x09 + 8 bytes, left out when 0) and the timestamp (0x10 + a varint of 6 bytes: 2^35 to 2^42 ms, the
# years 1971 to 2109).
_TAIL_FULL: Final = 18
_TAIL_ZERO: Final = 9
_VARINT_BYTES: Final = 6


@dataclass(frozen=True)
class Decoded:
    """A decoded request: one key per series entry and its samples as flat arrays."""

    keys: list[Key]
    entries: npt.NDArray[np.int64]
    """The index into ``keys`` of each sample."""
    timestamps_ms: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]
    histograms: int
    """Native histogram samples in the request (not stored: history holds floats)."""


def snappy_decode(body: bytes, max_decoded_bytes: int) -> bytes:
    """The snappy block ``body`` decompressed; its declared length is checked before anything is inflated."""
    try:
        size = cramjam.snappy.decompress_raw_len(body)
    except Exception as exc:  # cramjam raises its own DecompressionError, or ValueError on an empty body
        raise WireError(f"the body is not a snappy block: {exc}") from None
    if size > max_decoded_bytes:
        raise DecodedTooLargeError(size, max_decoded_bytes)
    try:
        return bytes(cramjam.snappy.decompress_raw(body))
    except Exception as exc:
        raise WireError(f"the body is not a valid snappy block: {exc}") from None


def snappy_encode(payload: bytes) -> bytes:
    """``payload`` as a snappy block (what remote-write senders send)."""
    return bytes(cramjam.snappy.compress_raw(payload))


def _parse(cls: type[message.Message], payload: bytes, what: str) -> Any:
    try:
        return cls.FromString(payload)
    except message.DecodeError as exc:
        raise WireError(f"the body is not a valid {what} message: {exc}") from None


def _only_labels(prefix: bytes) -> bool:
    """True when ``prefix`` is a sequence of whole field-1 (label) entries and nothing else."""
    i, n = 0, len(prefix)
    while i < n:
        if prefix[i] != 0x0A:
            return False
        i += 1
        length, shift = 0, 0
        while True:
            if i >= n or shift > 28:
                return False
            byte = prefix[i]
            i += 1
            length |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                break
        i += length
    return i == n


def label_pairs(key: Key) -> list[tuple[str, str]]:
    """The label names and values of a series key."""
    if isinstance(key, bytes):
        series: Any = _TIMESERIES.FromString(key)
        return [(label.name, label.value) for label in series.labels]
    assert isinstance(key, tuple)
    return list(zip(key[0::2], key[1::2], strict=True))


def _varints(buf: npt.NDArray[np.uint8], starts: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """The 6-byte varints at ``starts`` in ``buf``."""
    out = np.zeros(len(starts), dtype=np.int64)
    for k in range(_VARINT_BYTES):
        out |= (buf[starts + k].astype(np.int64) & 0x7F) << (7 * k)
    return out


def _tail_matches(
    buf: npt.NDArray[np.uint8], ends: npt.NDArray[np.int64], lengths: npt.NDArray[np.int64], tail: int
) -> npt.NDArray[np.bool_]:
    """Which series end in the one-sample tail of ``tail`` bytes (see :data:`_TAIL_FULL`)."""
    ok = lengths >= tail
    safe = np.where(ok, ends, _TAIL_FULL)  # rows too short look at the zero padding instead
    varint = safe - _VARINT_BYTES
    ok &= buf[safe - tail] == 0x12
    ok &= buf[safe - tail + 1] == tail - 2
    if tail == _TAIL_FULL:
        ok &= buf[safe - 16] == 0x09
    ok &= buf[varint - 1] == 0x10
    for k in range(_VARINT_BYTES - 1):
        ok &= buf[varint + k] >= 0x80
    ok &= buf[safe - 1] < 0x80
    return ok


def decode_v1(payload: bytes, known: Container[Key]) -> Decoded:
    """Decode a ``prometheus.WriteRequest``; ``known`` holds keys already checked to be label bytes."""
    # One list: every access to protobuf's repeated field would copy the bytes again.
    items: list[bytes] = list(_parse(_SPLIT, payload, V1_PROTO).timeseries)
    count = len(items)
    if count == 0:
        empty = np.zeros(0, dtype=np.int64)
        return Decoded([], empty, empty, np.zeros(0, dtype=np.float64), 0)
    lengths = np.fromiter(map(len, items), dtype=np.int64, count=count)
    # Zero padding in front, so that checking a short series' tail never reads before the buffer.
    ends = np.cumsum(lengths) + _TAIL_FULL
    buf = np.frombuffer(bytes(_TAIL_FULL) + b"".join(items), dtype=np.uint8)
    full = _tail_matches(buf, ends, lengths, _TAIL_FULL)
    zero = ~full & _tail_matches(buf, ends, lengths, _TAIL_ZERO)
    tails = np.where(full, _TAIL_FULL, np.where(zero, _TAIL_ZERO, 0))
    keys: list[Key] = [item[: len(item) - tail] for item, tail in zip(items, tails.tolist(), strict=True)]
    fast = full | zero
    for i in np.flatnonzero(fast).tolist():
        key = keys[i]
        if key not in known and not _only_labels(key):  # type: ignore[arg-type]
            fast[i] = False
    fast_idx = np.flatnonzero(fast)
    fast_ends = ends[fast_idx]
    values = np.zeros(len(fast_idx), dtype=np.float64)
    full_rows = full[fast_idx]
    if full_rows.any():
        starts = fast_ends[full_rows] - 15
        raw = buf[starts[:, None] + np.arange(8)]
        values[full_rows] = raw.copy().view("<f8").ravel()
    entry_parts = [fast_idx.astype(np.int64)]
    ts_parts = [_varints(buf, fast_ends - _VARINT_BYTES)]
    value_parts = [values]
    histograms = 0
    for i in np.flatnonzero(~fast).tolist():
        series = _parse(_TIMESERIES, items[i], V1_PROTO)
        pairs: list[str] = []
        for label in series.labels:
            pairs += (label.name, label.value)
        keys[i] = tuple(pairs)
        histograms += len(series.histograms)
        samples = series.samples
        entry_parts.append(np.full(len(samples), i, dtype=np.int64))
        ts_parts.append(np.fromiter((s.timestamp for s in samples), dtype=np.int64, count=len(samples)))
        value_parts.append(np.fromiter((s.value for s in samples), dtype=np.float64, count=len(samples)))
    entries, stamps, values = (
        np.concatenate(entry_parts),
        np.concatenate(ts_parts),
        np.concatenate(value_parts),
    )
    if len(entry_parts) > 1:
        # Back into request order: the order of a series' samples across entries is what is checked.
        order = np.argsort(entries, kind="stable")
        entries, stamps, values = entries[order], stamps[order], values[order]
    return Decoded(keys, entries, stamps, values, histograms)


def decode_v2(payload: bytes) -> Decoded:
    """Decode an ``io.prometheus.write.v2.Request``: labels resolved through its symbols table."""
    request = _parse(_REQUEST_V2, payload, V2_PROTO)
    symbols = list(request.symbols)
    keys: list[Key] = []
    entries: list[int] = []
    stamps: list[int] = []
    values: list[float] = []
    histograms = 0
    for i, series in enumerate(request.timeseries):
        refs = series.labels_refs
        if len(refs) % 2:
            raise WireError(f"series {i} has an odd number of label references")
        try:
            keys.append(tuple(map(symbols.__getitem__, refs)))
        except IndexError:
            raise WireError(f"series {i} refers to a symbol past the {len(symbols)} of the request") from None
        histograms += len(series.histograms)
        for sample in series.samples:
            entries.append(i)
            stamps.append(sample.timestamp)
            values.append(sample.value)
    return Decoded(
        keys,
        np.array(entries, dtype=np.int64),
        np.array(stamps, dtype=np.int64),
        np.array(values, dtype=np.float64),
        histograms,
    )


def encode_v1(series: Sequence[tuple[Sequence[tuple[str, str]], Sequence[tuple[int, float]]]]) -> bytes:
    """A ``prometheus.WriteRequest`` of (labels, [(timestamp_ms, value)]) series, protobuf-encoded.

    For senders in tests, the benchmark and ``openmanager import``-like tools; not snappy-compressed.
    """
    request: Any = MESSAGES["WriteRequest"]()
    for labels, samples in series:
        entry = request.timeseries.add()
        for name, value in labels:
            entry.labels.add(name=name, value=value)
        for timestamp_ms, sample_value in samples:
            entry.samples.add(value=sample_value, timestamp=timestamp_ms)
    return bytes(request.SerializeToString())


def encode_v2(series: Sequence[tuple[Sequence[tuple[str, str]], Sequence[tuple[int, float]]]]) -> bytes:
    """The same series as an ``io.prometheus.write.v2.Request`` (symbols table first entry empty)."""
    request: Any = _REQUEST_V2()
    symbols: dict[str, int] = {"": 0}
    for labels, samples in series:
        entry = request.timeseries.add()
        for name, value in labels:
            for text in (name, value):
                entry.labels_refs.append(symbols.setdefault(text, len(symbols)))
        for timestamp_ms, sample_value in samples:
            entry.samples.add(value=sample_value, timestamp=timestamp_ms)
    request.symbols.extend(symbols)
    return bytes(request.SerializeToString())
