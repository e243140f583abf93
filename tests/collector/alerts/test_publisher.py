"""The engine's Redis side on the real Redis: ``alerts:active``, ``events:alerts``, bounds and an outage."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Sequence

import pytest
import redis.asyncio as aioredis
from redis.asyncio.client import PubSub

from collector.alerts.model import Alert
from collector.alerts.publisher import AlertPublisher, alert_json
from collector.alerts.store_retry import REDIS_ERRORS, StoreRetry
from collector.backoff import Backoff
from collector.storage import keys
from collector.storage.connections import Stores
from tests.collector.alerts.test_alert_store import firing, make_alert, resolved
from tests.collector.alerts.test_engine import T0, FakeClock
from tests.ports import free_port


class Active:
    """What the engine would answer: the active alerts with their muting; counts the questions."""

    def __init__(self, *alerts: tuple[Alert, bool]) -> None:
        self.alerts = list(alerts)
        self.asked = 0

    def __call__(self) -> Sequence[tuple[Alert, bool]]:
        self.asked += 1
        return self.alerts


def publisher(
    redis: aioredis.Redis, active: Active, clock: FakeClock | None = None, max_queued: int = 100
) -> AlertPublisher:
    clock = clock or FakeClock()
    retry = StoreRetry("redis", REDIS_ERRORS, backoff=Backoff(1.0, 4.0), clock=clock.now, timeout_s=0.5)
    return AlertPublisher(redis, active, retry, max_queued)


async def next_message(pubsub: PubSub) -> dict[str, object]:
    """The next message published (subscription confirmations skipped); TimeoutError after 5 s."""
    async with asyncio.timeout(5):
        while True:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1)
            if message is not None:
                body: dict[str, object] = json.loads(message["data"])
                return body


async def listed(redis: aioredis.Redis) -> list[tuple[str, str, bool]]:
    return [
        (item["name"], item["state"], item["muted"])
        for item in map(json.loads, await redis.lrange(keys.ALERTS_ACTIVE, 0, -1))
    ]


@pytest.mark.parametrize("muted", [False, True])
def test_alert_json_carries_every_field_and_the_muting(muted: bool) -> None:
    server = uuid.uuid4()
    alert = firing(make_alert("HighCpu", server=server))
    body = alert_json(alert, muted=muted)
    assert body == {
        "fingerprint": alert.fingerprint,
        "rule_id": "HighCpu-rule",
        "name": "HighCpu",
        "server_id": str(server),
        "severity": "warning",
        "state": "firing",
        "labels": dict(alert.labels),
        "annotations": {"title": "HighCpu on host", "message": "cpu is 95%"},
        "title": "HighCpu on host",
        "message": "cpu is 95%",
        "value": 95.0,
        "active_since": T0,
        "fired_at": T0 + 300,
        "resolved_at": None,
        "muted": muted,
    }
    assert json.loads(json.dumps(body)) == body


async def test_the_active_list_is_rewritten_only_when_it_changed(stores: Stores) -> None:
    active = Active((firing(make_alert("HighCpu")), True), (make_alert("HighDisk"), False))
    writes = publisher(stores.redis, active)
    await writes.flush()
    assert await listed(stores.redis) == [("HighCpu", "firing", True), ("HighDisk", "pending", False)]
    await writes.flush()
    assert active.asked == 1, "nothing changed: not rewritten"
    active.alerts = []
    writes.active_changed()
    await writes.flush()
    assert await listed(stores.redis) == [] and active.asked == 2


async def test_announced_alerts_are_published_in_order_bounded(stores: Stores) -> None:
    cpu = firing(make_alert("HighCpu"))
    writes = publisher(stores.redis, Active(), max_queued=2)
    async with stores.redis.pubsub() as pubsub:
        await pubsub.subscribe(keys.channel(keys.EVENTS_ALERTS, stores.redis))
        writes.announce(firing(make_alert("Dropped")), muted=False)
        writes.announce(cpu, muted=True)
        writes.announce(resolved(cpu), muted=False)
        await writes.flush()
        bodies = [await next_message(pubsub), await next_message(pubsub)]
    assert [(b["name"], b["state"], b["muted"]) for b in bodies] == [
        ("HighCpu", "firing", True),
        ("HighCpu", "resolved", False),
    ]


async def test_while_redis_is_away_nothing_is_lost_and_it_is_retried_when_due(stores: Stores) -> None:
    dead = aioredis.Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.5)
    clock = FakeClock()
    active = Active((firing(make_alert("HighCpu")), False))
    writes = publisher(dead, active, clock)
    writes.announce(firing(make_alert("HighCpu")), muted=False)
    await writes.flush()
    assert writes.retry.failures == 1 and writes.retry.error is not None
    await writes.flush()
    assert writes.retry.failures == 1, "not due yet"
    clock.t += 1.0
    await writes.flush()
    assert writes.retry.failures == 2
    writes._redis = stores.redis  # Redis is back: the same queue, now on a live connection
    clock.t += 2.0
    async with stores.redis.pubsub() as pubsub:
        await pubsub.subscribe(keys.channel(keys.EVENTS_ALERTS, stores.redis))
        await writes.flush()
        assert (await next_message(pubsub))["name"] == "HighCpu"
    assert writes.retry.error is None
    assert await listed(stores.redis) == [("HighCpu", "firing", False)], "the list a failed write owed"
    await dead.aclose()
