"""``openmanager run``: the collector, the API and the dashboard in one process.

The service is the API application with the collector's context added after the stores'. Shutdown is
staged: stop accepting connections, let requests finish within ``shutdown_timeout_s``, stop the collector,
close the stores, stop embedded servers.
"""

from __future__ import annotations

import asyncio
import gc
import signal
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import structlog
from aiohttp import web
from apscheduler.triggers.interval import IntervalTrigger

from api.app import create_app
from api.bootstrap import FIRST_ADMIN, ensure_first_admin
from api.keys import REGISTRIES, SCHEDULER_STATE, STORES
from collector.alerts.engine import AlertEngine
from collector.alerts.notify.delivery import Sender
from collector.alerts.notify.metrics import NotifyMetrics
from collector.alerts.notify.notifier import Notifier
from collector.runtime import Collector
from collector.settings import Settings
from collector.storage.history_writer import HistoryWriter, WriterConfig
from collector.storage.live import LiveWriter
from collector.storage.maintenance import run_maintenance
from collector.storage.pipeline import StoragePipeline
from collector.storage.scrape_events import ScrapeEventLog
from collector.storage.servers import registered_targets

log = structlog.get_logger(__name__)

DASHBOARD_DIR = Path(__file__).resolve().parent.parent / "dashboards"
MAINTENANCE_INTERVAL_S = 300
COLLECTOR = web.AppKey("collector", Collector)
ALERT_ENGINE = web.AppKey("alert_engine", AlertEngine)


def build_service(settings: Settings, *, with_collector: bool = True) -> web.Application:
    """The API application, plus the collector when ``with_collector``."""
    app = create_app(settings, dashboard_dir=DASHBOARD_DIR)

    async def first_admin_ctx(app: web.Application) -> AsyncIterator[None]:
        password = await ensure_first_admin(app[STORES].pg)
        if password is not None:
            # Shown once, on the terminal only: never through the log pipeline.
            sys.stdout.write(
                f"\nCreated the first administrator. Log in as {FIRST_ADMIN!r} with password: {password}\n"
                "Change it after logging in; it is not shown again.\n\n"
            )
            sys.stdout.flush()
        yield

    app.cleanup_ctx.append(first_admin_ctx)
    if with_collector:

        async def collector_ctx(app: web.Application) -> AsyncIterator[None]:
            stores = app[STORES]
            collector = Collector(settings.targets, registered=lambda: registered_targets(stores.pg))
            history = HistoryWriter(
                stores.pg, WriterConfig(spool_dir=settings.data_dir / "spool" / "history")
            )
            # The notifier asks the engine whether an alert is silenced or inhibited; the engine tells the
            # notifier what fired or resolved. The notifier starts first so that nothing restored is missed.
            session = aiohttp.ClientSession()
            engine: AlertEngine | None = None
            notifier = Notifier(
                stores.pg,
                Sender(session),
                is_muted=lambda alert, now: engine is not None and engine.is_muted(alert, now),
                metrics=NotifyMetrics(collector.metrics.registry),
            )
            await notifier.start()
            engine = AlertEngine(
                stores.pg,
                stores.redis,
                on_change=notifier.put,
                on_config_change=notifier.request_reload,
                rules_file=settings.alerts.rules_file,
            )
            await engine.start()
            scrape_events = ScrapeEventLog(stores.pg)
            scrape_events.start()
            pipeline = StoragePipeline(
                collector.queue,
                LiveWriter(stores.redis),
                history,
                observers=[engine.observe, scrape_events.observe],
            )
            await pipeline.start()
            pipeline.register(collector.metrics.registry)
            try:
                await collector.start()
                collector.scheduler.add_job(
                    run_maintenance,
                    IntervalTrigger(seconds=MAINTENANCE_INTERVAL_S),
                    args=[stores.pg],
                    id="history-maintenance",
                    next_run_time=datetime.now(UTC),
                    max_instances=1,
                    coalesce=True,
                )
                app[COLLECTOR] = collector
                app[ALERT_ENGINE] = engine
                app[SCHEDULER_STATE] = lambda: {
                    **collector.state(),
                    **pipeline.health(),
                    "alerts": engine.health(),
                }
                app[REGISTRIES].append(collector.metrics.registry)
                yield
            finally:
                # Stop intake first, then drain what was scraped into the stores, within the bound.
                await collector.stop()
                await pipeline.close(settings.shutdown_timeout_s)
                await engine.close(settings.shutdown_timeout_s)
                await notifier.close(settings.shutdown_timeout_s)
                await scrape_events.close(settings.shutdown_timeout_s)
                await session.close()

        app.cleanup_ctx.append(collector_ctx)
    return app


async def serve(settings: Settings, *, with_collector: bool = True) -> None:
    """Run until SIGTERM or SIGINT; SIGHUP reloads the target file."""
    app = build_service(settings, with_collector=with_collector)
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=settings.shutdown_timeout_s)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    reloads: set[asyncio.Task[bool]] = set()

    def reload() -> None:
        if COLLECTOR in app:
            task = loop.create_task(app[COLLECTOR].reload())
            reloads.add(task)
            task.add_done_callback(reloads.discard)

    loop.add_signal_handler(signal.SIGHUP, reload)
    await runner.setup()
    try:
        site = web.TCPSite(runner, settings.listen_host, settings.listen_port, reuse_address=True)
        await site.start()
        url = f"http://{settings.listen_host}:{settings.listen_port}/"
        log.info("openmanager ready", url=url, collector=with_collector)
        has_dashboard = (DASHBOARD_DIR / "index.html").is_file()
        what = "dashboard and API" if has_dashboard else "API (no dashboard built yet)"
        sys.stdout.write(f"OpenManager is up: {what} at {url} (health: {url}api/health)\n")
        sys.stdout.flush()
        # What start-up made (modules, models, the app) lives until exit: keep it out of the collector's
        # full passes, which otherwise walk it all and stall the loop for tens of milliseconds.
        gc.freeze()
        await stop.wait()
        log.info("shutting down")
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)
        await runner.cleanup()
        log.info("stopped")
