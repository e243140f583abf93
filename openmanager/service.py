"""The service's roles: ``openmanager run`` (the collector, the API and the dashboard in one process),
``openmanager api`` (the API and the dashboard) and ``openmanager collector`` (scrape and write).

Each role is composed of the same parts: the API application (or, for ``collector``, the same application
with ``/api/health`` and ``/metrics`` only, on ``collector_listen``) with the collector's context added after
the stores'. Every part is closed by the context that opened it, also when a later stage of the start fails.
Shutdown is staged within one bound, ``shutdown_timeout_s``: stop accepting connections and let requests
finish (half the bound at most), stop the collector, drain into the stores, close alerting, the stores and the
embedded servers.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
import sys
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import aiohttp
import structlog
from aiohttp import web
from apscheduler.triggers.interval import IntervalTrigger

from api.app import create_app, create_probe_app
from api.bootstrap import FIRST_ADMIN, discard_stale_initial_password, ensure_first_admin
from api.httpserver import ShutdownBudget, guarded_runner, server_tls_context
from api.keys import REGISTRIES, SCHEDULER_STATE, SCRAPE_SERVICE, SHUTDOWN_BUDGET, STORES
from api.outage import STORE_ERRORS
from collector.alerts.engine import AlertEngine
from collector.alerts.model import Alert
from collector.alerts.notify.delivery import Sender, new_http_session
from collector.alerts.notify.metrics import NotifyMetrics
from collector.alerts.notify.notifier import Notifier
from collector.alerts.rulefile import load_rules_file
from collector.cluster.member import ClusterMember
from collector.cluster.waves import WaveRelay
from collector.config.settings import Settings
from collector.result import ScrapeResult
from collector.runtime import ScrapeService, ScrapeServiceOptions
from collector.storage.connections import Stores
from collector.storage.history_writer import HistoryWriter, WriterConfig
from collector.storage.live import LiveWriter
from collector.storage.maintenance import run_maintenance
from collector.storage.metadata_recorder import MetadataRecorder
from collector.storage.pipeline import StoragePipeline
from collector.storage.scrape_events import ScrapeEventLog
from collector.storage.servers import registered_targets
from collector.summary import ServerSummary
from openmanager.backup_schedule import BackupMetrics, scheduled_backup, trigger
from openmanager.ingest import ingest_ctx, open_receiver

log = structlog.get_logger(__name__)

DASHBOARD_DIR = Path(__file__).resolve().parent.parent / "dashboards"
MAINTENANCE_INTERVAL_S = 300
RETRY_START_S = 5.0


CleanupCtx = Callable[[web.Application], AsyncIterator[None]]
Role = Literal["run", "api", "collector"]
"""What a process runs: the collector (``run``, ``collector``), the API and dashboard (``run``, ``api``)."""


def serves_api(role: Role) -> bool:
    """Whether ``role`` serves the API and the dashboard (else only health and metrics)."""
    return role != "collector"


def listen_address(settings: Settings, role: Role) -> tuple[str, int]:
    """Where ``role`` listens: ``listen``, or ``collector_listen`` for the collector alone."""
    return Settings.address(settings.listen if serves_api(role) else settings.collector_listen)


def after_postgres(ctx: CleanupCtx) -> CleanupCtx:
    """``ctx`` entered once PostgreSQL answers: at once when it does at start, else in the background (retried
    while PostgreSQL fails it)."""

    async def deferred(app: web.Application) -> AsyncIterator[None]:
        stores = app[STORES]
        entered: AsyncIterator[None] | None = None

        async def enter() -> None:
            nonlocal entered
            while True:
                await stores.postgres_ready.wait()
                steps = ctx(app)
                try:
                    await anext(steps)
                except STORE_ERRORS as exc:
                    log.warning("start-up step waits for postgres", error=str(exc) or type(exc).__name__)
                    await asyncio.sleep(RETRY_START_S)
                else:
                    entered = steps
                    return

        waiting: asyncio.Task[None] | None = None
        if stores.postgres_ready.is_set():
            steps = ctx(app)
            await anext(steps)
            entered = steps
        else:
            waiting = asyncio.create_task(enter(), name="after-postgres")
        yield
        if waiting is not None:
            waiting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await waiting
        if entered is not None:
            with contextlib.suppress(StopAsyncIteration):
                await anext(entered)

    return deferred


def build_service(settings: Settings, *, role: Role = "run") -> web.Application:
    """The application of ``role``: the API (or health and metrics alone), plus the collector but for
    ``api``."""
    if serves_api(role):
        app = create_app(settings, dashboard_dir=DASHBOARD_DIR, role=role)
    else:
        app = create_probe_app(settings, role=role)
    app[SHUTDOWN_BUDGET] = ShutdownBudget(settings.shutdown_timeout_s)

    async def first_admin_ctx(app: web.Application) -> AsyncIterator[None]:
        # The password itself goes only into a file of mode 0600: standard output ends in the journal.
        password_file = await ensure_first_admin(app[STORES].pg, settings.data_dir)
        if password_file is None:
            await discard_stale_initial_password(app[STORES].pg, settings.data_dir)
        else:
            log.warning(
                "created the first administrator", username=FIRST_ADMIN, password_file=str(password_file)
            )
            sys.stdout.write(
                f"\nCreated the first administrator. Log in as {FIRST_ADMIN!r} with the password in "
                f"{password_file} (readable by this user only); you will be asked to choose a new one.\n\n"
            )
            sys.stdout.flush()
        yield

    if serves_api(role):
        # Whoever serves the login makes the first administrator.
        app.cleanup_ctx.append(after_postgres(first_admin_ctx))
    if role == "api":
        # No collector here: pushes get a pipeline of their own (openmanager/ingest.py).
        app.cleanup_ctx.append(ingest_ctx(settings, listen_address(settings, role)[1]))
    if role != "api":

        async def collector_ctx(app: web.Application) -> AsyncIterator[None]:
            # Each part's close is registered as soon as it is made, so a start that fails at any stage
            # closes what was made before it; closes run in reverse: leave the cluster (its targets go to
            # the others at their next heartbeat), stop intake (the collector, the receiver), drain the
            # pipeline into the stores, then the relay, alerting, the event log, the session. Each gets
            # what is left of the one shutdown bound.
            stores = app[STORES]
            budget = app[SHUTDOWN_BUDGET]
            async with contextlib.AsyncExitStack() as stack:
                session = new_http_session()
                stack.push_async_callback(session.close)
                collector = ScrapeService(
                    settings.targets,
                    ScrapeServiceOptions(planned_timestamps=settings.cluster.replication_factor > 1),
                    registered=lambda: registered_targets(stores.pg),
                    registration=settings.registration,
                )
                member = ClusterMember(
                    stores.redis,
                    collector,
                    settings.cluster,
                    listen_port=listen_address(settings, role)[1],
                    role=role,
                )
                history = HistoryWriter(
                    stores.pg, WriterConfig(spool_dir=settings.data_dir / "spool" / "history")
                )
                scrape_events = ScrapeEventLog(stores.pg)
                scrape_events.start()
                stack.push_async_callback(lambda: scrape_events.close(budget.remaining_s()))
                metadata = MetadataRecorder(stores.pg)
                metadata.start()
                stack.push_async_callback(lambda: metadata.close(budget.remaining_s()))
                alerting = Alerting(stores, session, collector, settings)
                stack.push_async_callback(lambda: alerting.close(budget.remaining_s()))
                # The alert engine runs on the lease holder only; the other members relay their waves to it.
                relay = WaveRelay(stores.redis, lambda: member.lease.held, alerting.observe)
                await relay.start()
                stack.push_async_callback(lambda: budget.within(relay.close()))
                pipeline = StoragePipeline(
                    collector.queue,
                    LiveWriter(stores.redis),
                    history,
                    observers=[relay.observe, scrape_events.observe, metadata.observe],
                )
                stack.push_async_callback(lambda: pipeline.close(budget.remaining_s()))
                await pipeline.start()
                pipeline.register(collector.metrics.registry)
                member.lease.on_taken = alerting.start_soon
                if serves_api(role):
                    # Pushed samples join the scraped ones in the collector's queue: one write path.
                    await open_receiver(app, stack, settings, collector.queue, collector.metrics.registry)
                stack.push_async_callback(lambda: budget.within(collector.stop()))
                stack.push_async_callback(lambda: budget.within(member.close()))
                # Membership first: the collector's first targets are this member's share, not the fleet.
                await member.start()
                await collector.start()
                collector.scheduler.add_job(
                    maintain_history,
                    IntervalTrigger(seconds=MAINTENANCE_INTERVAL_S),
                    args=[stores, member],
                    id="history-maintenance",
                    next_run_time=datetime.now(UTC),
                    max_instances=1,
                    coalesce=True,
                )
                schedule = settings.backup.parsed_schedule
                if schedule is not None:
                    collector.scheduler.add_job(
                        scheduled_backup,
                        trigger(schedule),
                        args=[settings, stores.postgres_dsn, BackupMetrics(collector.metrics.registry)],
                        kwargs={"may_run": lambda: stores.postgres_ready.is_set() and member.lease.held},
                        id="backup",
                        max_instances=1,
                        coalesce=True,
                    )
                app[SCRAPE_SERVICE] = collector
                app[SCHEDULER_STATE] = lambda: {
                    **collector.state(),
                    **pipeline.health(),
                    "alerts": alerting.health(),
                    "cluster": member.health(),
                }
                app[REGISTRIES].append(collector.metrics.registry)
                yield

        app.cleanup_ctx.append(collector_ctx)
    return app


class Alerting:
    """The alert engine and the notifier it feeds, started once this process holds the singletons' lease
    (:mod:`collector.cluster.member`) and PostgreSQL answers; the other members relay their waves to it
    (:mod:`collector.cluster.waves`).

    Both restore their state from PostgreSQL (firing alerts, what was already notified): started without it,
    a restart during an outage would notify again what had been sent. Until they run, scrape waves are not
    evaluated; scraping and history go on regardless.
    """

    def __init__(
        self, stores: Stores, session: aiohttp.ClientSession, collector: ScrapeService, settings: Settings
    ) -> None:
        self._stores = stores
        # The notifier asks the engine whether an alert is silenced or inhibited; the engine tells the
        # notifier what fired or resolved. The notifier starts first so that nothing restored is missed.
        self.notifier = Notifier(
            stores.pg,
            Sender(session),
            is_muted=self._is_muted,
            metrics=NotifyMetrics(collector.metrics.registry),
        )
        self.engine = AlertEngine(
            stores.pg,
            stores.redis,
            on_change=self.notifier.put,
            on_config_change=self.notifier.request_reload,
            rules_file=settings.alerts.rules_file,
        )
        self.running = False
        self._starting: asyncio.Task[None] | None = None
        self._failure: str | None = None

    def _is_muted(self, alert: Alert, now: float) -> bool:
        # A method, not the engine's: the engine is made after the notifier that asks it.
        return self.engine.is_muted(alert, now)

    def start_soon(self) -> None:
        """Start in the background (once): when this process takes the singletons' lease."""
        if self._starting is None and not self.running:
            if not self._stores.postgres_ready.is_set():
                log.warning("alerting waits for postgres")
            self._starting = asyncio.get_running_loop().create_task(
                self._start_when_ready(), name="alerting-start"
            )

    async def _start(self) -> None:
        await self.notifier.start()
        try:
            await self.engine.start()
        except BaseException:
            # The notifier's ticker is running: a failed or cancelled engine start stops it, else a retry
            # starts a second ticker and a close (which sees no running engine) leaves the first behind.
            await self.notifier.close(0)
            raise
        self.running = True

    async def _start_when_ready(self) -> None:
        while True:
            await self._stores.postgres_ready.wait()
            try:
                await self._start()
            except STORE_ERRORS as exc:
                log.warning(
                    "alerting not started: postgres unavailable", error=str(exc) or type(exc).__name__
                )
                await asyncio.sleep(RETRY_START_S)
            except Exception as exc:  # a rules file broken since start: alerting stays off, and says why
                self._failure = str(exc) or type(exc).__name__
                log.error("alerting not started", error=self._failure)
                return
            else:
                log.info("alerting started")
                return

    def observe(self, results: Sequence[ScrapeResult], summaries: Mapping[str, ServerSummary]) -> None:
        """Evaluate a scrape wave once the engine runs."""
        if self.running:
            self.engine.observe(results, summaries)

    def health(self) -> dict[str, object]:
        """The engine's health, that it waits for PostgreSQL, or that another member runs it."""
        if self.running:
            return self.engine.health()
        if self._starting is None:
            return {"status": "standby", "runs_on": "the holder of the singletons lease"}
        if self._failure is not None:
            return {"status": "error", "error": self._failure}
        return {"status": "waiting", "waiting_for": "postgres"}

    async def close(self, timeout_s: float) -> None:
        """Stop a start still waiting; close the engine, then the notifier, within ``timeout_s`` together."""
        budget = ShutdownBudget(timeout_s)
        if self._starting is not None:
            self._starting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._starting
        if self.running:
            await self.engine.close(budget.remaining_s())
            await self.notifier.close(budget.remaining_s())


