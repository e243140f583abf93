"""Three ``openmanager run`` processes sharing 300 simulated targets over a Redis Cluster of three masters.

Measured from both ends: the simulated fleet records every scrape request (so a target scraped by two
collectors, or by none, shows), and PostgreSQL's history holds what was stored.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import redis as redis_sync

from collector.storage import keys
from tests.openmanager.cluster_support import RecordingFleet
from tests.openmanager.running import start_service, wait_healthy
from tests.polling import eventually
from tests.ports import free_port

TARGETS = 300
INTERVAL_S = 1.0
FLUSH_WINDOW_S = 1.25
"""What a SIGKILLed collector may hold unwritten: the history writer's flush interval and batch wait."""
SLACK_S = 0.3
"""Scheduling jitter allowed around a planned scrape time on this shared machine."""
SETTINGS = """
cluster:
  heartbeat_interval_s: 0.2
  member_ttl_s: 0.6
"""


@pytest.fixture
def fleet() -> Iterator[RecordingFleet]:
    with RecordingFleet(TARGETS, free_port()) as running:
        yield running


class Collectors:
    """The collector processes of the test, by member id."""

    def __init__(self, tmp_path: Path, pg_dsn: str, redis_url: str, targets: Path) -> None:
        self._tmp, self._pg, self._redis, self._targets = tmp_path, pg_dsn, redis_url, targets
        self.settings = tmp_path / "openmanager.yml"
        self.settings.write_text(SETTINGS)
        self.procs: dict[str, tuple[subprocess.Popen[str], int]] = {}

    def start(self, member: str) -> None:
        port = free_port()
        self.procs[member] = (
            start_service(
                port,
                pg_dsn=self._pg,
                redis_url=self._redis,
                data_dir=self._tmp / member,
                targets=self._targets,
                env={"OM_CONFIG": str(self.settings), "OM_CLUSTER_MEMBER_ID": member},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            ),
            port,
        )

    def wait_healthy(self) -> None:
        for proc, port in self.procs.values():
            wait_healthy(proc, port)

    def kill(self, member: str) -> None:
        proc, _ = self.procs.pop(member)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)

    def stop_all(self) -> None:
        for proc, _ in self.procs.values():
            proc.send_signal(signal.SIGTERM)
        for proc, _ in self.procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _shares(client: redis_sync.RedisCluster) -> dict[str, dict[str, Any]]:
    members: list[bytes] = client.zrange(keys.CLUSTER_MEMBERS, 0, -1)  # type: ignore[assignment]
    live = {str(m, "utf-8") for m in members}
    infos: dict[bytes, bytes] = client.hgetall(keys.CLUSTER_INFO)  # type: ignore[assignment]
    return {str(k, "utf-8"): json.loads(v) for k, v in infos.items() if str(k, "utf-8") in live}


def _settled(client: redis_sync.RedisCluster, members: set[str]) -> bool:
    """Every member of ``members`` is live, sees exactly them, and their shares cover the fleet."""
    shares = _shares(client)
    return (
        set(shares) == members
        and all(info.get("members") == len(members) for info in shares.values())
        and sum(int(info["targets"]) for info in shares.values()) == TARGETS
    )


async def _history(pg_dsn: str, since: float) -> dict[str, list[float]]:
    conn = await asyncpg.connect(pg_dsn)
    try:
        rows = await conn.fetch(
            "SELECT s.address, extract(epoch FROM r.ts)::float8 AS t FROM history_raw r "
            "JOIN servers s ON s.id = r.server_id WHERE r.ts >= to_timestamp($1) ORDER BY 1, 2",
            since,
        )
    finally:
        await conn.close()
    out: dict[str, list[float]] = {}
    for row in rows:
        out.setdefault(str(row["address"]).rsplit(":", 1)[0], []).append(float(row["t"]))
    return out


