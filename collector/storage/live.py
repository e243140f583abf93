"""The Redis live layer: what is happening now, written from every batch of scrape results.

Per result, in one pipeline per batch (``transaction=False``; key names in :mod:`collector.storage.keys`):

- ``server:{id}:status`` ← status JSON (below), written with ``SET … GET`` so the old status comes back in
  the same round trip: a change is detected against what Redis holds, not what this process remembers, so a
  collector restart announces nothing while a status Redis lost is announced again as a first sight.
- ``server:{id}:metrics:{metric}`` ← ``ZADD`` of the summary value (score = scrape time in s, member
  ``"{time}:{value}"``), and at most once a minute ``ZREMRANGEBYSCORE`` of what fell out of ``window_s``;
  failed scrapes add none.
- ``target:{identity}:latest`` ← the whole scrape as one binary value (:func:`encode_latest`), so the latest
  value of 1,000 series costs one ``SET`` instead of 1,000 field writes.
- ``seriesset:{id}`` ← the compressed series list (:func:`encode_series_set`), only when the target's set
  changed (or Redis lost it); its TTL is refreshed every ``refresh_s``, when an ``EXPIRE`` answering 0 also
  reveals a lost set.
- ``servers:index`` / ``targets:index`` ← last-seen time, one ``ZADD`` per batch, pruned after ``keep_s``.
- ``events:scrape`` ← one small JSON message per result.

A second, small pipeline follows only when needed: ``events:status`` messages (they need the old status) and
series sets found missing. Status JSON: ``server_id``, ``status`` (up, warning, down), ``last_scrape``
(Unix s), ``last_error`` (the last scrape's error, null when it succeeded), ``scrape_duration_s``, ``job``,
``instance``, ``labels``, ``identity`` (the target, for ``target:{identity}:latest``) and ``summary`` (see
:mod:`collector.storage.summary`; empty when the server is down).

The writer computes no summaries: the caller hands each batch's in, from the
:class:`~collector.storage.summary.Summarizer` that also serves the history, so a Redis outage costs no rate
baselines. A summary describes a target's latest successful scrape: when a batch holds several results of
one target, it goes with the last successful one, and the earlier ones are written as results without a
summary (``up``, no window points).

A failed scrape's result still replaces the target's latest value: it holds what the scrape engine made of
the failure (``up`` = 0 and the other synthetic series), so instant queries see the target's series go
stale at once, as Prometheus does.

Everything a server leaves behind expires ``keep_s`` after its last scrape, so removed targets clean up
after themselves.

Events are hints for live views; the keys are the truth. A pipeline that the client resends after a
dropped connection may publish a scrape event twice, or miss a status change its first attempt had
already stored.
"""

from __future__ import annotations

import json
import math
import struct
import sys
import zlib
from array import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline
from redis.exceptions import RedisError

from collector.scrape.result import ScrapeResult, SeriesKey
from collector.storage import keys
from collector.storage.errors import StoreUnavailable
from collector.storage.summary import ServerSummary, Status, Thresholds, status_of

# Latest value: version, flags, scrape time (ms), series count, length of the set id; then the set id
# (UTF-8), the values (float64) and, with _HAS_TIMESTAMPS, one int64 timestamp (ms) per value. Little-endian.
_LATEST_HEADER = struct.Struct("<BBqIH")
_LATEST_VERSION = 1
_HAS_TIMESTAMPS = 1
_SERIES_SET_VERSION = b"\x01"
_SWAP = sys.byteorder == "big"
_NO_SUMMARY = ServerSummary()


@dataclass(frozen=True, slots=True)
class LatestScrape:
    """A decoded ``target:{identity}:latest`` value."""

    series_set_id: str
    timestamp_ms: int
    values: list[float]
    timestamps_ms: list[int] | None
    """Per-sample timestamps, when the target exposed its own."""


