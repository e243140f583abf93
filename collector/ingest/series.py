"""Pushed series: their ids, and the per-series order checks of Prometheus's head.

Every series key of the wire (:mod:`collector.ingest.wire`) maps to a small integer id, and through it to
the series' name and labels and to the server (job and instance) it belongs to. Per id the table keeps the
last accepted timestamp and value, in numpy arrays, so that a request's samples are checked together:

* a timestamp before the series' last one is an **out of order sample**;
* the same timestamp with another value (compared bit for bit, so a staleness marker is its own value) is a
  **duplicate sample for timestamp**;
* the same timestamp and value is a resend (a sender retrying after a timeout) and is dropped quietly;
* a timestamp more than 10 minutes ahead of the clock is **out of bounds**.

These are Prometheus's head rules and error texts. A rejected version-1 request changes nothing (Prometheus
rolls the request back and answers 400 so that the sender does not retry it). Like Prometheus's head, the
table forgets series that have had no sample for a while (:meth:`SeriesTable.forget`), so churning label
values (process ids, pod names) do not grow it without bound; their ids are reused.

Series that are invalid (no metric name, a name that is not a Prometheus name, a label name twice) are
skipped and counted, as Prometheus's receiver does. A label with an empty value is no label.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from collector.ingest.wire import Decoded, Key, label_pairs
from collector.result import SeriesKey

MAX_AHEAD_MS: Final = 10 * 60 * 1000
"""Samples further ahead of the clock than this are out of bounds (Prometheus's ``maxAheadTime``)."""

_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_NEVER: Final = np.iinfo(np.int64).min
INVALID: Final = -1
"""The id of an entry whose labels are invalid."""


class SampleRejectedError(ValueError):
    """A sample breaks the order rules; ``reason`` is Prometheus's error text."""

    def __init__(self, reason: str, series: SeriesKey, timestamp_ms: int) -> None:
        name, labels = series
        shown = "{" + ", ".join(f'{k}="{v}"' for k, v in (("__name__", name), *labels)) + "}"
        super().__init__(f"{reason} for series {shown} at timestamp {timestamp_ms}")
        self.reason = reason


def series_key_of(pairs: list[tuple[str, str]]) -> SeriesKey | None:
    """The series of these labels, or None when they are invalid."""
    labels: dict[str, str] = {}
    for name, value in pairs:
        if name in labels or not _LABEL_NAME.fullmatch(name):
            return None
        labels[name] = value
    metric = labels.pop("__name__", "")
    if not _METRIC_NAME.fullmatch(metric):
        return None
    return metric, tuple(sorted((k, v) for k, v in labels.items() if v))


@dataclass(frozen=True)
class Admitted:
    """The outcome of checking a request's samples."""

    new: npt.NDArray[np.bool_]
    """Per sample: True when it is to be stored (not a resend, not rejected)."""
    errors: list[SampleRejectedError]
    """The rejected samples' errors, in request order (only when checking allows partial writes)."""


class SeriesTable:
    """Ids, names and order state of every pushed series."""

    def __init__(self) -> None:
        self._by_key: dict[Key, int] = {}
        self._by_series: dict[SeriesKey, int] = {}
        self.series: list[SeriesKey] = []
        """Each id's series (``("", ())`` for a forgotten id waiting to be reused)."""
        self._free: list[int] = []
        self.server_of: npt.NDArray[np.int64] = np.zeros(0, dtype=np.int64)
        """Each id's server slot (see :class:`~collector.ingest.assembler.Assembler`)."""
        self._last_ts: npt.NDArray[np.int64] = np.zeros(0, dtype=np.int64)
        self._last_bits: npt.NDArray[np.uint64] = np.zeros(0, dtype=np.uint64)

    def __len__(self) -> int:
        """Series known now."""
        return len(self.series) - len(self._free)

    @property
    def capacity(self) -> int:
        """One more than the highest id ever given."""
        return len(self.series)

    @property
    def keys(self) -> dict[Key, int]:
        """Wire keys already resolved (a :class:`Container` for :func:`~collector.ingest.wire.decode_v1`)."""
        return self._by_key

    def resolve(self, decoded: Decoded, server_slot: Callable[[SeriesKey], int]) -> npt.NDArray[np.int64]:
        """The id of each series entry of ``decoded`` (:data:`INVALID` for invalid labels)."""
        found = list(map(self._by_key.get, decoded.keys))
        for i, sid in enumerate(found):
            if sid is None:
                key = decoded.keys[i]
                found[i] = self._by_key[key] = self._add(series_key_of(label_pairs(key)), server_slot)
        return np.array(found, dtype=np.int64)

    def _add(self, series: SeriesKey | None, server_slot: Callable[[SeriesKey], int]) -> int:
        if series is None:
            return INVALID
        sid = self._by_series.get(series)
        if sid is not None:
            return sid
        if self._free:
            sid = self._free.pop()
            self.series[sid] = series
            self._by_series[series] = sid
            self._last_ts[sid], self._last_bits[sid] = _NEVER, 0
            self.server_of[sid] = server_slot(series)
            return sid
        sid = len(self.series)
        if sid >= len(self._last_ts):
            grow = max(1024, 2 * len(self._last_ts))
            self._last_ts = np.concatenate([self._last_ts, np.full(grow, _NEVER, dtype=np.int64)])
            self._last_bits = np.concatenate([self._last_bits, np.zeros(grow, dtype=np.uint64)])
            self.server_of = np.concatenate([self.server_of, np.zeros(grow, dtype=np.int64)])
        self.series.append(series)
        self._by_series[series] = sid
        self.server_of[sid] = server_slot(series)
        return sid

    def forget(self, before_ms: int, in_use: npt.NDArray[np.bool_]) -> int:
        """Forget series whose last sample is older than ``before_ms`` and that are not ``in_use`` (by id);
        how many. Keys of invalid series are forgotten too. A forgotten series that comes back is new."""
        count = len(self.series)
        used = np.zeros(count, dtype=np.bool_)
        used[: min(count, len(in_use))] = in_use[:count]
        old = (self._last_ts[:count] < before_ms) & ~used
        for sid in self._free:
            old[sid] = False
        dropped = np.flatnonzero(old).tolist()
        for sid in dropped:
            del self._by_series[self.series[sid]]
            self.series[sid] = ("", ())
        self._free.extend(dropped)
        gone = set(dropped)
        self._by_key = {k: v for k, v in self._by_key.items() if v != INVALID and v not in gone}
        return len(dropped)

    def admit(
        self,
        sids: npt.NDArray[np.int64],
        timestamps_ms: npt.NDArray[np.int64],
        values: npt.NDArray[np.float64],
        *,
        now_ms: int,
        partial: bool = False,
    ) -> Admitted:
        """Check samples (ids valid) against the rules above and record the new ones as each series' last.

        With ``partial`` false the first rejected sample raises :class:`SampleRejectedError` and nothing is
        recorded; with it true, rejected samples are left out and their errors returned.
        """
        n = len(sids)
        bits = values.view(np.uint64)
        order = np.argsort(sids, kind="stable")
        s_ids, s_ts, s_bits = sids[order], timestamps_ms[order], bits[order]
        first = np.ones(n, dtype=np.bool_)
        first[1:] = s_ids[1:] != s_ids[:-1]
        prev_ts = np.where(first, self._last_ts[s_ids], np.roll(s_ts, 1))
        prev_bits = np.where(first, self._last_bits[s_ids], np.roll(s_bits, 1))
        same = s_ts == prev_ts
        ahead = s_ts > now_ms + MAX_AHEAD_MS
        older = s_ts < prev_ts
        conflict = same & (s_bits != prev_bits)
        bad = ahead | older | conflict
        errors: list[SampleRejectedError] = []
        if bad.any():
            for j in sorted(np.flatnonzero(bad).tolist(), key=lambda j: int(order[j])):
                reason = (
                    "out of bounds: timestamp is too far in the future"
                    if ahead[j]
                    else "out of order sample"
                    if older[j]
                    else "duplicate sample for timestamp"
                )
                error = SampleRejectedError(reason, self.series[int(s_ids[j])], int(s_ts[j]))
                if not partial:
                    raise error
                errors.append(error)
        keep = ~(same | bad)
        kept_ids, kept_ts, kept_bits = s_ids[keep], s_ts[keep], s_bits[keep]
        if len(kept_ids):
            last = np.ones(len(kept_ids), dtype=np.bool_)
            last[:-1] = kept_ids[:-1] != kept_ids[1:]
            self._last_ts[kept_ids[last]] = kept_ts[last]
            self._last_bits[kept_ids[last]] = kept_bits[last]
        new = np.zeros(n, dtype=np.bool_)
        new[order] = keep
        return Admitted(new, errors)
