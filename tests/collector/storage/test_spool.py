"""The on-disk spool: durable, ordered, bounded, and it recovers from a torn or corrupt tail."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from collector.storage.spool import Spool, SpoolConfig


def config(tmp_path: Path, **overrides: int) -> SpoolConfig:
    return SpoolConfig(
        tmp_path / "spool",
        max_bytes=overrides.get("max_bytes", 1 << 20),
        segment_bytes=overrides.get("segment_bytes", 256),
    )


def drain(spool: Spool) -> list[bytes]:
    out = []
    while (head := spool.peek()) is not None:
        record, payload = head
        out.append(payload)
        spool.ack(record)
    return out


def test_records_come_back_in_order_across_segments_and_reopen(tmp_path: Path) -> None:
    spool = Spool.open(config(tmp_path))
    payloads = [f"record-{i}".encode() * 5 for i in range(40)]
    for p in payloads:
        spool.append(p)
    assert len(list((tmp_path / "spool").glob("*.seg"))) > 1
    first = spool.peek()
    assert first is not None
    spool.ack(first[0])
    reopened = Spool.open(config(tmp_path))
    assert reopened.pending_records == 39
    assert drain(reopened) == payloads[1:]
    assert reopened.pending_records == 0
    assert list((tmp_path / "spool").glob("*.seg")) == []


def test_a_record_peeked_but_not_acknowledged_is_replayed_after_a_crash(tmp_path: Path) -> None:
    spool = Spool.open(config(tmp_path))
    spool.append(b"a")
    spool.append(b"b")
    assert spool.peek() is not None
    assert drain(Spool.open(config(tmp_path))) == [b"a", b"b"]


def test_a_torn_tail_record_is_cut_off_and_every_complete_record_replays_once(tmp_path: Path) -> None:
    cfg = config(tmp_path, segment_bytes=1 << 20)
    spool = Spool.open(cfg)
    payloads = [os.urandom(100) for _ in range(5)]
    for p in payloads:
        spool.append(p)
    segment = next((tmp_path / "spool").glob("*.seg"))
    # The process died in the middle of writing the last record.
    with segment.open("r+b") as f:
        f.truncate(segment.stat().st_size - 30)
    recovered = Spool.open(cfg)
    assert recovered.corrupt_records == 1
    assert recovered.pending_records == 4
    recovered.append(b"after")
    assert drain(recovered) == [*payloads[:4], b"after"]
    assert drain(Spool.open(cfg)) == []


def test_a_corrupt_record_is_detected_by_its_checksum(tmp_path: Path) -> None:
    cfg = config(tmp_path, segment_bytes=1 << 20)
    spool = Spool.open(cfg)
    for p in (b"one" * 10, b"two" * 10, b"three" * 10):
        spool.append(p)
    segment = next((tmp_path / "spool").glob("*.seg"))
    data = bytearray(segment.read_bytes())
    data[-3] ^= 0xFF
    segment.write_bytes(bytes(data))
    recovered = Spool.open(cfg)
    assert recovered.corrupt_records == 1
    assert drain(recovered) == [b"one" * 10, b"two" * 10]


def test_a_full_spool_drops_the_oldest_segments_and_counts_them(tmp_path: Path) -> None:
    spool = Spool.open(config(tmp_path, max_bytes=1000, segment_bytes=250))
    for i in range(30):
        spool.append(f"{i:04d}".encode() * 20)
    assert spool.bytes <= 1000
    assert spool.dropped_records > 0
    kept = drain(spool)
    assert len(kept) + spool.dropped_records == 30
    assert kept == [f"{i:04d}".encode() * 20 for i in range(30 - len(kept), 30)]


def test_a_record_larger_than_the_whole_spool_is_refused_and_counted(tmp_path: Path) -> None:
    spool = Spool.open(config(tmp_path, max_bytes=300, segment_bytes=100))
    assert spool.append(b"x" * 400) is None
    assert spool.dropped_records == 1
    assert spool.pending_records == 0


def test_the_size_bounds_must_make_sense(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="segment_bytes"):
        SpoolConfig(tmp_path, max_bytes=10, segment_bytes=100)