def encode_latest(result: ScrapeResult) -> bytes:
    """One scrape as one compact value: set id, time and the raw float64 values (NaN payloads kept)."""
    set_id = result.series_set_id.encode()
    flags = _HAS_TIMESTAMPS if result.timestamps_ms is not None else 0
    values = array("d", result.values)
    stamps = array("q", result.timestamps_ms) if result.timestamps_ms is not None else None
    if _SWAP:
        values.byteswap()
        if stamps is not None:
            stamps.byteswap()
    header = _LATEST_HEADER.pack(_LATEST_VERSION, flags, result.timestamp_ms, len(values), len(set_id))
    parts = [header, set_id, values.tobytes()]
    if stamps is not None:
        parts.append(stamps.tobytes())
    return b"".join(parts)


def decode_latest(data: bytes) -> LatestScrape:
    """Read :func:`encode_latest`'s output; raises ValueError for anything else."""
    if len(data) < _LATEST_HEADER.size:
        raise ValueError("latest value too short")
    version, flags, timestamp_ms, count, id_length = _LATEST_HEADER.unpack_from(data)
    if version != _LATEST_VERSION:
        raise ValueError(f"latest value has unknown version {version}")
    start = _LATEST_HEADER.size + id_length
    values_end = start + 8 * count
    expected = values_end + (8 * count if flags & _HAS_TIMESTAMPS else 0)
    if len(data) != expected:
        raise ValueError(f"latest value is {len(data)} bytes, expected {expected}")
    values = array("d", data[start:values_end])
    stamps = array("q", data[values_end:]) if flags & _HAS_TIMESTAMPS else None
    if _SWAP:
        values.byteswap()
        if stamps is not None:
            stamps.byteswap()
    return LatestScrape(
        series_set_id=data[_LATEST_HEADER.size : start].decode(),
        timestamp_ms=timestamp_ms,
        values=values.tolist(),
        timestamps_ms=stamps.tolist() if stamps is not None else None,
    )


def encode_series_set(series: Sequence[SeriesKey]) -> bytes:
    """A series list as zlib-compressed JSON, one flat row per series: ``[name, label, value, …]``.

    Flat rows decode in about 60 % of the time nested label pairs take. Label names and target labels
    repeat in every series, so a node_exporter set shrinks about 40-fold (1,000 series: 150 kB of JSON,
    4 kB stored); it is written only when a set changes, so the ~1.5 ms it costs does not recur per scrape.
    """
    rows = [[name, *chain.from_iterable(labels)] for name, labels in series]
    return _SERIES_SET_VERSION + zlib.compress(json.dumps(rows, separators=(",", ":")).encode())


def decode_series_set(data: bytes) -> tuple[SeriesKey, ...]:
    """Read :func:`encode_series_set`'s output; raises ValueError for anything else."""
    if data[:1] != _SERIES_SET_VERSION:
        raise ValueError("series set has an unknown version")
    try:
        rows = json.loads(zlib.decompress(data[1:]))
        return tuple([(row[0], tuple(zip(row[1::2], row[2::2], strict=True))) for row in rows])
    except (zlib.error, TypeError, ValueError, IndexError, KeyError) as exc:
        raise ValueError(f"series set is corrupt: {exc}") from None


def _status_in(old: object) -> str | None:
    """The ``status`` field of an old status JSON; None when there was none (or it is unreadable)."""
    if not isinstance(old, bytes | str):
        return None
    try:
        doc = json.loads(old)
    except ValueError:
        return None
    status = doc.get("status") if isinstance(doc, dict) else None
    return status if isinstance(status, str) else None


def _dumps(doc: Mapping[str, object]) -> str:
    return json.dumps(doc, separators=(",", ":"))


@dataclass(slots=True)
class _Target:
    """What the writer keeps per target: fixed key names and what Redis should hold."""

    server_id: str
    job: str
    instance: str
    labels: dict[str, str]
    status_key: str
    latest_key: str
    metric_keys: dict[str, str]
    set_written: str | None = None
    """The series set id this writer last wrote for the target (None: write it with the next scrape)."""
    refresh_due_s: float = -math.inf
    trim_due_s: float = -math.inf
    """When the recent windows of this target are next trimmed to ``window_s``."""
    expiring: set[str] = field(default_factory=set)
    """Metrics whose sorted set this writer has given a TTL: a new one gets it with its first point."""
    last_seen_s: float = 0.0


@dataclass(slots=True)
class _Planned:
    """One result's writes in the batch pipeline, and where their replies are."""

    target: _Target
    result: ScrapeResult
    status: Status
    time_s: float
    status_reply: int
    wrote_set: bool
    expire_set_reply: int | None


