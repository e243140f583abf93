"""The notifier service on a real PostgreSQL and real HTTP receivers, driven by a fake clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import aiohttp
import asyncpg
import pytest

from collector.alerts.notify.channels import StoredChannel
from collector.alerts.notify.delivery import RetryPolicy, Sender
from collector.alerts.notify.metrics import NotifyMetrics
from collector.alerts.notify.notifier import EVENT_SOURCE, Notifier
from collector.alerts.notify.store import create_channel, list_notifications, load_log
from collector.storage.events import query_events

from .support import FakeClock, Receiver, alert, receiver, resolved, webhook

NotifierFactory = Callable[..., Notifier]


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
async def make_notifier(pool: asyncpg.Pool, session: aiohttp.ClientSession) -> AsyncIterator[NotifierFactory]:
    """Notifiers on the test's pool without a background tick; all closed after the test."""
    made: list[Notifier] = []

    def make(clock: FakeClock, muted: set[str] | None = None, **kwargs: object) -> Notifier:
        silenced = muted if muted is not None else set()
        notifier = Notifier(
            pool,
            Sender(session),
            is_muted=lambda a, now: a.fingerprint in silenced,
            clock=clock,
            retry=RetryPolicy(attempts=3, first_backoff_s=0.01, max_backoff_s=0.02),
            tick_interval_s=None,
            **kwargs,  # type: ignore[arg-type]
        )
        made.append(notifier)
        return notifier

    yield make
    for notifier in made:
        await notifier.close(drain_timeout_s=1)


async def hook_channel(pool: asyncpg.Pool, rec: Receiver, **overrides: object) -> StoredChannel:
    return await create_channel(pool, webhook(rec.url, **overrides))


async def step(notifier: Notifier, clock: FakeClock, seconds: float) -> None:
    """Move the clock, tick, and wait for the deliveries that started."""
    clock.advance(seconds)
    await notifier.tick()
    await notifier.drain()


async def test_a_grouped_notification_is_delivered_logged_and_counted(
    pool: asyncpg.Pool, make_notifier: NotifierFactory
) -> None:
    async with receiver() as rec:
        channel = await hook_channel(pool, rec)
        clock = FakeClock()
        metrics = NotifyMetrics()
        notifier = make_notifier(clock, metrics=metrics)
        await notifier.start()
        notifier.put([alert(server="web-1"), alert(server="web-2"), alert(state="pending", server="web-3")])
        await step(notifier, clock, 29)
        assert rec.requests == 0
        await step(notifier, clock, 1)
        (doc,) = rec.received
        alerts = doc["alerts"]
        assert isinstance(alerts, list) and len(alerts) == 2
        (entry,) = await load_log(pool)
        assert entry.channel_id == channel.id and len(entry.firing) == 2 and entry.sent_at == clock.now()
        (record,) = await list_notifications(pool, channel_id=channel.id)
        assert (record.ok, record.alerts, record.attempts, record.status) == (True, 2, 1, "firing")
        assert (
            metrics.registry.get_sample_value("openmanager_notifications_sent_total", {"kind": "webhook"})
            == 1
        )
        events, _ = await query_events(pool, source=EVENT_SOURCE)
        assert any(channel.name in e.message and e.level == "info" for e in events)


async def test_after_a_restart_nothing_the_log_says_was_sent_is_sent_again(
    pool: asyncpg.Pool, make_notifier: NotifierFactory
) -> None:
    async with receiver() as rec:
        await hook_channel(pool, rec)
        clock = FakeClock()
        a, b = alert(server="web-1"), alert(server="web-2")
        first = make_notifier(clock)
        await first.start()
        first.put([a, b])
        await step(first, clock, 30)
        assert len(rec.received) == 1
        await first.close()

        clock.advance(120)
        second = make_notifier(clock)
        await second.start()
        second.put([a, b])  # the engine hands over every firing alert after its restart
        for _ in range(4):
            await step(second, clock, 300)
        assert len(rec.received) == 1

        second.put([resolved(a, clock.now())])
        await step(second, clock, 300)
        assert len(rec.received) == 2
        assert rec.received[1]["status"] == "firing"  # b still fires; a's resolution rides along
        statuses = {x["labels"]["server_id"]: x["status"] for x in rec.received[1]["alerts"]}
        assert statuses == {"web-1": "resolved", "web-2": "firing"}


async def test_a_hanging_channel_does_not_delay_another(
    pool: asyncpg.Pool, make_notifier: NotifierFactory
) -> None:
    async with receiver() as stuck, receiver() as healthy:
        stuck.hang = asyncio.Event()
        await hook_channel(pool, stuck, timeout_s=60)
        await hook_channel(pool, healthy)
        clock = FakeClock()
        notifier = make_notifier(clock)
        await notifier.start()
        notifier.put([alert()])
        clock.advance(30)
        await notifier.tick()
        async with asyncio.timeout(20):  # a bound for a broken notifier, not a timed assertion
            await healthy.answered.wait()
            await stuck.arrived.wait()
        assert stuck.requests == 1 and stuck.received == []  # still waiting for its answer
        stuck.hang.set()
        await notifier.drain()
        assert len(stuck.received) == 1


