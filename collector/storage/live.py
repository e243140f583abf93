"""The Redis live layer: what is happening now, written from every batch of scrape results.

A batch is one ``EVALSHA`` of :data:`WRITE_SCRIPT`: the script applies every result's writes inside Redis, so
the collector packs one command per batch instead of about ten per result (key names come from
:mod:`collector.storage.keys`, handed to the script as templates). Per result:

- ``server:{id}:status`` ← status JSON (below), written with ``SET … GET``; the script answers the old
  status, so a change is detected against what Redis holds, not what this process remembers: a collector
  restart announces nothing, while a status Redis lost is announced again as a first sight.
- ``server:{id}:metrics:{metric}`` ← ``ZADD`` of the summary value (score = scrape time in s, member
  ``"{time}:{value}"``) with its TTL, and at most once a minute ``ZREMRANGEBYSCORE`` of what fell out of
  ``window_s``; failed scrapes add none.
- ``target:{identity}:latest`` ← the whole scrape as one binary value
  (:func:`~collector.storage.live_codec.encode_latest`).
- ``seriesset:{id}`` ← the compressed series list (:func:`~collector.storage.live_codec.encode_series_set`),
  only when the target's set changed (or Redis lost it); its TTL is refreshed every ``refresh_s``, when an
  ``EXPIRE`` answering 0 also reveals a lost set.
- ``servers:index`` / ``targets:index`` ← last-seen time, pruned after ``keep_s``.
- ``events:scrape`` ← one small JSON message per result.

A small pipeline follows only when needed: ``events:status`` messages (they need the old status) and
series sets found missing. Status JSON: ``server_id``, ``status`` (up, warning, down), ``last_scrape``
(Unix s), ``last_error`` (the last scrape's error, null when it succeeded), ``scrape_duration_s``, ``job``,
``instance``, ``labels``, ``identity`` (the target, for ``target:{identity}:latest``) and ``summary`` (see
:mod:`collector.summary`; empty when the server is down).

The writer computes no summaries: the caller hands each batch's in, from the
:class:`~collector.summary.Summarizer` that also serves the history, so a Redis outage costs no rate
baselines. A summary describes a target's latest successful scrape: when a batch holds several results of
one target, it goes with the last successful one, and the earlier ones are written as results without a
summary (``up``, no window points).

A failed scrape's result still replaces the target's latest value: it holds what the scrape engine made of
the failure (``up`` = 0 and the other synthetic series), so instant queries see the target's series go
stale at once, as Prometheus does.

Everything a server leaves behind expires ``keep_s`` after its last scrape, so removed targets clean up
after themselves.

The script names its keys itself rather than in ``KEYS``: it runs on one Redis (or one database of it).
On a Redis Cluster the same arguments are sent as a pipeline instead (:mod:`collector.storage.live_pipeline`).
Events are hints for live views; the keys are the truth. A script call that the client resends after a
dropped connection may publish a scrape event twice, or miss a status change its first attempt had already
stored.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from collector.result import ScrapeResult, SeriesKey
from collector.storage import keys
from collector.storage.errors import StoreUnavailable
from collector.storage.live_codec import encode_latest, encode_series_set
from collector.storage.live_pipeline import write_as_pipeline
from collector.storage.redis_cluster import is_cluster, publish_all
from collector.summary import ServerSummary, Status, Thresholds, status_of

_NO_SUMMARY = ServerSummary()

WRITE_SCRIPT: Final = """
local keep_ttl, set_ttl, window_ttl = ARGV[1], ARGV[2], ARGV[3]
local status_key, latest_key, set_key, channel = ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local servers_index, targets_index, index_cutoff = ARGV[8], ARGV[9], ARGV[10]
local metric_keys = {ARGV[11], ARGV[12], ARGV[13], ARGV[14], ARGV[15]}
local head, stride = 15, 14
local out = {}
for base = head, #ARGV - 1, stride do
  local id, identity, score = ARGV[base + 1], ARGV[base + 2], ARGV[base + 3]
  local old = redis.call('SET', string.format(status_key, id), ARGV[base + 4], 'EX', keep_ttl, 'GET')
  out[#out + 1] = old and string.match(old, '"status":"(%a+)"') or false
  redis.call('SET', string.format(latest_key, identity), ARGV[base + 5], 'EX', keep_ttl)
  local set_id, set_value, lost = ARGV[base + 6], ARGV[base + 7], 0
  if set_value ~= '' then
    redis.call('SET', string.format(set_key, set_id), set_value, 'EX', set_ttl)
  elseif set_id ~= '' then
    lost = 1 - redis.call('EXPIRE', string.format(set_key, set_id), set_ttl)
  end
  out[#out + 1] = lost
  local trim = ARGV[base + 8]
  for m = 1, 5 do
    local member = ARGV[base + 8 + m]
    if member ~= '' then
      local key = string.format(metric_keys[m], id)
      redis.call('ZADD', key, score, member)
      if trim ~= '' then redis.call('ZREMRANGEBYSCORE', key, '-inf', trim) end
      redis.call('EXPIRE', key, window_ttl)
    end
  end
  redis.call('PUBLISH', channel, ARGV[base + 14])
  redis.call('ZADD', servers_index, score, id)
  redis.call('ZADD', targets_index, score, identity)
end
redis.call('ZREMRANGEBYSCORE', servers_index, '-inf', index_cutoff)
redis.call('ZREMRANGEBYSCORE', targets_index, '-inf', index_cutoff)
return out
"""
"""Writes one batch. ARGV: the header (TTLs, key templates with ``%s`` for the id, the index cutoff), then
14 values per result: server id, target identity, score, status JSON, latest value, series set id and value
(the value empty: only refresh the TTL; both empty: neither), trim cutoff (empty: no trim), one member per
summary metric in :data:`~collector.storage.keys.METRICS` order (empty: none) and the scrape event. Answers
two values per result: the old status (nil when there was none) and 1 when the set's refresh found it gone."""

_INDEX_CUTOFF: Final = 9
"""Where the header holds the index cutoff (set per batch)."""


def _template(key: str) -> str:
    """A key name turned into a ``string.format`` template (ids are UUIDs and hex digests: no ``%``)."""
    return key.replace("%", "%%").replace("\x00", "%s")


def _dumps(doc: Mapping[str, object]) -> str:
    return json.dumps(doc, separators=(",", ":"))


@dataclass(slots=True)
class _Target:
    """What the writer keeps per target: its ids and what Redis should hold."""

    server_id: str
    identity: str
    job: str
    instance: str
    labels: dict[str, str]
    set_written: str | None = None
    """The series set id this writer last wrote for the target (None: write it with the next scrape)."""
    refresh_due_s: float = -math.inf
    trim_due_s: float = -math.inf
    """When the recent windows of this target are next trimmed to ``window_s``."""
    last_seen_s: float = 0.0


@dataclass(slots=True)
class _Planned:
    """One result of the batch and what its writes were."""

    target: _Target
    result: ScrapeResult
    status: Status
    time_s: float
    wrote_set: bool


THREAD_ENCODE_SETS: Final = 16
"""A batch writing more new series sets than this encodes them in a worker thread. The first wave after a
start brings one set per target, each of thousands of series; on the loop, they would stall scraping."""


def _encode_sets(sets: Mapping[str, tuple[SeriesKey, ...]]) -> dict[str, bytes]:
    return {set_id: encode_series_set(series) for set_id, series in sets.items()}


class LiveWriter:
    """Writes batches of scrape results into the Redis live layer and publishes their events.

    ``window_s`` is how much recent history the per-metric sorted sets keep; ``thresholds`` decide when a
    server is ``warning``; ``keep_s`` is how long a server's keys outlive its last scrape; ``refresh_s`` is
    how often the TTL of a series set (not rewritten per scrape) is refreshed. The client must return
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
        self._script = redis.register_script(WRITE_SCRIPT)
        self._cluster = is_cluster(redis)
        self._window_s = window_s
        self._thresholds = thresholds or Thresholds()
        self._keep_s = keep_s
        self._refresh_s = refresh_s
        keep_ttl_s = math.ceil(keep_s)
        # Refreshed every refresh_s (a window: with every point), so they must outlast their data that much.
        self._set_ttl_s = math.ceil(keep_s + refresh_s)
        self._window_ttl_s = math.ceil(window_s + refresh_s)
        self._trim_every_s = min(60.0, window_s / 10)
        self._head: list[str | int] = [
            keep_ttl_s,
            self._set_ttl_s,
            self._window_ttl_s,
            _template(keys.server_status("\x00")),
            _template(keys.target_latest("\x00")),
            _template(keys.series_set("\x00")),
            keys.channel(keys.EVENTS_SCRAPE, redis),
            keys.SERVERS_INDEX,
            keys.TARGETS_INDEX,
            "",  # _INDEX_CUTOFF
            *(_template(keys.server_metric("\x00", metric)) for metric in keys.METRICS),
        ]
        self._status_channel = keys.channel(keys.EVENTS_STATUS, redis)
        self._targets: dict[str, _Target] = {}
        self._prune_due_s = -math.inf

    def _target(self, result: ScrapeResult) -> _Target:
        info = result.target
        target = self._targets.get(info.identity)
        if target is None:
            target = _Target(str(info.server_id), info.identity, info.job, info.instance, dict(info.labels))
            self._targets[info.identity] = target
        return target

    async def write(self, results: Sequence[ScrapeResult], summaries: Mapping[str, ServerSummary]) -> None:
        """Write a batch of results; raises :class:`StoreUnavailable` when Redis fails.

        ``summaries`` holds the batch's summaries by target identity, as
        :meth:`~collector.summary.Summarizer.summarize` returns them; a successful result without
        one is written with the empty summary. After a failure the caller may retry the same batch (with
        the same summaries) or move on; either way the next successful write rewrites what Redis may have
        lost.
        """
        if not results:
            return
        args: list[str | int | bytes] = list(self._head)
        planned: list[_Planned] = []
        encoded = await self._encoded_sets(results)
        last_up = {result.target.identity: i for i, result in enumerate(results) if result.up}
        for i, result in enumerate(results):
            identity = result.target.identity
            summary = summaries.get(identity, _NO_SUMMARY) if last_up.get(identity) == i else _NO_SUMMARY
            planned.append(self._plan(args, result, summary, encoded))
        now_s = max(plan.time_s for plan in planned)
        args[_INDEX_CUTOFF] = f"({now_s - self._keep_s!r}"
        try:
            replies = await (
                write_as_pipeline(self._redis, args) if self._cluster else self._script(args=args)
            )
            await self._follow_up(planned, replies)
        except (RedisError, OSError) as exc:
            for plan in planned:
                plan.target.set_written = None
                plan.target.refresh_due_s = -math.inf
            raise StoreUnavailable("redis", str(exc) or type(exc).__name__) from exc
        self._prune(now_s)

    async def _encoded_sets(self, results: Sequence[ScrapeResult]) -> Mapping[str, bytes]:
        """The series sets this batch writes anew, encoded in a worker thread when there are more than
        :data:`THREAD_ENCODE_SETS` of them; empty otherwise (:meth:`_plan` encodes the few on the loop)."""
        new = {
            result.series_set_id: result.series
            for result in results
            if result.series and self._target(result).set_written != result.series_set_id
        }
        if len(new) <= THREAD_ENCODE_SETS:
            return {}
        return await asyncio.to_thread(_encode_sets, new)

    def _plan(
        self,
        args: list[str | int | bytes],
        result: ScrapeResult,
        summary: ServerSummary,
        encoded: Mapping[str, bytes],
    ) -> _Planned:
        """Append one result's script arguments for ``summary``; ``encoded``: sets encoded ahead."""
        target = self._target(result)
        time_s = result.timestamp_ms / 1000.0
        target.last_seen_s = time_s
        status: Status
        if result.up:
            status = status_of(summary, self._thresholds)
        else:
            summary, status = _NO_SUMMARY, "down"
        summary_doc = summary.to_dict()
        doc: dict[str, object] = {
            "server_id": target.server_id,
            "status": status,
            "last_scrape": time_s,
            "last_error": result.error,
            "scrape_duration_s": round(result.duration_s, 6),
            "job": target.job,
            "instance": target.instance,
            "labels": target.labels,
            "identity": target.identity,
            "summary": summary_doc,
        }
        set_id: str = ""
        set_value: bytes = b""
        wrote_set = False
        if result.series:
            if target.set_written != result.series_set_id:
                set_id, wrote_set = result.series_set_id, True
                set_value = encoded.get(set_id) or encode_series_set(result.series)
                target.set_written = result.series_set_id
                target.refresh_due_s = time_s + self._refresh_s
            elif time_s >= target.refresh_due_s:
                set_id = result.series_set_id
                target.refresh_due_s = time_s + self._refresh_s
        trim = ""
        # Trimming every scrape would double Redis's work per result; a few seconds' slack is harmless.
        if time_s >= target.trim_due_s:
            target.trim_due_s = time_s + self._trim_every_s
            trim = f"({time_s - self._window_s!r}"
        members = [""] * len(keys.METRICS)
        for metric, value in summary.items():
            position = _METRIC_POSITION.get(metric)
            if position is not None:
                members[position] = f"{time_s:.3f}:{value!r}"
        event = {
            "server_id": target.server_id,
            "ts": time_s,
            "up": result.up,
            "status": status,
            "summary": summary_doc,
        }
        args += [
            target.server_id,
            target.identity,
            repr(time_s),
            _dumps(doc),
            encode_latest(result),
            set_id,
            set_value,
            trim,
            *members,
            _dumps(event),
        ]
        return _Planned(target, result, status, time_s, wrote_set)

    async def _follow_up(self, planned: list[_Planned], replies: list[object]) -> None:
        """Publish status changes and rewrite what the script's answers show Redis lost."""
        pipe = self._redis.pipeline(transaction=False)
        events: list[tuple[str, str | bytes]] = []
        for i, plan in enumerate(planned):
            old, lost = replies[2 * i], replies[2 * i + 1]
            previous = old.decode() if isinstance(old, bytes) else None
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
                events.append((self._status_channel, _dumps(event)))
            lost_status = old is None and not plan.wrote_set
            if plan.result.series and (lost_status or lost == 1):
                series_key = keys.series_set(plan.result.series_set_id)
                pipe.set(series_key, encode_series_set(plan.result.series), ex=self._set_ttl_s)
        if len(pipe):
            await pipe.execute()
        await publish_all(self._redis, events)

    def _prune(self, now_s: float) -> None:
        """Forget targets not seen for ``keep_s``: their keys have expired too."""
        if now_s < self._prune_due_s:
            return
        self._prune_due_s = now_s + self._refresh_s
        cutoff = now_s - self._keep_s
        for identity in [i for i, t in self._targets.items() if t.last_seen_s < cutoff]:
            del self._targets[identity]


_METRIC_POSITION: Final[dict[str, int]] = {metric: i for i, metric in enumerate(keys.METRICS)}
