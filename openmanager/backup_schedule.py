"""Scheduled backups in the service: once in the cluster, with retention and metrics.

The job runs on every member's scheduler at the ``backup.schedule`` times, and backs up only on the holder
of the singletons' lease (the one that runs history maintenance and the alert engine) while PostgreSQL
answers, so a cluster makes one backup per scheduled time. After each backup the newest ``backup.keep``
are kept. ``openmanager_backup_last_success_timestamp_seconds`` and ``openmanager_backup_failures_total``
on the service's ``/metrics`` let an alert catch backups that stopped.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC

import structlog
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from prometheus_client import CollectorRegistry, Counter, Gauge

from collector.config.backup_settings import Crontab, Interval
from collector.config.settings import Settings
from openmanager.backup import create_backup, prune

log = structlog.get_logger(__name__)


class BackupMetrics:
    """The scheduled backups' outcomes, in the registry given (or their own)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self.last_success = Gauge(
            "openmanager_backup_last_success_timestamp_seconds",
            "When the last scheduled backup of this process succeeded (Unix time; 0: none yet).",
            registry=self.registry,
        )
        self.failures = Counter(
            "openmanager_backup_failures_total",
            "Scheduled backups of this process that failed.",
            registry=self.registry,
        )
        self.duration = Gauge(
            "openmanager_backup_last_duration_seconds",
            "How long the last successful scheduled backup took.",
            registry=self.registry,
        )
        self.size = Gauge(
            "openmanager_backup_last_size_bytes",
            "The size of the last successful scheduled backup's files.",
            registry=self.registry,
        )


def trigger(schedule: Interval | Crontab) -> BaseTrigger:
    """The apscheduler trigger of a schedule (crontab lines in UTC)."""
    if isinstance(schedule, Interval):
        return IntervalTrigger(seconds=schedule.seconds)
    return CronTrigger.from_crontab(schedule.line, timezone=UTC)


async def scheduled_backup(
    settings: Settings,
    dsn: str,
    metrics: BackupMetrics,
    *,
    may_run: Callable[[], bool],
) -> None:
    """One scheduled round: back up and prune when ``may_run()`` (the lease is held, PostgreSQL answers);
    a failure is logged and counted, never raised into the scheduler."""
    if not may_run():
        return
    root = settings.backup.backup_dir(settings.data_dir)
    started = time.monotonic()
    try:
        path = await create_backup(settings, root, dsn=dsn)
        removed = await asyncio.to_thread(prune, root, settings.backup.keep)
        size = sum(p.stat().st_size for p in path.iterdir())
    except Exception as exc:  # any failure: counted for the alert, the next round tries again
        metrics.failures.inc()
        log.error("scheduled backup failed", error=str(exc) or type(exc).__name__)
        return
    metrics.last_success.set(time.time())
    metrics.duration.set(time.monotonic() - started)
    metrics.size.set(size)
    log.info("scheduled backup done", path=str(path), size_bytes=size, deleted=len(removed))