async def test_a_rejected_notification_is_recorded_as_failed(
    pool: asyncpg.Pool, make_notifier: NotifierFactory
) -> None:
    async with receiver() as rec:
        rec.statuses = [400]
        channel = await hook_channel(pool, rec)
        clock = FakeClock()
        metrics = NotifyMetrics()
        notifier = make_notifier(clock, metrics=metrics)
        await notifier.start()
        notifier.put([alert()])
        await step(notifier, clock, 30)
        assert rec.requests == 1
        (record,) = await list_notifications(pool, channel_id=channel.id)
        assert (record.ok, record.attempts, record.error) == (False, 1, "HTTP 400: nope")
        assert (
            metrics.registry.get_sample_value("openmanager_notifications_failed_total", {"kind": "webhook"})
            == 1
        )
        assert await load_log(pool) == []
        events, _ = await query_events(pool, source=EVENT_SOURCE, level="error")
        assert any("HTTP 400" in e.message for e in events)
        await step(notifier, clock, 300)  # the next look tries again, and this time the receiver takes it
        assert len(rec.received) == 1


async def test_a_muted_alert_is_held_back_until_its_mute_ends(
    pool: asyncpg.Pool, make_notifier: NotifierFactory
) -> None:
    async with receiver() as rec:
        await hook_channel(pool, rec)
        clock = FakeClock()
        a = alert()
        silenced = {a.fingerprint}
        notifier = make_notifier(clock, silenced)
        await notifier.start()
        notifier.put([a])
        await step(notifier, clock, 30)
        await step(notifier, clock, 300)
        assert rec.requests == 0
        silenced.clear()
        await step(notifier, clock, 299)
        assert rec.requests == 0
        await step(notifier, clock, 1)
        assert len(rec.received) == 1


async def test_send_test_reports_success_or_the_error(
    pool: asyncpg.Pool, make_notifier: NotifierFactory
) -> None:
    async with receiver() as good, receiver() as bad:
        bad.statuses = [400]
        notifier = make_notifier(FakeClock())
        ok = await notifier.send_test(webhook(good.url))
        failed = await notifier.send_test(webhook(bad.url))
        assert ok.ok and good.received[0]["alerts"][0]["labels"]["alertname"] == "OpenManagerTest"
        assert not failed.ok and failed.error == "HTTP 400: nope" and bad.requests == 1


async def test_the_background_tick_flushes_without_being_called(
    pool: asyncpg.Pool, session: aiohttp.ClientSession
) -> None:
    async with receiver() as rec:
        await hook_channel(pool, rec)
        clock = FakeClock()
        notifier = Notifier(
            pool, Sender(session), is_muted=lambda a, now: False, clock=clock, tick_interval_s=0.01
        )
        await notifier.start()
        try:
            notifier.put([alert()])
            clock.advance(30)
            async with asyncio.timeout(20):
                await rec.answered.wait()
        finally:
            await notifier.close()


async def test_a_deleted_channel_is_dropped_on_reload(
    pool: asyncpg.Pool, make_notifier: NotifierFactory
) -> None:
    async with receiver() as rec:
        channel = await hook_channel(pool, rec)
        notifier = make_notifier(FakeClock())
        await notifier.start()
        notifier.put([alert()])
        assert len(notifier.dispatcher.groups) == 1
        await pool.execute("DELETE FROM notification_channels WHERE id = $1", channel.id)
        await notifier.reload_channels()
        assert notifier.dispatcher.groups == {}


async def test_the_background_task_reads_channels_added_after_start(
    pool: asyncpg.Pool, session: aiohttp.ClientSession
) -> None:
    async with receiver() as rec:
        clock = FakeClock()
        notifier = Notifier(
            pool,
            Sender(session),
            is_muted=lambda a, now: False,
            clock=clock,
            tick_interval_s=0.01,
            reload_interval_s=10,
        )
        await notifier.start()
        try:
            await hook_channel(pool, rec)  # as the API does, in this or another process
            notifier.put([alert()])
            assert notifier.dispatcher.groups == {}  # not known yet
            clock.advance(10)
            async with asyncio.timeout(20):
                while not notifier.dispatcher.groups:  # noqa: ASYNC110 - the reload has no event to wait on
                    await asyncio.sleep(0.01)
            clock.advance(30)
            async with asyncio.timeout(20):
                await rec.answered.wait()
        finally:
            await notifier.close()


async def test_a_requested_reload_reads_the_channels_on_the_next_tick(
    pool: asyncpg.Pool, session: aiohttp.ClientSession
) -> None:
    async with receiver() as rec:
        clock = FakeClock()
        notifier = Notifier(
            pool,
            Sender(session),
            is_muted=lambda a, now: False,
            clock=clock,
            tick_interval_s=0.01,
            reload_interval_s=3600,
        )
        await notifier.start()
        try:
            await hook_channel(pool, rec)
            notifier.request_reload()  # the API announced the new channel; the clock has not moved
            async with asyncio.timeout(20):
                while not notifier.dispatcher.groups:  # routed once the channel is read
                    notifier.put([alert()])
                    await asyncio.sleep(0.01)
            clock.advance(30)
            async with asyncio.timeout(20):
                await rec.answered.wait()
        finally:
            await notifier.close()
