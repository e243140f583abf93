"""Fixtures for the Prometheus-compatible API: the real application, and history written the collector's way.

Every test gets a job of its own (``job_name``): the run's database is shared by the tests, and queries
that name the job see only that test's series.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import asyncpg
import pytest
from aiohttp import web

from api.app import create_app
from api.keys import STORES
from collector.config.settings import Settings
from collector.result import ScrapeResult, SeriesKey, TargetInfo, server_id_for
from tests.api.app_client import serving
from tests.api.auth.conftest import Client
from tests.collector.storage.history_helpers import write_results

T0_MS = 1_772_445_600_000
"""2026-03-02T10:00:00Z."""
STEP_MS = 15_000
SCRAPES = 41
"""Ten minutes of scrapes, both ends included."""


def make_target(job: str, host: str) -> TargetInfo:
    """A target of ``job`` on ``host``."""
    instance = f"{host}:9100"
    labels = (("instance", instance), ("job", job))
    return TargetInfo(
        f"{job}-{host}",
        server_id_for(job, instance),
        job,
        instance,
        labels,
        f"http://{instance}/metrics",
        15,
        10,
    )


def scrape(t: TargetInfo, ts_ms: int, samples: Sequence[tuple[SeriesKey, float]]) -> ScrapeResult:
    """A successful scrape of ``samples``."""
    keys = tuple(key for key, _ in samples)
    return ScrapeResult(
        target=t,
        timestamp_ms=ts_ms,
        duration_s=0.01,
        error=None,
        error_reason=None,
        series=keys,
        series_set_id=f"set-{hash(keys)}",
        values=[value for _, value in samples],
    )


async def write_history(pool: asyncpg.Pool, results: Sequence[ScrapeResult]) -> None:
    """Write ``results`` through the collector's history write path."""
    await write_results(pool, results)


@dataclass(frozen=True)
class Fleet:
    """Two targets of one job with ten minutes of history: ``up``, ``node_load1``, ``http_requests_total``."""

    job: str
    a: TargetInfo
    b: TargetInfo

    def load(self, target: TargetInfo, k: int) -> float:
        """node_load1 of ``target`` at scrape ``k``."""
        return round(0.5 + k / 100 + (1.0 if target is self.b else 0.0), 2)

    def requests(self, target: TargetInfo, k: int, method: str) -> float:
        """http_requests_total of ``target`` at scrape ``k``: 3 a scrape (get) or 1 (post), b twice that."""
        per_scrape = (3.0 if method == "get" else 1.0) * (2 if target is self.b else 1)
        return 100.0 + per_scrape * k

    def results(self) -> list[ScrapeResult]:
        """The scrapes of both targets."""
        out = []
        for target in (self.a, self.b):
            for k in range(SCRAPES):
                samples: list[tuple[SeriesKey, float]] = [
                    (("up", target.labels), 1.0),
                    (("node_load1", target.labels), self.load(target, k)),
                ]
                for method in ("get", "post"):
                    labels = tuple(sorted((*target.labels, ("method", method))))
                    samples.append((("http_requests_total", labels), self.requests(target, k, method)))
                out.append(scrape(target, T0_MS + k * STEP_MS, samples))
        return out


@pytest.fixture
def job_name() -> str:
    return f"job{uuid.uuid4().hex[:10]}"


@pytest.fixture
def app(settings: Settings) -> web.Application:
    return create_app(settings)


@pytest.fixture
async def client(app: web.Application) -> AsyncIterator[Client]:
    async with serving(app) as test_client:
        yield test_client


@pytest.fixture
def pool(client: Client, app: web.Application) -> asyncpg.Pool:
    return app[STORES].pg


@pytest.fixture
async def fleet(pool: asyncpg.Pool, job_name: str) -> Fleet:
    written = Fleet(job_name, make_target(job_name, "a"), make_target(job_name, "b"))
    await write_history(pool, written.results())
    return written
