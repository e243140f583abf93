"""The collector's running parts: the scheduler, the scrape engine, the target file and its reloads.

``Collector`` opens, in order, the apscheduler ``AsyncIOScheduler``, the shared HTTP client session, the
result queue and the scrape manager, and closes them in reverse. A reload (SIGHUP, or the target file
changing on disk, which is checked every few seconds) reads and validates the target file again; an invalid
file is reported and the running configuration is kept, so a typo never stops monitoring. Servers
registered through the API are read at the same times and scraped beside the file's targets
(:mod:`collector.registered`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import asyncpg
import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from collector.configfile import ConfigError
from collector.registered import with_registered
from collector.scrape.fetch import new_session
from collector.scrape.manager import ScrapeManager
from collector.scrape.metrics import ScrapeMetrics
from collector.scrape.queue import ResultQueue
from collector.storage.servers import RegisteredServer
from collector.targets import TargetsConfig, load_targets, summary

RegisteredSource = Callable[[], Awaitable[Sequence[RegisteredServer]]]
"""Reads the servers registered through the API (from PostgreSQL in the service)."""

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class CollectorOptions:
    """Tunables of the collector process."""

    queue_max_results: int = 10_000
    watch_interval_s: float = 5.0
    drain_timeout_s: float = 5.0


class Collector:
    """Scheduler, scrape engine and target configuration of one collector process."""

    def __init__(
        self,
        targets_path: Path,
        options: CollectorOptions | None = None,
        metrics: ScrapeMetrics | None = None,
        registered: RegisteredSource | None = None,
    ) -> None:
        self.targets_path = targets_path
        self._registered_source = registered
        self._registered: list[RegisteredServer] = []
        self.options = options or CollectorOptions()
        self.metrics = metrics or ScrapeMetrics()
        self.queue = ResultQueue(self.options.queue_max_results, self.metrics)
        self.config: TargetsConfig | None = None
        self.last_reload_ok: bool | None = None
        self.last_reload_at: float | None = None
        self._scheduler = AsyncIOScheduler(timezone="UTC")
        self._session: aiohttp.ClientSession | None = None
        self._manager: ScrapeManager | None = None
        self._mtime: float | None = None

    @property
    def manager(self) -> ScrapeManager:
        """The scrape manager (once started)."""
        assert self._manager is not None, "collector not started"
        return self._manager

    @property
    def scheduler(self) -> AsyncIOScheduler:
        """The scheduler shared by scrapes and maintenance jobs."""
        return self._scheduler

    async def start(self) -> None:
        """Load the target file (an invalid one at start-up is fatal), start scheduling scrapes."""
        self.config = await asyncio.to_thread(load_targets, self.targets_path)
        self._mtime = self._file_mtime()
        self.last_reload_ok, self.last_reload_at = True, time.time()
        self._log_loaded("targets loaded", self.config)
        self._session = new_session()
        self._manager = ScrapeManager(
            self._scheduler,
            session=self._session,
            queue=self.queue,
            metrics=self.metrics,
            base_dir=self.targets_path.parent,
        )
        self._scheduler.start()
        await self._refresh_registered()
        await self._manager.apply(with_registered(self.config, self._registered))
        self._scheduler.add_job(
            self._watch,
            IntervalTrigger(seconds=self.options.watch_interval_s),
            id="targets-file-watch",
            max_instances=1,
            coalesce=True,
        )

    def _file_mtime(self) -> float | None:
        try:
            return self.targets_path.stat().st_mtime
        except OSError:
            return None

    async def _refresh_registered(self) -> bool:
        """Read the servers registered through the API; True when they changed.

        While PostgreSQL is away the last list read stays in force.
        """
        if self._registered_source is None:
            return False
        try:
            servers = list(await self._registered_source())
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("registered servers not readable, keeping the last list", error=str(exc))
            return False
        changed = servers != self._registered
        self._registered = servers
        return changed

    async def _watch(self) -> None:
        mtime = self._file_mtime()
        if mtime is not None and mtime != self._mtime:
            self._mtime = mtime
            await self.reload()
        elif await self._refresh_registered() and self.config is not None and self._manager is not None:
            await self._manager.apply(with_registered(self.config, self._registered))
            log.info("registered servers changed", servers=len(self._registered))

    def _log_loaded(self, event: str, config: TargetsConfig) -> None:
        log.info(event, file=str(self.targets_path), summary=summary(config))
        for warning in config.warnings:
            log.warning("target file", problem=str(warning))

    async def reload(self) -> bool:
        """Read the target file again; keep the running configuration when the new one is invalid."""
        try:
            config = await asyncio.to_thread(load_targets, self.targets_path)
        except ConfigError as exc:
            self.last_reload_ok, self.last_reload_at = False, time.time()
            log.error(
                "target file invalid, keeping the running configuration",
                problems=[str(p) for p in exc.problems],
            )
            return False
        self.config = config
        self.last_reload_ok, self.last_reload_at = True, time.time()
        if self._manager is not None:
            await self._refresh_registered()
            await self._manager.apply(with_registered(config, self._registered))
        self._log_loaded("targets reloaded", config)
        return True

    def state(self) -> dict[str, object]:
        """What ``/api/health`` reports about the scheduler and the scrape engine."""
        targets = self._manager.targets() if self._manager is not None else []
        return {
            "status": "ok" if self._scheduler.running else "stopped",
            "jobs": len(self._scheduler.get_jobs()) if self._scheduler.running else 0,
            "targets": len(targets),
            "targets_up": sum(t.state.health == "up" for t in targets),
            "queue_depth": len(self.queue),
            "targets_file": str(self.targets_path),
            "last_reload_ok": self.last_reload_ok,
            "last_reload_at": self.last_reload_at,
        }

    async def stop(self) -> None:
        """Stop intake (no new scrapes), let running scrapes finish within the bound, close the session."""
        if self._manager is not None:
            await self._manager.stop(self.options.drain_timeout_s)
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        if self._session is not None:
            await self._session.close()
