"""Scheduling scrapes: each target at a fixed phase of its interval, through apscheduler.

The manager turns a target configuration into running scrape loops. Targets are identified by a stable hash
(``Target.identity``), so applying a new configuration is a diff: new targets start, gone ones stop, and
unchanged ones keep their loop, their caches and their phase. The phase offset within the interval comes
from the same hash, which spreads a fleet's scrapes evenly and keeps each target's rhythm across restarts.

Phases are rounded to :data:`SLOT_S`, and one scheduler job per interval and slot starts the scrapes of
every target in it: a fleet of 1,000 targets every 15 s wakes the scheduler 10 times a second instead of
67, which matters because each wake-up of apscheduler costs more than a small scrape. A job starts its
scrapes as tasks and returns, so a slow target never holds back the others in its slot. A scrape that would
start while the previous one of the same target still runs is skipped, and a slot the scheduler is late for
by more than the grace time is skipped rather than piled up; both are counted per target.

The collector runs one manager per source of targets, each with its own HTTP session: the target file's, and
the pools of servers registered through the API (:mod:`collector.registered`). ``pool`` keeps their
scheduler jobs apart, so that a job name used by both never mixes their targets or settings.

Collectors sharing a fleet (:mod:`collector.cluster`) each run only the targets they own: ``owns`` filters
the wanted targets, and :meth:`ScrapeManager.reshard` applies a membership change as the same diff. As the
phase comes from the identity and absolute time, a target that moves keeps its rhythm on its new owner.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import math
import ssl
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import structlog
from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from collector.config.scrape_job import ScrapeJob
from collector.config.targets import TargetsConfig
from collector.discovery import Target, TargetGroup, build_targets, discover, merge_discovered
from collector.queue import ResultQueue
from collector.result import ScrapeResult
from collector.scrape.loop import ScrapeLoop, TargetState, drain
from collector.scrape.metrics import ScrapeMetrics
from collector.scrape.spec import fetch_spec, ssl_context

log = structlog.get_logger(__name__)

_JOB_PREFIX = "scrape:"
_SD_PREFIX = "file_sd:"

SLOT_S = 0.1
"""The granularity of scrape phases: targets whose phase falls in the same slot share a scheduler job."""


def phase_offset_s(identity: str, interval_s: float) -> float:
    """Where in each interval the target is scraped: a stable function of its identity."""
    digest = hashlib.sha256(identity.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 * interval_s


def phase_slot(identity: str, interval_s: float) -> int:
    """The slot of the target's phase: its phase rounded down to :data:`SLOT_S`."""
    return int(phase_offset_s(identity, interval_s) / SLOT_S)


def first_run_at(slot: int, interval_s: float, now: float) -> float:
    """The first planned time of ``slot`` at or after ``now``."""
    base = math.floor(now / interval_s) * interval_s + slot * SLOT_S
    return base if base >= now else base + interval_s


@dataclass(frozen=True)
class TargetView:
    """A target as the API lists it."""

    job: str
    url: str
    labels: tuple[tuple[str, str], ...]
    identity: str
    interval_s: float
    state: TargetState


