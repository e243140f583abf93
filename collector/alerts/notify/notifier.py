"""The notifier service: the dispatcher driven by a clock, one delivery task per channel, and the store.

The engine hands every alert that changed state to :meth:`Notifier.put`. :meth:`Notifier.tick` (every second
in a background task, or called by a test after moving its clock) lets the
:class:`~collector.alerts.notify.dispatcher.Dispatcher` decide what is due and queues each notification on
its channel's own task: a channel's notifications go out in order, and a slow or hanging channel delays no
other. After each delivery the notification log and history are written, and an event is recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from typing import Final
from uuid import UUID

import asyncpg
import structlog

from collector.alerts.model import ALERTNAME, SEVERITY, Alert, Clock, SystemClock
from collector.alerts.notify import store
from collector.alerts.notify.channels import ChannelConfig, StoredChannel
from collector.alerts.notify.delivery import DeliveryResult, RetryPolicy, Sender
from collector.alerts.notify.dispatcher import Dispatcher, IsMuted, LogEntry, Notification
from collector.alerts.notify.metrics import NotifyMetrics
from collector.storage.events import record_event

log = structlog.get_logger(__name__)

EVENT_SOURCE: Final = "notify"
_STORE_ERRORS = (asyncpg.PostgresError, OSError, TimeoutError)


class _ChannelWorker:
    """A queue of one channel's notifications and the task that delivers them in order."""

    def __init__(self, deliver: Callable[[Notification], Awaitable[None]], channel_id: UUID) -> None:
        self.queue: asyncio.Queue[Notification] = asyncio.Queue()
        self.task = asyncio.create_task(self._run(deliver), name=f"notify-{channel_id}")

    async def _run(self, deliver: Callable[[Notification], Awaitable[None]]) -> None:
        while True:
            notification = await self.queue.get()
            try:
                await deliver(notification)
            except Exception:
                log.exception("notification delivery crashed", channel=notification.channel.name)
            finally:
                self.queue.task_done()


