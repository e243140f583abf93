"""A bounded, append-only, on-disk queue of byte records: where history waits while PostgreSQL is away.

Layout: numbered segment files ``0000000000000001.seg`` … under one directory, and a ``cursor`` file naming
the first record not yet consumed. Each record is framed as::

    u32 length | u32 crc32(length bytes + payload) | payload

and fsynced before ``append`` returns. On open, every segment is scanned: a torn or corrupt record (short
read, impossible length, checksum mismatch) ends its segment there; in the last segment the file is cut
back to the last good record so that appends continue after it. The records before it are all kept.

Consumption is ``peek`` then ``ack``: the cursor is written atomically (temporary file, fsync, rename) after
the consumer has stored the record, so a crash in between replays that record again; the consumer makes
its writes idempotent. Segments wholly before the cursor are deleted.

When appending would exceed ``max_bytes``, whole segments are deleted oldest first, and the unconsumed
records they held are counted in ``dropped_records``: the freshest data wins, as in the scrape queue.

The methods do blocking file I/O; async callers run them in a thread (see ``history_writer``). A lock
makes each call atomic.
"""

from __future__ import annotations

import bisect
import os
import struct
import threading
import zlib
from dataclasses import dataclass, field
from pathlib import Path

_HEADER = struct.Struct("<II")
_CURSOR = struct.Struct("<QQI")
_SUFFIX = ".seg"


@dataclass(frozen=True)
class SpoolConfig:
    """Where the spool lives and how big it may grow."""

    directory: Path
    max_bytes: int = 1 << 30
    segment_bytes: int = 64 << 20
    fsync: bool = True
    """Off only in tests and benchmarks that do not simulate power loss."""

    def __post_init__(self) -> None:
        if self.segment_bytes <= 0 or self.max_bytes < self.segment_bytes:
            raise ValueError(
                f"spool needs 0 < segment_bytes <= max_bytes, got {self.segment_bytes} and {self.max_bytes}"
            )


@dataclass(frozen=True, order=True)
class RecordId:
    """Where a record starts: its segment number and byte offset."""

    segment: int
    offset: int


@dataclass
class _Segment:
    number: int
    path: Path
    size: int = 0
    offsets: list[int] = field(default_factory=list)


def _frame(payload: bytes) -> bytes:
    length = struct.pack("<I", len(payload))
    return _HEADER.pack(len(payload), zlib.crc32(payload, zlib.crc32(length))) + payload