async def maintain_history(stores: Stores, member: ClusterMember) -> None:
    """Run history maintenance while PostgreSQL answers and this member holds the singletons' lease; skip a
    round (one log line) while PostgreSQL does not answer."""
    if not stores.postgres_ready.is_set() or not member.lease.held:
        return
    try:
        await run_maintenance(stores.pg)
    except STORE_ERRORS as exc:
        log.warning("history maintenance skipped: postgres unavailable", error=str(exc) or type(exc).__name__)


def _serving(role: Role) -> str:
    if not serves_api(role):
        return "the collector (health and metrics only)"
    return "dashboard and API" if (DASHBOARD_DIR / "index.html").is_file() else "API (no dashboard built yet)"


async def serve(settings: Settings, *, role: Role = "run") -> None:
    """Run ``role`` until SIGTERM or SIGINT; SIGHUP reloads the target file.

    Whatever start-up made is closed on the way out, also when a stage of it fails; the shutdown, HTTP drain
    included, takes ``shutdown_timeout_s`` at most.
    """
    tls = server_tls_context(settings.tls, settings.source) if settings.tls.enabled else None
    if role != "api" and settings.alerts.rules_file is not None:
        # Read now so that a broken rules file stops the start with its problems, on every member, rather
        # than leave alerting off on whichever member takes the lease later.
        load_rules_file(settings.alerts.rules_file)
    app = build_service(settings, role=role)
    host, port = listen_address(settings, role)
    budget = app[SHUTDOWN_BUDGET]
    runner = guarded_runner(
        app,
        settings.http,
        handle_signals=False,
        # Requests get half the bound to finish; the collector and the stores have the rest.
        shutdown_timeout=settings.shutdown_timeout_s / 2,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    reloads: set[asyncio.Task[bool]] = set()

    def reload() -> None:
        if SCRAPE_SERVICE in app:
            task = loop.create_task(app[SCRAPE_SERVICE].reload())
            reloads.add(task)
            task.add_done_callback(reloads.discard)

    loop.add_signal_handler(signal.SIGHUP, reload)
    try:
        await runner.setup()
        site = web.TCPSite(runner, host, port, reuse_address=True, ssl_context=tls)
        await site.start()
        scheme = "https" if tls is not None else "http"
        url = f"{scheme}://{host}:{port}/"
        log.info("openmanager ready", url=url, role=role)
        sys.stdout.write(f"OpenManager is up: {_serving(role)} at {url} (health: {url}api/health)\n")
        sys.stdout.flush()
        # What start-up made (modules, models, the app) lives until exit: keep it out of the collector's
        # full passes, which otherwise walk it all and stall the loop for tens of milliseconds.
        gc.freeze()
        await stop.wait()
        log.info("shutting down")
    finally:
        budget.start()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)
        for task in reloads:
            task.cancel()
        # After a failed start too: aiohttp then closes the contexts that were entered.
        await runner.cleanup()
        log.info("stopped")
