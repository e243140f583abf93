"""The collector's running state: the target file, the scheduler, and reloads.

``Collector`` owns the apscheduler ``AsyncIOScheduler`` and the loaded target configuration. A reload (SIGHUP)
reads and validates the target file again; an invalid file is reported and the running configuration is
kept, so a typo never stops monitoring.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from collector.configfile import ConfigError
from collector.targets import TargetsConfig, load_targets, summary

log = structlog.get_logger(__name__)


class Collector:
    """Scheduler and target configuration of one collector process."""

    def __init__(self, targets_path: Path) -> None:
        self.targets_path = targets_path
        self.config: TargetsConfig | None = None
        self.last_reload_ok: bool | None = None
        self.last_reload_at: float | None = None
        self._scheduler = AsyncIOScheduler()

    async def start(self) -> None:
        """Load the target file (an invalid one at start-up is fatal) and start the scheduler."""
        self.config = await asyncio.to_thread(load_targets, self.targets_path)
        self.last_reload_ok, self.last_reload_at = True, time.time()
        log.info("targets loaded", file=str(self.targets_path), summary=summary(self.config))
        for warning in self.config.warnings:
            log.warning("target file", problem=str(warning))
        self._scheduler.start()

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
        log.info("targets reloaded", file=str(self.targets_path), summary=summary(config))
        return True

    def state(self) -> dict[str, object]:
        """What ``/api/health`` reports about the scheduler."""
        return {
            "status": "ok" if self._scheduler.running else "stopped",
            "jobs": len(self._scheduler.get_jobs()),
            "targets_file": str(self.targets_path),
            "last_reload_ok": self.last_reload_ok,
            "last_reload_at": self.last_reload_at,
        }

    async def stop(self) -> None:
        """Stop scheduling; running jobs are not waited for here (the scrape engine drains its own)."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
