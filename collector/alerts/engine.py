"""The alert engine: evaluates every scrape wave of the storage pipeline and persists what changed.

:meth:`AlertEngine.observe` is called by :class:`~collector.storage.pipeline.StoragePipeline` with each
wave of results and their summaries. It steps every server's rule states (:mod:`collector.alerts.state`),
calls ``on_change`` with the alerts that fired or resolved (the notifier) and queues the changes; it never
waits for a store. The engine's own task writes them to PostgreSQL (:mod:`collector.alerts.persistence`)
and Redis (:mod:`collector.alerts.publisher`), each retried with backoff while its store is away.

Rules and silences are read from PostgreSQL every ``reload_interval_s``, and at once when the API announces
a change (:mod:`collector.alerts.config_listener`). A reload also picks up alerts resolved by hand: they are
held, i.e. not fired again until their condition has cleared once.

Restart: :meth:`AlertEngine.start` seeds the rules (defaults on an empty table, the rules file upserted),
restores pending and firing alerts from PostgreSQL (a pending alert keeps its start, so its ``for`` timer
goes on; a firing one does not fire again), calls ``on_change`` with the firing ones so that a new notifier
knows them, and refills the disk history of disk-full prediction (:mod:`collector.alerts.disk_history`).

Time is the engine's :class:`~collector.alerts.model.Clock` at the moment a wave is observed (a wave is
observed a fraction of a second after its scrape), so tests drive it with a fake clock. A server not seen
for ``forget_after_s`` (removed from the targets) has its alerts ended.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import redis.asyncio as aioredis
import structlog

from collector.alerts import config_listener
from collector.alerts.alert_store import held_fingerprints, load_engine_state
from collector.alerts.config_listener import ConfigListener
from collector.alerts.disk_history import DiskHistory
from collector.alerts.evaluator import Change, Observation
from collector.alerts.model import Alert, Clock, SystemClock
from collector.alerts.persistence import PersistenceQueue
from collector.alerts.publisher import AlertPublisher
from collector.alerts.rule_store import list_rules, seed_rules
from collector.alerts.rulefile import default_rules, load_rules_file
from collector.alerts.rules import Rule
from collector.alerts.silence_store import list_silences
from collector.alerts.silences import Silence, is_silenced
from collector.alerts.state import AlertStates
from collector.alerts.store_retry import POSTGRES_ERRORS, REDIS_ERRORS, StoreRetry
from collector.backoff import Backoff
from collector.hostport import split_host_port
from collector.result import ScrapeResult, TargetInfo
from collector.summary import ServerSummary

log = structlog.get_logger(__name__)

OnChange = Callable[[Sequence[Alert]], None]
"""Called with the alerts that fired or resolved, in order."""


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
        self._options = options = options or EngineOptions()
        self._rules: list[Rule] = []
        self._silences: list[Silence] = []
        self._state = AlertStates()
        self._disk = DiskHistory(options.disk_window_s, options.disk_step_s)
        backoff = Backoff(options.backoff_initial_s, options.backoff_max_s)

        def store_retry(store: str, errors: tuple[type[Exception], ...]) -> StoreRetry:
            return StoreRetry(
                store, errors, backoff=backoff, clock=self._clock.now, timeout_s=options.store_timeout_s
            )

        self._persistence = PersistenceQueue(
            pool, store_retry("postgres", POSTGRES_ERRORS), options.max_queued_changes
        )
        self._publisher = AlertPublisher(
            redis, self._active_with_muting, store_retry("redis", REDIS_ERRORS), options.max_queued_changes
        )
        self._listener = ConfigListener(redis, self._config_changed, backoff)
        self._wake = asyncio.Event()
        self._reload_now = asyncio.Event()
        self._next_reload_s = 0.0
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    # --- the pipeline's side: synchronous and cheap ------------------------------------------------------

    def observe(self, results: Sequence[ScrapeResult], summaries: Mapping[str, ServerSummary]) -> None:
        """Evaluate one wave: ``results`` (at most one per server) and their summaries by target identity."""
        now = self._clock.now()
        notify: list[Alert] = []
        for result in results:
            target = result.target
            server_id = target.server_id
            summary = summaries.get(target.identity) if result.up else None
            if summary is not None and summary.disk is not None:
                self._disk.remember(server_id, now, summary.disk)
            observation = Observation(
                server_id=server_id,
                server=split_host_port(target.instance)[0],
                labels=server_labels(target),
                up=result.up,
                summary=summary,
                time_s=now,
                disk_history=self._disk.of(server_id),
            )
            for change in self._state.evaluate(self._rules, observation):
                self._record(change, notify)
        self._notify(notify)

    def _record(self, change: Change, notify: list[Alert]) -> None:
        """Queue one change for the stores, and for the notifier when it fired or resolved."""
        self._persistence.add_change(change)
        self._publisher.active_changed()
        if change.kind in ("firing", "resolved"):
            notify.append(change.alert)
            self._persistence.add_log_entry(change.alert)
            self._publisher.announce(change.alert, muted=self.is_muted(change.alert, self._clock.now()))
        self._wake.set()

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
        return self._state.inhibited(alert) or is_silenced(alert, self._silences, now)

    def active_alerts(self) -> list[Alert]:
        """Every pending and firing alert, firing first, then by start."""
        return self._state.active()

    def _active_with_muting(self) -> list[tuple[Alert, bool]]:
        now = self._clock.now()
        return [(alert, self.is_muted(alert, now)) for alert in self._state.active()]

    @property
    def rules(self) -> list[Rule]:
        """The rules in force."""
        return list(self._rules)

    @property
    def silences(self) -> list[Silence]:
        """The silences in force or to come."""
        return list(self._silences)

    @property
    def config_listener_ready(self) -> asyncio.Event:
        """Set while the engine is subscribed to ``alerts:config``."""
        return self._listener.ready

    def health(self) -> dict[str, object]:
        """The engine's state, for ``/api/health``."""
        postgres_error, redis_error = self._persistence.retry.error, self._publisher.retry.error
        return {
            "status": "degraded" if postgres_error or redis_error else "ok",
            "rules": len(self._rules),
            "active_alerts": self._state.active_count(),
            "queued_changes": len(self._persistence),
            "changes_dropped": self._persistence.changes_dropped,
            "postgres_error": postgres_error,
            "redis_error": redis_error,
        }

    # --- lifecycle ---------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Seed and load rules, restore state, tell ``on_change`` what fires, refill disk history, start.

        Raises :class:`~collector.config.configfile.ConfigError` when the rules file is invalid. PostgreSQL
        or Redis failing here is logged; the engine starts with the default rules and no restored state.
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
            kinds = {rule.id: rule.kind for rule in self._rules}
            self._state.restore(snapshot.active, snapshot.held, kinds, now)
            self._publisher.active_changed()
        except POSTGRES_ERRORS as exc:
            log.error("alert state not restored: postgres unavailable", error=str(exc) or type(exc).__name__)
        self._notify([a for a in self._state.active() if a.state == "firing"])
        await self._disk.refill(self._redis, now, self._options.store_timeout_s)
        self._next_reload_s = now + self._options.reload_interval_s
        self._tasks = [
            asyncio.create_task(self._run(), name="alerts-writer"),
            asyncio.create_task(self._listener.run(), name="alerts-config"),
        ]
        self._wake.set()

    async def close(self, timeout_s: float) -> None:
        """Stop the tasks and write what is queued, within ``timeout_s``."""
        self._stopping = True
        self._listener.stop()
        self._wake.set()
        if self._tasks:
            _, late = await asyncio.wait(self._tasks, timeout=config_listener.POLL_S + 1.0)
            for task in late:
                task.cancel()
            for task in late:
                with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                    async with asyncio.timeout(1.0):
                        await task
        self._tasks = []
        for retry in self._store_retries():
            retry.retry_now()
        try:
            async with asyncio.timeout(timeout_s):
                await self._flush()
        except TimeoutError:
            log.warning("alert changes not written at shutdown", queued=len(self._persistence))

    # --- the background task -----------------------------------------------------------------------------

    async def _run(self) -> None:
        while not self._stopping:
            wait_s = max(0.05, self._next_reload_s - self._clock.now())
            retry_s = [r.retry_at - self._clock.now() for r in self._store_retries() if r.retry_at]
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
        active = self._state.active_fingerprints()
        try:
            async with asyncio.timeout(self._options.store_timeout_s):
                rules = await list_rules(self._pool)
                silences = await list_silences(self._pool, not_ended_at=now)
                held = await held_fingerprints(self._pool, active)
        except POSTGRES_ERRORS as exc:
            log.warning("alert rules not reloaded", error=str(exc) or type(exc).__name__)
            return
        self._rules, self._silences = rules, silences
        if held:
            self._hold(held, now)

    def _hold(self, fingerprints: set[str], now: float) -> None:
        """Alerts resolved by hand: held until their condition clears; the notifier hears they resolved."""
        # Muted as they stood before the hold: a held down alert inhibits no more.
        at = self._clock.now()
        muted = {
            a.fingerprint: self.is_muted(a, at) for a in self._state.active() if a.fingerprint in fingerprints
        }
        resolved = self._state.hold(fingerprints, now)
        for alert in resolved:
            self._publisher.announce(alert, muted=muted[alert.fingerprint])
        self._publisher.active_changed()
        self._notify(resolved)

    def _forget_stale(self, now: float) -> None:
        notify: list[Alert] = []
        for server_id in self._state.unseen_since(now - self._options.forget_after_s):
            self._disk.forget(server_id)
            for change in self._state.ending(server_id, now):
                self._record(change, notify)
            self._state.forget(server_id)
        self._notify(notify)

    async def _flush(self) -> None:
        await self._persistence.flush()
        await self._publisher.flush()

    def _store_retries(self) -> tuple[StoreRetry, StoreRetry]:
        return self._persistence.retry, self._publisher.retry

    def _config_changed(self) -> None:
        self._reload_now.set()
        self._wake.set()
        if self._on_config_change is not None:
            self._on_config_change()