class Notifier:
    """Groups, times and delivers alert notifications; open with :meth:`start`, close with :meth:`close`."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        sender: Sender,
        *,
        is_muted: IsMuted,
        clock: Clock | None = None,
        retry: RetryPolicy | None = None,
        metrics: NotifyMetrics | None = None,
        tick_interval_s: float | None = 1.0,
        reload_interval_s: float = 10.0,
    ) -> None:
        """``tick_interval_s`` None: no background task; the caller calls :meth:`tick` (tests).

        The background task also reads the channels again every ``reload_interval_s``, so a channel changed
        through the API (possibly in another process) is used within that time.
        """
        self._pool = pool
        self._sender = sender
        self._clock = clock if clock is not None else SystemClock()
        self._retry = retry if retry is not None else RetryPolicy()
        self.metrics = metrics if metrics is not None else NotifyMetrics()
        self._tick_interval_s = tick_interval_s
        self._reload_interval_s = reload_interval_s
        self.dispatcher = Dispatcher(self._clock, is_muted)
        self._workers: dict[UUID, _ChannelWorker] = {}
        self._ticker: asyncio.Task[None] | None = None
        self._reload_requested = False

    async def start(self) -> None:
        """Read the channels and the notification log, then start ticking."""
        self.dispatcher.load_log(await store.load_log(self._pool))
        await self.reload_channels()
        if self._tick_interval_s is not None:
            self._ticker = asyncio.create_task(self._tick_forever(self._tick_interval_s), name="notify-tick")

    async def reload_channels(self) -> None:
        """Read the channels again (after the API changed one); a removed channel's queue is dropped."""
        channels = await store.list_channels(self._pool)
        self.dispatcher.set_channels(channels)
        kept = {c.id for c in channels if c.config.enabled}
        for channel_id in [i for i in self._workers if i not in kept]:
            self._workers.pop(channel_id).task.cancel()

    def request_reload(self) -> None:
        """Read the channels again on the next tick (the API announced a change)."""
        self._reload_requested = True

    def put(self, alerts: Iterable[Alert]) -> None:
        """Take alerts that changed state (firing or resolved; pending ones are ignored)."""
        self.dispatcher.put(alerts)

    async def tick(self) -> None:
        """Flush the groups that are due: queue their notifications and store the log changes."""
        flush = self.dispatcher.flush_due()
        for notification in flush.notifications:
            worker = self._workers.get(notification.channel.id)
            if worker is None:
                worker = self._workers[notification.channel.id] = _ChannelWorker(
                    self._deliver, notification.channel.id
                )
            worker.queue.put_nowait(notification)
        try:
            for entry in flush.saved:
                await store.save_log_entry(self._pool, entry)
            for channel_id, key in flush.removed:
                await store.delete_log_entry(self._pool, channel_id, key)
        except _STORE_ERRORS as exc:
            log.warning("notification log not stored", error=str(exc))

    async def drain(self) -> None:
        """Wait until every queued notification has been delivered or given up."""
        for worker in list(self._workers.values()):
            await worker.queue.join()

    async def close(self, drain_timeout_s: float = 10.0) -> None:
        """Stop ticking, give queued deliveries ``drain_timeout_s`` to finish, then cancel the rest."""
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.drain(), drain_timeout_s)
        workers, self._workers = list(self._workers.values()), {}
        for worker in workers:
            worker.task.cancel()
        await asyncio.gather(*(w.task for w in workers), return_exceptions=True)

    async def send_test(self, channel: ChannelConfig) -> DeliveryResult:
        """Send one synthetic notification over ``channel`` now, in one attempt (see :func:`send_test`)."""
        return await send_test(self._sender, channel, clock=self._clock)

    async def _tick_forever(self, interval_s: float) -> None:
        reload_at = self._clock.now() + self._reload_interval_s
        while True:
            await asyncio.sleep(interval_s)
            try:
                if self._reload_requested or self._clock.now() >= reload_at:
                    self._reload_requested = False
                    reload_at = self._clock.now() + self._reload_interval_s
                    await self.reload_channels()
                await self.tick()
            except _STORE_ERRORS as exc:
                log.warning("notification channels not read", error=str(exc))
            except Exception:
                log.exception("notifier tick failed")

    async def _deliver(self, notification: Notification) -> None:
        channel = notification.channel
        result = await self._sender.deliver(channel.config, notification, self._retry)
        (self.metrics.sent if result.ok else self.metrics.failed).labels(kind=channel.kind).inc()
        removed = self.dispatcher.delivered(notification, result.ok)
        alerts = len(notification.firing) + len(notification.resolved)
        try:
            if result.ok and removed:
                await store.delete_log_entry(self._pool, channel.id, notification.group_key)
            elif result.ok:
                await store.save_log_entry(self._pool, notification.entry)
            await store.record_notification(
                self._pool,
                at_s=self._clock.now(),
                channel_id=channel.id,
                group_key=notification.group_key,
                status=notification.status,
                alerts=alerts,
                ok=result.ok,
                attempts=result.attempts,
                error=result.error,
            )
            outcome = "sent" if result.ok else f"failed after {result.attempts} attempts: {result.error}"
            await record_event(
                self._pool,
                "info" if result.ok else "error",
                EVENT_SOURCE,
                f"{notification.status} notification of {alerts} alerts to {channel.name} {outcome}",
                detail={
                    "channel_id": str(channel.id),
                    "channel": channel.name,
                    "group": notification.group_key,
                },
            )
        except _STORE_ERRORS as exc:
            log.warning("notification outcome not stored", channel=channel.name, error=str(exc))


async def send_test(sender: Sender, channel: ChannelConfig, *, clock: Clock | None = None) -> DeliveryResult:
    """Send one synthetic notification over ``channel`` now, in one attempt; the result has the error."""
    now = (clock if clock is not None else SystemClock()).now()
    labels = {ALERTNAME: "OpenManagerTest", SEVERITY: "info"}
    alert = Alert(
        fingerprint="test",
        rule_id="test",
        server_id=None,
        severity="info",
        state="firing",
        labels=labels,
        annotations={
            "title": "Test notification from OpenManager",
            "message": f"Channel {channel.name!r} works: this test was sent on request.",
        },
        active_since=now,
        fired_at=now,
    )
    stamp = datetime.fromtimestamp(now, UTC)
    stored = StoredChannel(UUID(int=0), channel, stamp, stamp)
    entry = LogEntry(stored.id, "{}", frozenset({"test"}), frozenset(), now)
    notification = Notification(stored, "{}", {ALERTNAME: "OpenManagerTest"}, (alert,), (), entry)
    return await sender.deliver(channel, notification, RetryPolicy(attempts=1))
