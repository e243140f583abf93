"""Every collector's scrape waves to the one alert engine of the cluster, over Redis pub/sub.

The alert engine runs on the holder of the singletons' lease (:mod:`collector.cluster.member`), but each
collector scrapes only its share. So every member hands its waves to a :class:`WaveRelay`: the lease holder
evaluates its own waves at once, the others publish theirs (what the engine reads of a result: the target,
up or the error, the summary) on :data:`CHANNEL`, which the holder hears and evaluates. A message lost on the
way (a relay is a hint, like every event) costs the engine one observation of those servers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Final

import redis.asyncio as aioredis
import structlog
from redis.exceptions import RedisError

from collector.result import ScrapeResult, TargetInfo
from collector.storage import keys
from collector.storage.redis_cluster import publish_all
from collector.storage.subscription import Subscription
from collector.summary import ServerSummary

log = structlog.get_logger(__name__)

CHANNEL: Final = "cluster:waves"
"""Channel (scoped by :func:`~collector.storage.keys.channel`): one JSON list of observations per wave."""

Deliver = Callable[[Sequence[ScrapeResult], Mapping[str, ServerSummary]], None]


def encode_wave(results: Sequence[ScrapeResult], summaries: Mapping[str, ServerSummary]) -> str:
    """The parts of a wave the alert engine reads, as JSON."""
    return json.dumps(
        [
            [
                r.target.identity,
                str(r.target.server_id),
                r.target.job,
                r.target.instance,
                list(r.target.labels),
                r.target.url,
                r.target.interval_s,
                r.target.timeout_s,
                r.timestamp_ms,
                r.error,
                r.error_reason,
                summaries[r.target.identity].to_dict() if r.target.identity in summaries else None,
            ]
            for r in results
        ],
        separators=(",", ":"),
    )


def decode_wave(message: bytes | str) -> tuple[list[ScrapeResult], dict[str, ServerSummary]]:
    """A wave as :func:`encode_wave` wrote it: results without samples, and their summaries."""
    results: list[ScrapeResult] = []
    summaries: dict[str, ServerSummary] = {}
    for item in json.loads(message):
        identity, server_id, job, instance, labels, url, interval_s, timeout_s, ts, error, reason, summary = (
            item
        )
        target = TargetInfo(
            identity,
            uuid.UUID(server_id),
            job,
            instance,
            tuple((k, v) for k, v in labels),
            url,
            interval_s,
            timeout_s,
        )
        results.append(ScrapeResult(target, ts, 0.0, error, reason, (), "", []))
        if summary is not None:
            summaries[identity] = ServerSummary.from_dict(summary)
    return results, summaries


class WaveRelay:
    """A member's pipeline observer: evaluates here while ``is_leader``, else publishes to the leader."""

    def __init__(self, redis: aioredis.Redis, is_leader: Callable[[], bool], deliver: Deliver) -> None:
        self._redis = redis
        self._is_leader = is_leader
        self._deliver = deliver
        self._channel = keys.channel(CHANNEL, redis)
        self._outbox: list[str] = []
        self._wake = asyncio.Event()
        self._publisher: asyncio.Task[None] | None = None
        self._listener = Subscription(redis, [self._channel], self._heard, what="wave relay")
        self.relayed = 0

    def observe(self, results: Sequence[ScrapeResult], summaries: Mapping[str, ServerSummary]) -> None:
        """One wave of this member's pipeline."""
        if self._is_leader():
            self._deliver(results, summaries)
        elif results:
            self._outbox.append(encode_wave(results, summaries))
            self._wake.set()

    async def start(self, *, listen: bool = True) -> None:
        """Start publishing this member's waves and, unless ``listen`` is false (a process that never
        holds the lease), listening for the others'."""
        self._publisher = asyncio.create_task(self._publish(), name="wave-relay-publish")
        if listen:
            self._listener.start()

    async def _publish(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            waves, self._outbox = self._outbox, []
            try:
                await publish_all(self._redis, [(self._channel, wave) for wave in waves])
            except (RedisError, OSError) as exc:
                log.warning(
                    "waves not relayed to the alert engine", waves=len(waves), error=str(exc) or repr(exc)
                )

    def _heard(self, _channel: bytes | str, data: bytes | str) -> None:
        if self._is_leader():
            results, summaries = decode_wave(data)
            self.relayed += len(results)
            self._deliver(results, summaries)

    async def close(self) -> None:
        """Stop publishing and listening."""
        if self._publisher is not None:
            self._publisher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._publisher
            self._publisher = None
        await self._listener.close()