class Spool:
    """The spool; see the module docstring. Open with :meth:`open`."""

    def __init__(self, config: SpoolConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._segments: list[_Segment] = []
        self._cursor = RecordId(1, 0)
        self.dropped_records = 0
        """Unconsumed records deleted to stay under ``max_bytes`` (or too large to ever fit)."""
        self.dropped_bytes = 0
        self.corrupt_records = 0
        """Torn or corrupt records found on open, skipped with whatever followed them in their segment."""

    @classmethod
    def open(cls, config: SpoolConfig) -> Spool:
        """Open (creating if needed) the spool in ``config.directory`` and recover its state."""
        spool = cls(config)
        spool._recover()
        return spool

    # -- recovery -----------------------------------------------------------------------------------------

    def _recover(self) -> None:
        directory = self.config.directory
        directory.mkdir(parents=True, exist_ok=True)
        numbers = sorted(int(p.stem) for p in directory.glob(f"*{_SUFFIX}") if p.stem.isdigit())
        for i, number in enumerate(numbers):
            segment = self._scan(number, last=i == len(numbers) - 1)
            self._segments.append(segment)
        self._cursor = self._read_cursor()
        first = self._segments[0].number if self._segments else self._cursor.segment
        if self._cursor.segment < first:
            self._cursor = RecordId(first, 0)
        for segment in [s for s in self._segments if s.number < self._cursor.segment]:
            self._delete(segment)

    def _scan(self, number: int, *, last: bool) -> _Segment:
        segment = _Segment(number, self._path(number))
        data = segment.path.read_bytes()
        pos = 0
        while pos < len(data):
            if pos + _HEADER.size > len(data):
                break
            length, crc = _HEADER.unpack_from(data, pos)
            end = pos + _HEADER.size + length
            if end > len(data):
                break
            payload = data[pos + _HEADER.size : end]
            if zlib.crc32(payload, zlib.crc32(struct.pack("<I", length))) != crc:
                break
            segment.offsets.append(pos)
            pos = end
        segment.size = pos
        if pos < len(data):
            self.corrupt_records += 1
            if last:
                with segment.path.open("r+b") as f:
                    f.truncate(pos)
                    self._sync(f.fileno())
        return segment

    def _read_cursor(self) -> RecordId:
        try:
            raw = (self.config.directory / "cursor").read_bytes()
        except FileNotFoundError:
            return RecordId(self._segments[0].number if self._segments else 1, 0)
        if len(raw) == _CURSOR.size:
            segment, offset, crc = _CURSOR.unpack(raw)
            if zlib.crc32(raw[:16]) == crc:
                return RecordId(segment, offset)
        # An unreadable cursor: replay from the start; consumers are idempotent.
        return RecordId(self._segments[0].number if self._segments else 1, 0)

    # -- appending ----------------------------------------------------------------------------------------

    def append(self, payload: bytes) -> RecordId | None:
        """Store ``payload`` durably; returns its id, or None when it is larger than the whole spool."""
        framed = _frame(payload)
        with self._lock:
            if len(framed) > self.config.max_bytes:
                self.dropped_records += 1
                self.dropped_bytes += len(framed)
                return None
            active = self._segments[-1] if self._segments else None
            if active is None or active.size >= self.config.segment_bytes:
                active = self._new_segment()
            while self.bytes + len(framed) > self.config.max_bytes:
                if self._segments[0] is active:
                    active = self._new_segment()
                self._drop_oldest()
            with active.path.open("ab") as f:
                f.write(framed)
                f.flush()
                self._sync(f.fileno())
            record = RecordId(active.number, active.size)
            active.offsets.append(active.size)
            active.size += len(framed)
            return record

    def _new_segment(self) -> _Segment:
        number = self._segments[-1].number + 1 if self._segments else max(self._cursor.segment, 1)
        segment = _Segment(number, self._path(number))
        segment.path.touch()
        self._sync_dir()
        self._segments.append(segment)
        return segment

    def _drop_oldest(self) -> None:
        oldest = self._segments[0]
        lost = self._unconsumed_in(oldest)
        self.dropped_records += lost
        if lost:
            start = self._cursor.offset if self._cursor.segment == oldest.number else 0
            self.dropped_bytes += oldest.size - start
        self._delete(oldest)
        if self._cursor.segment <= oldest.number:
            following = self._segments[0].number if self._segments else oldest.number + 1
            self._cursor = RecordId(following, 0)

    # -- consuming ----------------------------------------------------------------------------------------

    def peek(self) -> tuple[RecordId, bytes] | None:
        """The oldest unconsumed record, or None when there is none."""
        with self._lock:
            for segment in self._segments:
                if segment.number < self._cursor.segment:
                    continue
                start = self._cursor.offset if segment.number == self._cursor.segment else 0
                i = bisect.bisect_left(segment.offsets, start)
                if i == len(segment.offsets):
                    continue
                offset = segment.offsets[i]
                with segment.path.open("rb") as f:
                    f.seek(offset)
                    length, _ = _HEADER.unpack(f.read(_HEADER.size))
                    return RecordId(segment.number, offset), f.read(length)
            return None

    def ack(self, record: RecordId) -> None:
        """Mark every record up to and including ``record`` consumed, durably."""
        with self._lock:
            segment = next((s for s in self._segments if s.number == record.segment), None)
            if segment is None:
                return
            with segment.path.open("rb") as f:
                f.seek(record.offset)
                length, _ = _HEADER.unpack(f.read(_HEADER.size))
            cursor = RecordId(record.segment, record.offset + _HEADER.size + length)
            if cursor <= self._cursor:
                return
            self._cursor = cursor
            if self._pending() == 0:
                # Everything is consumed: start afresh so the directory does not keep drained segments.
                following = self._segments[-1].number + 1
                for old in list(self._segments):
                    self._delete(old)
                self._cursor = RecordId(following, 0)
            else:
                for old in [s for s in self._segments if s.number < cursor.segment]:
                    self._delete(old)
            self._write_cursor()

    def _write_cursor(self) -> None:
        head = struct.pack("<QQ", self._cursor.segment, self._cursor.offset)
        tmp = self.config.directory / "cursor.tmp"
        with tmp.open("wb") as f:
            f.write(head + struct.pack("<I", zlib.crc32(head)))
            f.flush()
            self._sync(f.fileno())
        tmp.replace(self.config.directory / "cursor")
        self._sync_dir()

    # -- state --------------------------------------------------------------------------------------------

    @property
    def bytes(self) -> int:
        """Bytes on disk in segment files."""
        return sum(s.size for s in self._segments)

    @property
    def pending_records(self) -> int:
        """Records appended and not yet acknowledged."""
        with self._lock:
            return self._pending()

    def _pending(self) -> int:
        return sum(self._unconsumed_in(s) for s in self._segments)

    def _unconsumed_in(self, segment: _Segment) -> int:
        if segment.number < self._cursor.segment:
            return 0
        if segment.number > self._cursor.segment:
            return len(segment.offsets)
        return len(segment.offsets) - bisect.bisect_left(segment.offsets, self._cursor.offset)

    # -- files --------------------------------------------------------------------------------------------

    def _path(self, number: int) -> Path:
        return self.config.directory / f"{number:016d}{_SUFFIX}"

    def _delete(self, segment: _Segment) -> None:
        segment.path.unlink(missing_ok=True)
        self._segments.remove(segment)

    def _sync(self, fd: int) -> None:
        if self.config.fsync:
            os.fsync(fd)

    def _sync_dir(self) -> None:
        if not self.config.fsync:
            return
        fd = os.open(self.config.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