async def test_three_collectors_share_the_fleet_survive_a_kill_and_rebalance(
    tmp_path: Path,
    fresh_pg_dsn: str,
    redis_cluster_url: str,
    redis_cluster_ports: list[int],
    fleet: RecordingFleet,
) -> None:
    # A database of its own: servers registered by earlier tests of the run would join the fleet.
    pg_dsn = fresh_pg_dsn
    targets = tmp_path / "targets.yaml"
    listed = ", ".join(f"'{a}'" for a in fleet.addresses())
    targets.write_text(
        f"global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
        f"scrape_configs:\n  - job_name: sim\n    static_configs:\n      - targets: [{listed}]\n"
    )
    collectors = Collectors(tmp_path, pg_dsn, redis_cluster_url, targets)
    client = redis_sync.RedisCluster(host="127.0.0.1", port=redis_cluster_ports[0])
    try:
        for member in ("c1", "c2", "c3"):
            collectors.start(member)
        await asyncio.to_thread(collectors.wait_healthy)
        await eventually(lambda: _settled(client, {"c1", "c2", "c3"}), timeout_s=60, interval_s=0.1)
        steady_from = time.time()

        # Steady state: each target scraped once an interval, so by exactly one collector.
        await asyncio.sleep(3 * INTERVAL_S)
        counts = fleet.scrapes_between(steady_from, steady_from + 3 * INTERVAL_S)
        assert set(counts.values()) <= {2, 3, 4}, sorted(set(counts.values()))
        shares = _shares(client)
        assert all(info["targets"] > 0 for info in shares.values()), shares

        # A collector dies without a word: the others take its targets within two intervals.
        killed_at = time.time()
        collectors.kill("c2")
        await eventually(lambda: _settled(client, {"c1", "c3"}), timeout_s=10, interval_s=0.05)
        await asyncio.sleep(3 * INTERVAL_S)
        assert fleet.longest_gap(steady_from, time.time()) <= 2 * INTERVAL_S + SLACK_S

        # It comes back under the same name and takes its share again, without a restart of the others.
        collectors.start("c2")
        await eventually(lambda: _settled(client, {"c1", "c2", "c3"}), timeout_s=60, interval_s=0.1)
        rebalanced_at = time.time()
        assert _shares(client)["c2"]["targets"] > 0
        await asyncio.sleep(3 * INTERVAL_S)
        end = time.time()
        counts = fleet.scrapes_between(rebalanced_at + INTERVAL_S, end)
        assert max(counts.values()) <= 3, "a target scraped by two collectors after the rebalance"
        assert fleet.longest_gap(steady_from, end) <= 2 * INTERVAL_S + SLACK_S

        # History: every target, no gap over two intervals, except where the killed process held
        # scrapes it had not written yet (lost with it: at most its writer's flush window more).
        def stored_up_to(history: dict[str, list[float]]) -> bool:
            return len(history) == TARGETS and min(times[-1] for times in history.values()) >= end

        history: dict[str, list[float]] = {}

        async def caught_up() -> bool:
            nonlocal history
            history = await _history(pg_dsn, steady_from)
            return stored_up_to(history)

        await eventually(caught_up, timeout_s=20, interval_s=0.5)
        over = {}
        for host, times in history.items():
            gaps = [(b - a, a) for a, b in itertools.pairwise(times) if b <= end]
            for gap, at in gaps:
                if gap > 2 * INTERVAL_S + SLACK_S:
                    over[host] = (round(gap, 3), round(at - killed_at, 3))
        lost_with_the_kill = {
            host: (gap, at)
            for host, (gap, at) in over.items()
            if -FLUSH_WINDOW_S - INTERVAL_S <= at <= 0 and gap <= 2 * INTERVAL_S + FLUSH_WINDOW_S + SLACK_S
        }
        assert over == lost_with_the_kill, {h: g for h, g in over.items() if h not in lost_with_the_kill}
    finally:
        collectors.stop_all()
        client.close()