class ScrapeManager:
    """Owns the scrape loops of every target and their scheduler jobs."""

    def __init__(
        self,
        scheduler: AsyncIOScheduler,
        *,
        session: aiohttp.ClientSession,
        queue: ResultQueue,
        metrics: ScrapeMetrics,
        base_dir: Path,
        clock: Callable[[], float] = time.time,
        pool: str = "",
        owns: Callable[[str], bool] | None = None,
        planned_timestamps: bool = False,
    ) -> None:
        """``owns`` says whether this collector scrapes a target (by identity); None: every target.
        ``planned_timestamps`` stamps scrapes with their planned time (collectors replicating a target)."""
        self._planned_timestamps = planned_timestamps
        self._scheduler = scheduler
        self._owns = owns
        self._wanted: dict[str, Target] = {}
        self._pool = pool
        self._job_prefix = f"{_JOB_PREFIX}{pool}:" if pool else _JOB_PREFIX
        self._sd_prefix = f"{_SD_PREFIX}{pool}:" if pool else _SD_PREFIX
        self._session = session
        self._queue = queue
        self._metrics = metrics
        self._base_dir = base_dir
        self._clock = clock
        self._loops: dict[str, ScrapeLoop] = {}
        self._jobs: dict[str, ScrapeJob] = {}
        self._groups: dict[str, dict[str, tuple[TargetGroup, ...]]] = {}
        self._contexts: dict[str, ssl.SSLContext | None] = {}
        self._slots: dict[str, _Slot] = {}
        scheduler.add_listener(self._on_skipped, EVENT_JOB_MAX_INSTANCES | EVENT_JOB_MISSED)

    def _on_skipped(self, event: JobEvent) -> None:
        """Count the scrapes of a slot the scheduler skipped because it was too late to start it."""
        slot = self._slots.get(event.job_id)
        if slot is not None:
            for loop in slot.loops.values():
                self._metrics.skipped.labels(loop.job.job_name).inc()

    def targets(self) -> list[TargetView]:
        """Every active target and its last scrape outcome."""
        return [
            TargetView(
                loop.job.job_name,
                loop.target.url,
                loop.target.labels,
                identity,
                loop.target.scrape_interval_s,
                loop.state,
            )
            for identity, loop in sorted(
                self._loops.items(), key=lambda item: (item[1].job.job_name, item[0])
            )
        ]

    def loop(self, identity: str) -> ScrapeLoop | None:
        """The loop of one target, by identity."""
        return self._loops.get(identity)

    async def apply(self, config: TargetsConfig) -> None:
        """Make the running targets match ``config`` (discovering file_sd targets now)."""
        jobs = {job.job_name: job for job in config.jobs}
        for name in set(self._jobs) - set(jobs):
            self._groups.pop(name, None)
            self._metrics.set_targets(self._pool, name, 0)
            if self._scheduler.get_job(self._sd_prefix + name):
                self._scheduler.remove_job(self._sd_prefix + name)
        self._jobs = jobs
        self._contexts = {
            name: ssl_context(job.tls_config) if job.tls_config else None for name, job in jobs.items()
        }
        wanted: dict[str, Target] = {}
        for job in jobs.values():
            wanted.update(await self._discover(job))
            self._schedule_file_sd(job)
        self._sync(wanted)

    async def _discover(self, job: ScrapeJob) -> dict[str, Target]:
        results = await asyncio.to_thread(discover, job, self._base_dir)
        for result in results:
            for problem in result.problems:
                log.warning("target discovery", job=job.job_name, problem=str(problem))
        groups = merge_discovered(self._groups.get(job.job_name, {}), results)
        self._groups[job.job_name] = groups
        targets, dropped = build_targets(job, [g for source in groups.values() for g in source])
        for target in dropped:
            if target.is_error:
                log.warning("target dropped", job=job.job_name, reason=target.reason)
        self._metrics.set_targets(self._pool, job.job_name, len(targets))
        return {target.identity: target for target in targets}

    def _schedule_file_sd(self, job: ScrapeJob) -> None:
        job_id = self._sd_prefix + job.job_name
        if not job.file_sd_configs:
            if self._scheduler.get_job(job_id):
                self._scheduler.remove_job(job_id)
            return
        refresh_s = min(sd.refresh_interval_s for sd in job.file_sd_configs)
        self._scheduler.add_job(
            self._refresh_job,
            IntervalTrigger(seconds=refresh_s),
            args=[job.job_name],
            id=job_id,
            replace_existing=True,
            max_instances=1,
            coalesce=True,
        )

    async def _refresh_job(self, job_name: str) -> None:
        """Re-read one job's file_sd files and apply the difference to that job's targets."""
        job = self._jobs.get(job_name)
        if job is None:
            return
        fresh = await self._discover(job)
        others = {i: target for i, target in self._wanted.items() if target.job_name != job_name}
        self._sync({**others, **fresh})

    def reshard(self, owns: Callable[[str], bool] | None) -> tuple[int, int]:
        """Scrape the targets ``owns`` gives this collector from now on; (loops started, loops stopped)."""
        self._owns = owns
        before = set(self._loops)
        self._sync(self._wanted)
        after = set(self._loops)
        return len(after - before), len(before - after)

    def wanted(self) -> int:
        """How many targets the configuration has, owned by this collector or not."""
        return len(self._wanted)

    def _sync(self, wanted: dict[str, Target]) -> None:
        self._wanted = wanted
        if self._owns is not None:
            owns = self._owns
            wanted = {identity: target for identity, target in wanted.items() if owns(identity)}
        for identity in set(self._loops) - set(wanted):
            self._stop_loop(identity)
        for identity, target in wanted.items():
            loop = self._loops.get(identity)
            job = self._jobs[target.job_name]
            if loop is not None and _how_scraped(loop.job) == _how_scraped(job):
                continue
            if loop is not None:
                self._stop_loop(identity)
            self._start_loop(target, job)

    def _start_loop(self, target: Target, job: ScrapeJob) -> None:
        spec = fetch_spec(target, job, self._contexts.get(job.job_name))
        loop = ScrapeLoop(
            target,
            job,
            session=self._session,
            spec=spec,
            queue=self._queue,
            metrics=self._metrics,
            clock=self._clock,
        )
        self._loops[target.identity] = loop
        interval = target.scrape_interval_s
        number = phase_slot(target.identity, interval)
        job_id = self._slot_job_id(target)
        slot = self._slots.get(job_id)
        if slot is None:
            start = first_run_at(number, interval, self._clock())
            slot = _Slot(
                job_id,
                start,
                interval,
                self._metrics,
                self._clock,
                planned_timestamps=self._planned_timestamps,
            )
            self._slots[job_id] = slot
            self._scheduler.add_job(
                slot.run,
                IntervalTrigger(seconds=interval, start_date=datetime.fromtimestamp(start, UTC)),
                id=job_id,
                name=f"scrapes every {interval:g}s at +{number * SLOT_S:.1f}s",
                replace_existing=True,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=max(1, int(interval / 2)),
            )
        slot.loops[target.identity] = loop

    def _stop_loop(self, identity: str) -> None:
        loop = self._loops.pop(identity, None)
        if loop is None:
            return
        loop.stop()
        slot = self._slots.get(self._slot_job_id(loop.target))
        if slot is None:
            return
        slot.loops.pop(identity, None)
        if not slot.loops:
            del self._slots[slot.job_id]
            if self._scheduler.get_job(slot.job_id):
                self._scheduler.remove_job(slot.job_id)

    async def stop(self, drain_timeout_s: float) -> None:
        """Stop scheduling scrapes and let in-flight ones finish within ``drain_timeout_s``."""
        loops = list(self._loops.values())
        for identity in list(self._loops):
            self._stop_loop(identity)
        for name in list(self._jobs):
            if self._scheduler.get_job(self._sd_prefix + name):
                self._scheduler.remove_job(self._sd_prefix + name)
        await drain(loops, drain_timeout_s)

    def identities(self) -> Iterable[str]:
        """Identities of the running targets."""
        return self._loops.keys()

    def _slot_job_id(self, target: Target) -> str:
        """The scheduler job of the target's phase slot."""
        interval = target.scrape_interval_s
        return f"{self._job_prefix}{interval:g}s:{phase_slot(target.identity, interval)}"


