"""The alert engine: evaluates every scrape wave of the storage pipeline and persists what changed.

:meth:`AlertEngine.observe` is called by :class:`~collector.storage.pipeline.StoragePipeline` with each
wave of results and their summaries. It runs the pure state machine (:mod:`collector.alerts.evaluator`) in
memory, calls ``on_change`` with the alerts that fired or resolved (the notifier), and queues the changes;
it never waits for a store. The engine's own task then writes them:

- PostgreSQL: the ``alerts`` rows (:func:`collector.alerts.store.apply_changes`) and an ``events`` log entry
  per firing or resolved alert;
- Redis: ``alerts:active`` rewritten (a JSON object per pending or firing alert, firing first) and a JSON
  message per firing or resolved alert on ``events:alerts``.

While a store is away its writes wait in memory (bounded; the oldest are dropped, counted and logged) and
are retried with capped exponential back-off; evaluation goes on.

Rules and silences are read from PostgreSQL every ``reload_interval_s`` and at once when a message arrives
on ``alerts:config`` (see :func:`collector.alerts.store.announce_config_change`). A reload also picks up
alerts resolved by hand: they are held, i.e. not fired again until their condition has cleared once.

Restart: :meth:`AlertEngine.start` seeds the rules (defaults on an empty table, the rules file upserted),
restores pending and firing alerts from PostgreSQL (a pending alert keeps its start, so its ``for`` timer
goes on; a firing one does not fire again), calls ``on_change`` with the firing ones so that a new notifier
knows them, and refills the disk history used for disk-full prediction from Redis.

Time is the engine's :class:`~collector.alerts.model.Clock` at the moment a wave is observed (a wave is
observed a fraction of a second after its scrape), so tests drive it with a fake clock. A server not seen
for ``forget_after_s`` (removed from the targets) has its alerts ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

import asyncpg
import redis.asyncio as aioredis
import structlog
from redis.exceptions import RedisError

from collector.alerts.evaluator import (
    Change,
    Observation,
    RuleState,
    end,
    evaluate,
    firing_down_alerts,
    hold,
    inhibits,
)
from collector.alerts.model import Alert, Clock, SystemClock
from collector.alerts.rulefile import default_rules, load_rules_file
from collector.alerts.rules import Rule
from collector.alerts.silences import Silence, is_silenced
from collector.alerts.store import (
    apply_changes,
    held_fingerprints,
    list_rules,
    list_silences,
    load_engine_state,
    seed_rules,
)
from collector.scrape.result import ScrapeResult, TargetInfo
from collector.storage import keys
from collector.storage.errors import StoreUnavailable
from collector.storage.events import Level, record_event
from collector.storage.history import instance_host
from collector.storage.summary import ServerSummary

log = structlog.get_logger(__name__)

OnChange = Callable[[Sequence[Alert]], None]
"""Called with the alerts that fired or resolved, in order."""

_PG_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError, StoreUnavailable)
_REDIS_ERRORS = (RedisError, OSError, TimeoutError)
_REFUSED = (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError)
"""PostgreSQL errors that retrying the same write cannot cure."""
_LISTEN_POLL_S = 0.5
_LEVELS: Mapping[str, Level] = {"info": "info", "warning": "warning", "critical": "critical"}


@dataclass(frozen=True)
class EngineOptions:
    """Timing and bounds of the engine."""

    reload_interval_s: float = 5.0
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    max_queued_changes: int = 10_000
    disk_window_s: float = 6 * 3600.0
    """How much disk history is kept per server for prediction (longer rule lookbacks see only this)."""
    disk_step_s: float = 60.0
    """At most one disk point per server per step is kept: 360 points for 6 h."""
    forget_after_s: float = 3600.0
    store_timeout_s: float = 10.0


def server_labels(target: TargetInfo) -> dict[str, str]:
    """The labels rule scopes match for a target: its labels plus ``job``, ``instance``, ``server_id``."""
    return {
        **dict(target.labels),
        "job": target.job,
        "instance": target.instance,
        "server_id": str(target.server_id),
    }


def alert_json(alert: Alert, *, muted: bool = False) -> dict[str, object]:
    """An alert as the JSON object of ``alerts:active`` and ``events:alerts``."""
    return {
        "fingerprint": alert.fingerprint,
        "rule_id": alert.rule_id,
        "name": alert.name,
        "server_id": None if alert.server_id is None else str(alert.server_id),
        "severity": alert.severity,
        "state": alert.state,
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations),
        "title": alert.title,
        "message": alert.message,
        "value": alert.value,
        "active_since": alert.active_since,
        "fired_at": alert.fired_at,
        "resolved_at": alert.resolved_at,
        "muted": muted,
    }


class _Backoff:
    """Capped exponential back-off of one store, with the error logged once per outage."""

    def __init__(self, store: str, options: EngineOptions) -> None:
        self.store = store
        self._options = options
        self._delay_s = options.backoff_initial_s
        self.retry_at = 0.0
        self.error: str | None = None

    def failed(self, exc: BaseException, now: float) -> None:
        message = str(exc) or type(exc).__name__
        if self.error is None:
            log.warning("alert engine cannot write, retrying", store=self.store, error=message)
        self.error = message
        self.retry_at = now + self._delay_s
        self._delay_s = min(self._delay_s * 2, self._options.backoff_max_s)

    def succeeded(self) -> None:
        if self.error is not None:
            log.info("alert engine writes again", store=self.store)
        self.error = None
        self.retry_at = 0.0
        self._delay_s = self._options.backoff_initial_s


class AlertEngine:
    """Rules evaluated on every scrape wave, alert state kept in memory and persisted in the background."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        redis: aioredis.Redis,
        *,
        clock: Clock | None = None,
        on_change: OnChange | None = None,
        rules_file: Path | None = None,
        options: EngineOptions | None = None,
        on_config_change: Callable[[], None] | None = None,
    ) -> None:
        """``on_config_change`` is called when the API announces a change of rules, silences or channels
        (the notifier reads its channels again)."""
        self._pool = pool
        self._redis = redis
        self._clock: Clock = clock or SystemClock()
        self._on_change = on_change
        self._on_config_change = on_config_change
        self._rules_file = rules_file
        self._options = options or EngineOptions()
        self._rules: list[Rule] = []
        self._silences: list[Silence] = []
        self._states: dict[UUID, dict[str, RuleState]] = {}
        self._down: dict[UUID, str] = {}
        self._last_seen: dict[UUID, float] = {}
        self._disk: dict[UUID, deque[tuple[float, float]]] = {}
        self._pg_changes: deque[Change] = deque()
        self._log_entries: deque[Alert] = deque()
        self._messages: deque[dict[str, object]] = deque()
        self._active_dirty = True
        self._pg = _Backoff("postgres", self._options)
        self._redis_backoff = _Backoff("redis", self._options)
        self._wake = asyncio.Event()
        self._reload_now = asyncio.Event()
        self._next_reload_s = 0.0
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self.changes_dropped = 0
        """Changes not persisted because the queue was full while PostgreSQL was away."""
        self.config_listener_ready = asyncio.Event()
        """Set while the engine is subscribed to ``alerts:config``."""

    # --- the pipeline's side: synchronous and cheap ------------------------------------------------------

    def observe(self, results: Sequence[ScrapeResult], summaries: Mapping[str, ServerSummary]) -> None:
        """Evaluate one wave: ``results`` (at most one per server) and their summaries by target identity."""
        now = self._clock.now()
        notify: list[Alert] = []
        for result in results:
            target = result.target
            server_id = target.server_id
            summary = summaries.get(target.identity) if result.up else None
            self._last_seen[server_id] = now
            if summary is not None and summary.disk is not None:
                self._remember_disk(server_id, now, summary.disk)
            disk = self._disk.get(server_id)
            observation = Observation(
                server_id=server_id,
                server=instance_host(target.instance),
                labels=server_labels(target),
                up=result.up,
                summary=summary,
                time_s=now,
                disk_history=disk if disk is not None else (),  # read synchronously: no copy needed
            )
            evaluation = evaluate(self._rules, observation, self._states.get(server_id, {}))
            self._set_states(server_id, evaluation.states)
            for change in evaluation.changes:
                self._record(change, notify)
        self._notify(notify)

    def _remember_disk(self, server_id: UUID, t: float, value: float) -> None:
        window = self._disk.get(server_id)
        if window is None:
            size = math.ceil(self._options.disk_window_s / self._options.disk_step_s) + 1
            window = self._disk[server_id] = deque(maxlen=size)
        if window and t - window[-1][0] < self._options.disk_step_s:
            return
        window.append((t, value))

    def _set_states(self, server_id: UUID, states: dict[str, RuleState]) -> None:
        if states:
            self._states[server_id] = states
        else:
            self._states.pop(server_id, None)
        down = firing_down_alerts(states.values())
        if server_id in down:
            self._down[server_id] = down[server_id]
        else:
            self._down.pop(server_id, None)

    def _record(self, change: Change, notify: list[Alert]) -> None:
        """Queue one change for the stores, and for the notifier when it fired or resolved."""
        if len(self._pg_changes) >= self._options.max_queued_changes:
            self._pg_changes.popleft()
            self.changes_dropped += 1
        self._pg_changes.append(change)
        self._active_dirty = True
        if change.kind in ("firing", "resolved"):
            notify.append(change.alert)
            self._announce(change.alert, log_entry=True)
        self._wake.set()

    def _announce(self, alert: Alert, *, log_entry: bool) -> None:
        if log_entry:
            self._log_entries.append(alert)
            while len(self._log_entries) > self._options.max_queued_changes:
                self._log_entries.popleft()
        self._messages.append(alert_json(alert, muted=self.is_muted(alert, self._clock.now())))
        while len(self._messages) > self._options.max_queued_changes:
            self._messages.popleft()

    def _notify(self, alerts: list[Alert]) -> None:
        if not alerts or self._on_change is None:
            return
        try:
            self._on_change(alerts)
        except Exception:  # a failing notifier must not stop evaluation
            log.exception("alert on_change callback failed")

    # --- what the notifier and the API ask ---------------------------------------------------------------

    def is_muted(self, alert: Alert, now: float) -> bool:
        """Whether ``alert`` must not be notified at ``now``: a silence matches it, or its server is down."""
        return inhibits(self._down, alert) or is_silenced(alert, self._silences, now)

    def active_alerts(self) -> list[Alert]:
        """Every pending and firing alert, firing first, then by start."""
        alerts = [s.alert for states in self._states.values() for s in states.values() if s.phase != "held"]
        return sorted(alerts, key=lambda a: (a.state != "firing", a.active_since, a.fingerprint))

    @property
    def rules(self) -> list[Rule]:
        """The rules in force."""
        return list(self._rules)

    @property
    def silences(self) -> list[Silence]:
        """The silences in force or to come."""
        return list(self._silences)

    def health(self) -> dict[str, object]:
        """The engine's state, for ``/api/health``."""
        return {
            "status": "degraded" if self._pg.error or self._redis_backoff.error else "ok",
            "rules": len(self._rules),
            "active_alerts": sum(
                1 for states in self._states.values() for s in states.values() if s.phase != "held"
            ),
            "queued_changes": len(self._pg_changes),
            "changes_dropped": self.changes_dropped,
            "postgres_error": self._pg.error,
            "redis_error": self._redis_backoff.error,
        }

    # --- lifecycle ---------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Seed and load rules, restore state, tell ``on_change`` what fires, refill disk history, start.

        Raises :class:`~collector.configfile.ConfigError` when the rules file is invalid. PostgreSQL or Redis
        failing here is logged; the engine starts with the default rules and no restored state.
        """
        file_rules = load_rules_file(self._rules_file) if self._rules_file is not None else []
        defaults = default_rules()
        self._rules = defaults
        now = self._clock.now()
        try:
            async with asyncio.timeout(self._options.store_timeout_s):
                outcome = await seed_rules(self._pool, defaults, file_rules)
                self._rules = await list_rules(self._pool)
                self._silences = await list_silences(self._pool, not_ended_at=now)
                snapshot = await load_engine_state(self._pool)
            log.info(
                "alert rules loaded",
                rules=len(self._rules),
                defaults_seeded=outcome.defaults_inserted,
                from_file=outcome.file_rules_upserted,
            )
            self._restore(snapshot.active, snapshot.held, now)
        except _PG_ERRORS as exc:
            log.error("alert state not restored: postgres unavailable", error=str(exc) or type(exc).__name__)
        self._notify([a for a in self.active_alerts() if a.state == "firing"])
        await self._refill_disk(now)
        self._next_reload_s = now + self._options.reload_interval_s
        self._tasks = [
            asyncio.create_task(self._run(), name="alerts-writer"),
            asyncio.create_task(self._listen_config(), name="alerts-config"),
        ]
        self._wake.set()

    def _restore(self, active: Sequence[Alert], held: Sequence[Alert], now: float) -> None:
        kinds = {rule.id: rule.kind for rule in self._rules}
        for alert, phase in [*((a, a.state) for a in active), *((a, "held") for a in held)]:
            if alert.server_id is None or phase == "resolved":
                continue
            state = RuleState(
                rule_id=alert.rule_id,
                server_id=alert.server_id,
                kind=kinds.get(alert.rule_id, "threshold"),
                phase=phase,  # type: ignore[arg-type]  # pending, firing or held, filtered above
                alert=alert,
                last_true_s=now,
            )
            server = self._states.setdefault(alert.server_id, {})
            if alert.rule_id not in server or phase != "held":
                server[alert.rule_id] = state
            self._last_seen[alert.server_id] = now
        for server_id, states in list(self._states.items()):
            self._set_states(server_id, states)
        self._active_dirty = True

    async def _refill_disk(self, now: float) -> None:
        """Disk history from the live layer's recent windows, where Redis has them."""
        try:
            async with asyncio.timeout(self._options.store_timeout_s):
                found = await self._redis.zrange(keys.SERVERS_INDEX, 0, -1)
                ids = [raw for raw in found if isinstance(raw, bytes)]
                if not ids:
                    return
                pipe = self._redis.pipeline(transaction=False)
                for raw in ids:
                    pipe.zrangebyscore(
                        keys.server_metric(raw.decode(), "disk"), now - self._options.disk_window_s, now
                    )
                windows: list[list[bytes]] = await pipe.execute()
        except _REDIS_ERRORS as exc:
            log.warning("disk history not refilled from redis", error=str(exc) or type(exc).__name__)
            return
        for raw, members in zip(ids, windows, strict=True):
            try:
                server_id = UUID(raw.decode())
            except ValueError:
                continue
            for member in members:
                time_text, _, value_text = member.decode().partition(":")
                with contextlib.suppress(ValueError):
                    self._remember_disk(server_id, float(time_text), float(value_text))

    async def close(self, timeout_s: float) -> None:
        """Stop the tasks and write what is queued, within ``timeout_s``."""
        # The listener stops by itself within its poll; cancelling redis-py's pubsub mid-read can hang.
        self._stopping = True
        self._wake.set()
        if self._tasks:
            _, late = await asyncio.wait(self._tasks, timeout=_LISTEN_POLL_S + 1.0)
            for task in late:
                task.cancel()
            for task in late:
                with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                    async with asyncio.timeout(1.0):
                        await task
        self._tasks = []
        self._pg.retry_at = self._redis_backoff.retry_at = 0.0
        try:
            async with asyncio.timeout(timeout_s):
                await self._flush()
        except TimeoutError:
            log.warning("alert changes not written at shutdown", queued=len(self._pg_changes))

    # --- the background task -----------------------------------------------------------------------------

    async def _run(self) -> None:
        while not self._stopping:
            wait_s = max(0.05, self._next_reload_s - self._clock.now())
            retry_s = [b.retry_at - self._clock.now() for b in (self._pg, self._redis_backoff) if b.retry_at]
            if retry_s:
                wait_s = max(0.05, min(wait_s, *retry_s))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(wait_s, self._options.reload_interval_s)):
                    await self._wake.wait()
            self._wake.clear()
            now = self._clock.now()
            if self._reload_now.is_set() or now >= self._next_reload_s:
                self._reload_now.clear()
                self._next_reload_s = now + self._options.reload_interval_s
                await self._reload(now)
                self._forget_stale(now)
            await self._flush()

    async def reload(self) -> None:
        """Read rules, silences and hand resolves from PostgreSQL now."""
        await self._reload(self._clock.now())

    async def _reload(self, now: float) -> None:
        active = {
            s.alert.fingerprint
            for states in self._states.values()
            for s in states.values()
            if s.phase != "held"
        }
        try:
            async with asyncio.timeout(self._options.store_timeout_s):
                rules = await list_rules(self._pool)
                silences = await list_silences(self._pool, not_ended_at=now)
                held = await held_fingerprints(self._pool, active)
        except _PG_ERRORS as exc:
            log.warning("alert rules not reloaded", error=str(exc) or type(exc).__name__)
            return
        self._rules, self._silences = rules, silences
        if held:
            self._hold(held, now)

    def _hold(self, fingerprints: set[str], now: float) -> None:
        """Alerts resolved by hand: held until their condition clears; the notifier hears they resolved."""
        notify: list[Alert] = []
        for server_id, states in self._states.items():
            for rule_id, state in list(states.items()):
                if state.phase != "held" and state.alert.fingerprint in fingerprints:
                    held = states[rule_id] = hold(state, now)
                    if state.phase == "firing":
                        notify.append(held.alert)
                        self._announce(held.alert, log_entry=False)
            self._set_states(server_id, states)
        self._active_dirty = True
        self._notify(notify)

    def _forget_stale(self, now: float) -> None:
        cutoff = now - self._options.forget_after_s
        notify: list[Alert] = []
        for server_id in [s for s, seen in self._last_seen.items() if seen < cutoff]:
            del self._last_seen[server_id]
            self._disk.pop(server_id, None)
            for state in self._states.get(server_id, {}).values():
                self._record(end(state, now), notify)
            self._set_states(server_id, {})
        self._notify(notify)

    async def _flush(self) -> None:
        now = self._clock.now()
        if now >= self._pg.retry_at and (self._pg_changes or self._log_entries):
            try:
                async with asyncio.timeout(self._options.store_timeout_s):
                    await self._write_postgres()
                self._pg.succeeded()
            except _PG_ERRORS as exc:
                self._pg.failed(exc, now)
        if now >= self._redis_backoff.retry_at and (self._messages or self._active_dirty):
            try:
                async with asyncio.timeout(self._options.store_timeout_s):
                    await self._write_redis()
                self._redis_backoff.succeeded()
            except _REDIS_ERRORS as exc:
                self._redis_backoff.failed(exc, now)

    async def _write_postgres(self) -> None:
        changes = list(self._pg_changes)
        try:
            await apply_changes(self._pool, changes)
        except _REFUSED as exc:
            # One change PostgreSQL will never take must not block the others: write them one by one.
            log.error("alert changes refused, writing one by one", error=str(exc))
            for change in changes:
                try:
                    await apply_changes(self._pool, [change])
                except _REFUSED as one:
                    log.error("alert change dropped", fingerprint=change.alert.fingerprint, error=str(one))
        for _ in changes:
            self._pg_changes.popleft()
        while self._log_entries:
            await self._log_event(self._log_entries[0])
            self._log_entries.popleft()

    async def _log_event(self, alert: Alert) -> None:
        firing = alert.state == "firing"
        detail: dict[str, object] = {
            "fingerprint": alert.fingerprint,
            "rule_id": alert.rule_id,
            "severity": alert.severity,
            "value": alert.value,
            "labels": dict(alert.labels),
        }
        level: Level = _LEVELS[alert.severity] if firing else "info"
        message = f"{'FIRING' if firing else 'RESOLVED'}: {alert.title}"
        try:
            await record_event(self._pool, level, "alerts", message, server_id=alert.server_id, detail=detail)
        except asyncpg.ForeignKeyViolationError:
            # The server's row is gone (deleted through the API): the event stands without it.
            await record_event(self._pool, level, "alerts", message, detail=detail)

    async def _write_redis(self) -> None:
        messages = list(self._messages)
        dirty = self._active_dirty
        self._active_dirty = False
        try:
            pipe = self._redis.pipeline(transaction=True)
            if dirty:
                now = self._clock.now()
                active = [
                    json.dumps(alert_json(a, muted=self.is_muted(a, now))) for a in self.active_alerts()
                ]
                pipe.delete(keys.ALERTS_ACTIVE)
                if active:
                    pipe.rpush(keys.ALERTS_ACTIVE, *active)
            channel = keys.channel(keys.EVENTS_ALERTS, self._redis)
            for message in messages:
                pipe.publish(channel, json.dumps(message))
            await pipe.execute()
        except BaseException:
            self._active_dirty = self._active_dirty or dirty
            raise
        for _ in messages:
            self._messages.popleft()

    async def _listen_config(self) -> None:
        """Reload when the API says that rules, silences or hand resolves changed."""
        delay_s = self._options.backoff_initial_s
        while not self._stopping:
            try:
                async with self._redis.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(keys.channel(keys.ALERTS_CONFIG, self._redis))
                    self.config_listener_ready.set()
                    delay_s = self._options.backoff_initial_s
                    while not self._stopping:
                        message = await pubsub.get_message(
                            ignore_subscribe_messages=True, timeout=_LISTEN_POLL_S
                        )
                        if message is not None and message.get("type") == "message":
                            self._reload_now.set()
                            self._wake.set()
                            if self._on_config_change is not None:
                                self._on_config_change()
            except _REDIS_ERRORS as exc:
                log.warning(
                    "alert config subscription lost; resubscribing", error=str(exc), retry_in_s=delay_s
                )
            finally:
                self.config_listener_ready.clear()
            if self._stopping:
                return
            await asyncio.sleep(delay_s)
            delay_s = min(delay_s * 2, self._options.backoff_max_s)
