"""Disk history for prediction: thinned to one point a step over a window, refilled from the real Redis."""

from __future__ import annotations

import uuid

import pytest
import redis.asyncio as aioredis
from structlog.testing import capture_logs

from collector.alerts.disk_history import DiskHistory
from collector.storage import keys
from collector.storage.connections import Stores
from tests.collector.alerts.test_engine import T0
from tests.ports import free_port

SERVER = uuid.UUID("00000000-0000-4000-8000-0000000000d1")


@pytest.mark.parametrize(
    ("window_s", "step_s", "times", "kept"),
    [
        (600, 60, [0, 30, 59, 60, 150], [0, 60, 150]),
        (180, 60, [0, 60, 120, 180, 240, 300], [120, 180, 240, 300]),
        (180, 60, [0, 70, 140, 210], [0, 70, 140, 210]),
        (60, 60, [0, 60, 120], [60, 120]),
    ],
)
def test_points_are_thinned_to_one_a_step_within_the_window(
    window_s: float, step_s: float, times: list[float], kept: list[float]
) -> None:
    history = DiskHistory(window_s, step_s)
    for t in times:
        history.remember(SERVER, T0 + t, t / 10)
    assert [t - T0 for t, _ in history.of(SERVER)] == kept
    assert [v for _, v in history.of(SERVER)] == [t / 10 for t in kept]


def test_an_unknown_or_forgotten_server_has_no_points() -> None:
    history = DiskHistory(600, 60)
    assert list(history.of(SERVER)) == []
    history.remember(SERVER, T0, 50.0)
    history.forget(SERVER)
    assert list(history.of(SERVER)) == []


async def test_refill_reads_the_live_layers_recent_window(stores: Stores) -> None:
    other = uuid.uuid4()
    members = {f"{T0 - i * 60:.3f}:{50 + i!r}": T0 - i * 60 for i in range(5)}
    members["garbage"] = T0 - 30  # not time:value
    await stores.redis.zadd(keys.SERVERS_INDEX, {str(SERVER): T0, "not-a-uuid": T0, str(other): T0})
    await stores.redis.zadd(keys.server_metric(SERVER, "disk"), members)
    await stores.redis.zadd(keys.server_metric(other, "disk"), {f"{T0 - 7200:.3f}:10.0": T0 - 7200})
    history = DiskHistory(window_s=150, step_s=60)
    await history.refill(stores.redis, T0, timeout_s=5)
    assert list(history.of(SERVER)) == [(T0 - 120, 52.0), (T0 - 60, 51.0), (T0, 50.0)]
    assert list(history.of(other)) == [], "older than the window"
    await stores.redis.zrem(keys.SERVERS_INDEX, str(SERVER), "not-a-uuid", str(other))
    await stores.redis.delete(keys.server_metric(SERVER, "disk"), keys.server_metric(other, "disk"))


async def test_refill_without_redis_is_logged_and_leaves_no_points() -> None:
    dead = aioredis.Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.5)
    history = DiskHistory(600, 60)
    with capture_logs() as logs:
        await history.refill(dead, T0, timeout_s=1)
    assert [entry["event"] for entry in logs] == ["disk history not refilled from redis"]
    assert list(history.of(SERVER)) == []
    await dead.aclose()