class LiveWriter:
    """Writes batches of scrape results into the Redis live layer and publishes their events.

    ``window_s`` is how much recent history the per-metric sorted sets keep; ``thresholds`` decide when a
    server is ``warning``; ``keep_s`` is how long a server's keys outlive its last scrape; ``refresh_s`` is
    how often the TTLs of keys that are not rewritten per scrape are refreshed. The client must return
    bytes (``decode_responses=False``), as the one from :func:`collector.storage.connections.connect_redis`.
    One task writes: the per-target state assumes batches arrive one after another.
    """

    def __init__(
        self,
        redis: aioredis.Redis,
        *,
        window_s: float = 3600.0,
        thresholds: Thresholds | None = None,
        keep_s: float = 86400.0,
        refresh_s: float = 300.0,
    ) -> None:
        if window_s <= 0 or keep_s <= 0 or refresh_s <= 0:
            raise ValueError("window_s, keep_s and refresh_s must be positive")
        self._redis = redis
        self._window_s = window_s
        self._thresholds = thresholds or Thresholds()
        self._keep_s = keep_s
        self._refresh_s = refresh_s
        self._keep_ttl_s = math.ceil(keep_s)
        # Refreshed every refresh_s, so they must last that much longer than the data they serve.
        self._set_ttl_s = math.ceil(keep_s + refresh_s)
        self._window_ttl_s = math.ceil(window_s + refresh_s)
        self._trim_every_s = min(60.0, window_s / 10)
        self._targets: dict[str, _Target] = {}
        self._prune_due_s = -math.inf

    def _target(self, result: ScrapeResult) -> _Target:
        info = result.target
        target = self._targets.get(info.identity)
        if target is None:
            server_id = str(info.server_id)
            target = _Target(
                server_id=server_id,
                job=info.job,
                instance=info.instance,
                labels=dict(info.labels),
                status_key=keys.server_status(server_id),
                latest_key=keys.target_latest(info.identity),
                metric_keys={metric: keys.server_metric(server_id, metric) for metric in keys.METRICS},
            )
            self._targets[info.identity] = target
        return target

    async def write(self, results: Sequence[ScrapeResult], summaries: Mapping[str, ServerSummary]) -> None:
        """Write a batch of results; raises :class:`StoreUnavailable` when Redis fails.

        ``summaries`` holds the batch's summaries by target identity, as
        :meth:`~collector.storage.summary.Summarizer.summarize` returns them; a successful result without
        one is written with the empty summary. After a failure the caller may retry the same batch (with
        the same summaries) or move on; either way the next successful write rewrites what Redis may have
        lost.
        """
        if not results:
            return
        pipe = self._redis.pipeline(transaction=False)
        planned: list[_Planned] = []
        last_up = {result.target.identity: i for i, result in enumerate(results) if result.up}
        servers_seen: dict[str, float] = {}
        targets_seen: dict[str, float] = {}
        for i, result in enumerate(results):
            identity = result.target.identity
            summary = summaries.get(identity, _NO_SUMMARY) if last_up.get(identity) == i else _NO_SUMMARY
            planned.append(self._plan(pipe, result, summary))
            servers_seen[planned[-1].target.server_id] = planned[-1].time_s
            targets_seen[result.target.identity] = planned[-1].time_s
        now_s = max(servers_seen.values())
        for index_key, seen in ((keys.SERVERS_INDEX, servers_seen), (keys.TARGETS_INDEX, targets_seen)):
            pipe.zadd(index_key, seen)
            pipe.zremrangebyscore(index_key, "-inf", f"({now_s - self._keep_s}")
        try:
            replies = await pipe.execute()
            await self._follow_up(planned, replies)
        except (RedisError, OSError) as exc:
            for plan in planned:
                plan.target.set_written = None
                plan.target.refresh_due_s = -math.inf
                plan.target.expiring.clear()
            raise StoreUnavailable("redis", str(exc) or type(exc).__name__) from exc
        self._prune(now_s)

    def _plan(self, pipe: Pipeline, result: ScrapeResult, summary: ServerSummary) -> _Planned:
        """Queue one result's writes with its summary; returns where their replies will be."""
        target = self._target(result)
        time_s = result.timestamp_ms / 1000.0
        target.last_seen_s = time_s
        status: Status
        if result.up:
            status = status_of(summary, self._thresholds)
        else:
            summary, status = _NO_SUMMARY, "down"
        doc: dict[str, object] = {
            "server_id": target.server_id,
            "status": status,
            "last_scrape": time_s,
            "last_error": result.error,
            "scrape_duration_s": round(result.duration_s, 6),
            "job": target.job,
            "instance": target.instance,
            "labels": target.labels,
            "identity": result.target.identity,
            "summary": summary.to_dict(),
        }
        status_reply = len(pipe)
        pipe.set(target.status_key, _dumps(doc), ex=self._keep_ttl_s, get=True)
        pipe.set(target.latest_key, encode_latest(result), ex=self._keep_ttl_s)
        wrote_set = False
        if result.series and target.set_written != result.series_set_id:
            pipe.set(
                keys.series_set(result.series_set_id), encode_series_set(result.series), ex=self._set_ttl_s
            )
            target.set_written = result.series_set_id
            wrote_set = True
        expire_set_reply = None
        if time_s >= target.refresh_due_s:
            for metric in target.expiring:
                pipe.expire(target.metric_keys[metric], self._window_ttl_s)
            if result.series and not wrote_set:
                expire_set_reply = len(pipe)
                pipe.expire(keys.series_set(result.series_set_id), self._set_ttl_s)
            target.refresh_due_s = time_s + self._refresh_s
        cutoff = f"({time_s - self._window_s}"
        # Trimming every scrape would double the commands per result; a few seconds' slack is harmless.
        trim = time_s >= target.trim_due_s
        if trim:
            target.trim_due_s = time_s + self._trim_every_s
        for metric, value in summary.items():
            metric_key = target.metric_keys.get(metric)
            if metric_key is not None:
                pipe.zadd(metric_key, {f"{time_s:.3f}:{value!r}": time_s})
                if trim:
                    pipe.zremrangebyscore(metric_key, "-inf", cutoff)
                if metric not in target.expiring:
                    pipe.expire(metric_key, self._window_ttl_s)
                    target.expiring.add(metric)
        event = {
            "server_id": target.server_id,
            "ts": time_s,
            "up": result.up,
            "status": status,
            "summary": doc["summary"],
        }
        pipe.publish(keys.EVENTS_SCRAPE, _dumps(event))
        return _Planned(target, result, status, time_s, status_reply, wrote_set, expire_set_reply)

    async def _follow_up(self, planned: list[_Planned], replies: list[object]) -> None:
        """Publish status changes and rewrite what the batch's replies show Redis lost."""
        pipe = self._redis.pipeline(transaction=False)
        for plan in planned:
            old = replies[plan.status_reply]
            previous = _status_in(old)
            if previous != plan.status:
                event = {
                    "server_id": plan.target.server_id,
                    "status": plan.status,
                    "previous": previous,
                    "ts": plan.time_s,
                    "job": plan.target.job,
                    "instance": plan.target.instance,
                    "error": plan.result.error,
                }
                pipe.publish(keys.EVENTS_STATUS, _dumps(event))
            lost_status = old is None and not plan.wrote_set
            lost_set = plan.expire_set_reply is not None and replies[plan.expire_set_reply] == 0
            if plan.result.series and (lost_status or lost_set):
                series_key = keys.series_set(plan.result.series_set_id)
                pipe.set(series_key, encode_series_set(plan.result.series), ex=self._set_ttl_s)
            if lost_status:
                # The sorted sets were recreated by this batch's ZADDs, without a TTL.
                for metric_key in plan.target.metric_keys.values():
                    pipe.expire(metric_key, self._window_ttl_s)
        if len(pipe):
            await pipe.execute()

    def _prune(self, now_s: float) -> None:
        """Forget targets not seen for ``keep_s``: their keys have expired too."""
        if now_s < self._prune_due_s:
            return
        self._prune_due_s = now_s + self._refresh_s
        cutoff = now_s - self._keep_s
        for identity in [i for i, t in self._targets.items() if t.last_seen_s < cutoff]:
            del self._targets[identity]