def _how_scraped(job: ScrapeJob) -> ScrapeJob:
    """The parts of a job that affect how each of its targets is scraped (not which targets it has)."""
    return dataclasses.replace(job, static_configs=(), file_sd_configs=())


class _Slot:
    """The scheduler's job for the targets of one phase slot: starts each one's scrape as a task."""

    def __init__(
        self,
        job_id: str,
        first_s: float,
        interval_s: float,
        metrics: ScrapeMetrics,
        clock: Callable[[], float],
        *,
        planned_timestamps: bool = False,
    ) -> None:
        self.job_id = job_id
        self._planned_timestamps = planned_timestamps
        self.loops: dict[str, ScrapeLoop] = {}
        self._first_s = first_s
        self._interval_s = interval_s
        self._metrics = metrics
        self._clock = clock
        self._tasks: set[asyncio.Task[ScrapeResult | None]] = set()

    async def run(self) -> None:
        now = self._clock()
        planned = (
            self._first_s + max(0, math.floor((now - self._first_s) / self._interval_s)) * self._interval_s
        )
        lag = max(0.0, now - planned)
        stamp = planned if self._planned_timestamps else None
        for loop in self.loops.values():
            self._metrics.start_lag.observe(lag)
            task = asyncio.create_task(loop.scrape(stamp), name=f"scrape {loop.target.url}")
            self._tasks.add(task)
            task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[ScrapeResult | None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("scrape failed unexpectedly", task=task.get_name(), exc_info=task.exception())
