"""The collector's running parts: the scheduler, the scrape engine, the target file and its reloads.

``ScrapeService`` opens, in order, the apscheduler ``AsyncIOScheduler``, the HTTP client sessions, the result
queue and the scrape managers, and closes them in reverse. A reload (SIGHUP, or the target file changing on
disk, which is checked every few seconds) reads and validates the target file again; an invalid file is
reported and the running configuration is kept, so a typo never stops monitoring.

Servers registered through the API are read at the same times and scraped by a manager of their own, in
pools built from the ``registration`` settings (:mod:`collector.registered`), over a session that applies
the address policy when it connects (:mod:`collector.netpolicy`). The target file's jobs keep their session
and settings: their owner runs the service.
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
from aiohttp.abc import AbstractResolver
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from collector.config.api_settings import RegistrationSettings
from collector.config.configfile import ConfigError
from collector.config.targets import TargetsConfig, load_targets, summary
from collector.netpolicy import NetworkPolicy
from collector.queue import ResultQueue
from collector.registered import registered_config
from collector.scrape.fetch import new_session
from collector.scrape.manager import ScrapeManager, TargetView
from collector.scrape.metrics import ScrapeMetrics
from collector.storage.servers import RegisteredServer

RegisteredSource = Callable[[], Awaitable[Sequence[RegisteredServer]]]
"""Reads the servers registered through the API (from PostgreSQL in the service)."""

log = structlog.get_logger(__name__)

REGISTERED_POOL = "api"
"""The scrape manager pool of servers registered through the API."""


@dataclass(frozen=True)
class ScrapeServiceOptions:
    """Tunables of the collector process."""

    queue_max_results: int = 10_000
    watch_interval_s: float = 5.0
    drain_timeout_s: float = 5.0
    planned_timestamps: bool = False
    """Stamp scrapes with their planned time (collectors scraping each target twice write equal rows)."""


class ScrapeService:
    """Scheduler, scrape engine and target configuration of one collector process."""

    def __init__(
        self,
        targets_path: Path,
        options: ScrapeServiceOptions | None = None,
        metrics: ScrapeMetrics | None = None,
        registered: RegisteredSource | None = None,
        *,
        registration: RegistrationSettings | None = None,
        resolver: AbstractResolver | None = None,
    ) -> None:
        """``resolver`` replaces DNS for the registered servers' session (tests map names with it)."""
        self.targets_path = targets_path
        self._registered_source = registered
        self._registered: list[RegisteredServer] = []
        self._registration = registration or RegistrationSettings()
        self._resolver = resolver
        self.options = options or ScrapeServiceOptions()
        self.metrics = metrics or ScrapeMetrics()
        self.queue = ResultQueue(self.options.queue_max_results, self.metrics)
        self.config: TargetsConfig | None = None
        self.last_reload_ok: bool | None = None
        self.last_reload_at: float | None = None
        self._scheduler = AsyncIOScheduler(timezone="UTC")
        self._session: aiohttp.ClientSession | None = None
        self._registered_session: aiohttp.ClientSession | None = None
        self._manager: ScrapeManager | None = None
        self._registered_manager: ScrapeManager | None = None
        self._mtime: float | None = None
        self._owns: Callable[[str], bool] | None = None

    def reshard(self, owns: Callable[[str], bool] | None) -> tuple[int, int]:
        """Scrape only the targets ``owns`` accepts (None: all), in both managers; (started, stopped)."""
        self._owns = owns
        started = stopped = 0
        for manager in (self._manager, self._registered_manager):
            if manager is not None:
                more, fewer = manager.reshard(owns)
                started, stopped = started + more, stopped + fewer
        return started, stopped

    def wanted(self) -> int:
        """How many targets the configuration has, whoever scrapes them."""
        return sum(m.wanted() for m in (self._manager, self._registered_manager) if m is not None)

    @property
    def manager(self) -> ScrapeManager:
        """The scrape manager of the target file's jobs (once started)."""
        assert self._manager is not None, "collector not started"
        return self._manager

    def targets(self) -> list[TargetView]:
        """Every active target: the target file's, then the registered servers'."""
        managers = (self._manager, self._registered_manager)
        return [view for manager in managers if manager is not None for view in manager.targets()]

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
        registration = self._registration
        policy = NetworkPolicy(tuple(registration.allow_networks), tuple(registration.deny_networks))
        self._registered_session = new_session(policy=policy, resolver=self._resolver)
        self._manager = ScrapeManager(
            self._scheduler,
            session=self._session,
            queue=self.queue,
            metrics=self.metrics,
            base_dir=self.targets_path.parent,
            owns=self._owns,
            planned_timestamps=self.options.planned_timestamps,
        )
        self._registered_manager = ScrapeManager(
            self._scheduler,
            session=self._registered_session,
            queue=self.queue,
            metrics=self.metrics,
            base_dir=self.targets_path.parent,
            pool=REGISTERED_POOL,
            owns=self._owns,
            planned_timestamps=self.options.planned_timestamps,
        )
        self._scheduler.start()
        await self._refresh_registered()
        await self._manager.apply(self.config)
        await self._apply_registered(self.config)
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

    async def _apply_registered(self, config: TargetsConfig) -> None:
        if self._registered_manager is not None:
            await self._registered_manager.apply(
                registered_config(self._registered, config.global_, self._registration)
            )

    async def _watch(self) -> None:
        mtime = self._file_mtime()
        if mtime is not None and mtime != self._mtime:
            self._mtime = mtime
            await self.reload()
        elif await self._refresh_registered() and self.config is not None:
            await self._apply_registered(self.config)
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
            await self._manager.apply(config)
            await self._refresh_registered()
            await self._apply_registered(config)
        self._log_loaded("targets reloaded", config)
        return True

    def state(self) -> dict[str, object]:
        """What ``/api/health`` reports about the scheduler and the scrape engine."""
        targets = self.targets()
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
        managers = [m for m in (self._manager, self._registered_manager) if m is not None]
        await asyncio.gather(*(m.stop(self.options.drain_timeout_s) for m in managers))
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        for session in (self._session, self._registered_session):
            if session is not None:
                await session.close()
