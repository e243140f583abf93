"""Scheduling: phase offsets, reload diffs that keep phase, file_sd refresh, no overlapping scrapes."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from collector.config.targets import parse_targets
from collector.queue import ResultQueue
from collector.scrape import manager as manager_module
from collector.scrape.fetch import new_session
from collector.scrape.manager import SLOT_S, ScrapeManager, first_run_at, phase_offset_s, phase_slot
from collector.scrape.metrics import ScrapeMetrics


@pytest.mark.parametrize("interval_s", [1.0, 15.0, 60.0])
def test_phase_offset_is_stable_and_inside_the_interval(interval_s: float) -> None:
    offsets = [phase_offset_s(f"target-{i}", interval_s) for i in range(200)]
    assert all(0 <= o < interval_s for o in offsets)
    assert offsets == [phase_offset_s(f"target-{i}", interval_s) for i in range(200)]
    # Spread: no quarter of the interval holds more than half of the targets.
    quarters = [sum(q * interval_s / 4 <= o < (q + 1) * interval_s / 4 for o in offsets) for q in range(4)]
    assert max(quarters) < 100


def test_first_run_is_on_the_targets_grid_and_not_in_the_past() -> None:
    now = 1_000_000.3
    slot = phase_slot("abc", 15.0)
    assert 0 <= phase_offset_s("abc", 15.0) - slot * SLOT_S < SLOT_S
    start = first_run_at(slot, 15.0, now)
    assert now <= start < now + 15.0
    assert (start - slot * SLOT_S) % 15.0 == pytest.approx(0.0, abs=1e-6)


class Fleet:
    """Loopback targets; each handler can be made slow."""

    def __init__(self) -> None:
        self.delay_s = 0.0
        self.in_flight = 0
        self.max_in_flight = 0
        self.hits = 0

    async def handle(self, _: web.Request) -> web.Response:
        self.hits += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay_s)
        finally:
            self.in_flight -= 1
        return web.Response(text="# TYPE up_test gauge\nup_test 1\n")


@pytest.fixture
async def fleet() -> AsyncIterator[tuple[Fleet, list[str]]]:
    state = Fleet()
    servers = []
    for _ in range(3):
        app = web.Application()
        app.router.add_get("/metrics", state.handle)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
    yield state, [f"127.0.0.1:{s.port}" for s in servers]
    for server in servers:
        await server.close()


@pytest.fixture
async def parts() -> AsyncIterator[
    tuple[AsyncIOScheduler, aiohttp.ClientSession, ResultQueue, ScrapeMetrics]
]:
    scheduler = AsyncIOScheduler(timezone="UTC")
    scheduler.start()
    metrics = ScrapeMetrics()
    async with new_session() as session:
        yield scheduler, session, ResultQueue(1000, metrics), metrics
    scheduler.shutdown(wait=False)


def _config(addresses: list[str], tmp_path: Path, interval: str = "1s", extra: str = "") -> str:
    targets = ", ".join(f"'{a}'" for a in addresses)
    return (
        f"global:\n  scrape_interval: {interval}\n  scrape_timeout: {interval}\n"
        f"scrape_configs:\n  - job_name: node\n{extra}    static_configs:\n      - targets: [{targets}]\n"
    )


async def test_reload_is_a_diff_that_keeps_unchanged_targets_and_their_phase(
    fleet: tuple[Fleet, list[str]],
    parts: tuple[AsyncIOScheduler, aiohttp.ClientSession, ResultQueue, ScrapeMetrics],
    tmp_path: Path,
) -> None:
    scheduler, session, queue, metrics = parts
    _, addresses = fleet
    manager = ScrapeManager(scheduler, session=session, queue=queue, metrics=metrics, base_dir=tmp_path)
    await manager.apply(parse_targets(_config(addresses[:2], tmp_path, "15s"), "t.yaml", tmp_path))
    before = {t.identity: manager.loop(t.identity) for t in manager.targets()}
    runs = {job.id: job.next_run_time for job in scheduler.get_jobs()}
    assert len(before) == 2

    await manager.apply(parse_targets(_config(addresses[1:], tmp_path, "15s"), "t.yaml", tmp_path))
    after = {t.identity: manager.loop(t.identity) for t in manager.targets()}
    kept = set(before) & set(after)
    assert len(kept) == 1 and len(after) == 2
    (identity,) = kept
    assert after[identity] is before[identity], "an unchanged target keeps its loop and caches"
    job_id = f"scrape:15s:{phase_slot(identity, 15.0)}"
    assert scheduler.get_job(job_id).next_run_time == runs[job_id], "and its phase"
    slots = {f"scrape:15s:{phase_slot(i, 15.0)}" for i in after}
    assert {j.id for j in scheduler.get_jobs() if j.id.startswith("scrape:")} == slots


async def test_targets_are_scraped_on_their_interval(
    fleet: tuple[Fleet, list[str]],
    parts: tuple[AsyncIOScheduler, aiohttp.ClientSession, ResultQueue, ScrapeMetrics],
    tmp_path: Path,
) -> None:
    scheduler, session, queue, metrics = parts
    _, addresses = fleet
    manager = ScrapeManager(scheduler, session=session, queue=queue, metrics=metrics, base_dir=tmp_path)
    await manager.apply(parse_targets(_config(addresses, tmp_path), "t.yaml", tmp_path))
    await asyncio.sleep(2.6)
    results = await queue.get_batch(100, wait_s=0)
    per_target: dict[str, int] = {}
    for result in results:
        assert result.up
        per_target[result.target.identity] = per_target.get(result.target.identity, 0) + 1
    assert len(per_target) == 3 and all(2 <= n <= 3 for n in per_target.values())
    assert all(t.state.health == "up" for t in manager.targets())


async def test_late_scrapes_are_coalesced_not_piled_up(
    fleet: tuple[Fleet, list[str]],
    parts: tuple[AsyncIOScheduler, aiohttp.ClientSession, ResultQueue, ScrapeMetrics],
    tmp_path: Path,
) -> None:
    scheduler, session, queue, metrics = parts
    state, addresses = fleet
    manager = ScrapeManager(scheduler, session=session, queue=queue, metrics=metrics, base_dir=tmp_path)
    await manager.apply(parse_targets(_config(addresses[:1], tmp_path), "t.yaml", tmp_path))
    (job,) = [j for j in scheduler.get_jobs() if j.id.startswith("scrape:")]
    assert job.max_instances == 1 and job.coalesce
    await asyncio.sleep(1.2)
    hits = state.hits
    time.sleep(3.5)  # noqa: ASYNC251 - the point: the event loop stalls for three and a half intervals
    await asyncio.sleep(0.5)
    assert state.hits - hits <= 2, "missed runs are coalesced into one, not replayed"
    assert state.max_in_flight == 1
    await manager.stop(drain_timeout_s=3)


async def test_file_sd_refresh_adds_and_removes_targets(
    fleet: tuple[Fleet, list[str]],
    parts: tuple[AsyncIOScheduler, aiohttp.ClientSession, ResultQueue, ScrapeMetrics],
    tmp_path: Path,
) -> None:
    scheduler, session, queue, metrics = parts
    _, addresses = fleet
    sd = tmp_path / "nodes.json"
    sd.write_text(json.dumps([{"targets": addresses[:1], "labels": {"team": "a"}}]))
    text = (
        "scrape_configs:\n  - job_name: files\n    scrape_interval: 15s\n"
        "    file_sd_configs:\n      - files: ['nodes.json']\n        refresh_interval: 1s\n"
    )
    manager = ScrapeManager(scheduler, session=session, queue=queue, metrics=metrics, base_dir=tmp_path)
    await manager.apply(parse_targets(text, str(tmp_path / "t.yaml"), tmp_path))
    assert [dict(t.labels)["team"] for t in manager.targets()] == ["a"]
    sd.write_text(json.dumps([{"targets": addresses[1:], "labels": {"team": "b"}}]))
    await asyncio.sleep(1.5)
    assert sorted(dict(t.labels)["instance"] for t in manager.targets()) == sorted(addresses[1:])
    sd.write_text("not json")
    await asyncio.sleep(1.5)
    assert len(manager.targets()) == 2, "a broken file keeps its last good targets"


async def test_targets_of_one_phase_slot_share_a_job_and_a_slow_one_holds_back_no_other(
    fleet: tuple[Fleet, list[str]],
    parts: tuple[AsyncIOScheduler, aiohttp.ClientSession, ResultQueue, ScrapeMetrics],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scheduler, session, queue, metrics = parts
    state, addresses = fleet
    monkeypatch.setattr(manager_module, "phase_slot", lambda identity, interval_s: 0)
    manager = ScrapeManager(scheduler, session=session, queue=queue, metrics=metrics, base_dir=tmp_path)
    await manager.apply(parse_targets(_config(addresses, tmp_path, "1s"), "t.yaml", tmp_path))
    assert [j.id for j in scheduler.get_jobs() if j.id.startswith("scrape:")] == ["scrape:1s:0"]
    state.delay_s = 0.8
    await asyncio.sleep(2.5)
    assert state.max_in_flight == 3, "the slot's scrapes run side by side, not one after another"
    await manager.stop(drain_timeout_s=3)
    assert [j.id for j in scheduler.get_jobs() if j.id.startswith("scrape:")] == []


async def test_two_pools_with_the_same_job_name_keep_their_targets_and_jobs_apart(
    fleet: tuple[Fleet, list[str]],
    parts: tuple[AsyncIOScheduler, aiohttp.ClientSession, ResultQueue, ScrapeMetrics],
    tmp_path: Path,
) -> None:
    scheduler, session, queue, metrics = parts
    state, addresses = fleet
    managers = [
        ScrapeManager(scheduler, session=session, queue=queue, metrics=metrics, base_dir=tmp_path),
        ScrapeManager(
            scheduler, session=session, queue=queue, metrics=metrics, base_dir=tmp_path, pool="api"
        ),
    ]
    await managers[0].apply(parse_targets(_config(addresses[:2], tmp_path), "t.yaml", tmp_path))
    await managers[1].apply(parse_targets(_config(addresses[2:], tmp_path), "t.yaml", tmp_path))
    ids = {j.id for j in scheduler.get_jobs()}
    assert any(i.startswith("scrape:api:") for i in ids) and any(not i.startswith("scrape:api:") for i in ids)
    assert metrics.registry.get_sample_value("openmanager_targets", {"job": "node"}) == 3
    await asyncio.sleep(1.5)
    assert state.hits >= 3
    assert len(managers[0].targets()) == 2 and len(managers[1].targets()) == 1
    assert all(t.state.health == "up" for m in managers for t in m.targets())
    await managers[1].apply(parse_targets("scrape_configs: []\n", "t.yaml", tmp_path))
    assert len(managers[0].targets()) == 2, "emptying one pool leaves the other's targets"
    assert metrics.registry.get_sample_value("openmanager_targets", {"job": "node"}) == 2
    for manager in managers:
        await manager.stop(1.0)
