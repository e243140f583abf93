"""Two collectors of one target file on the real Redis split its targets, and take them back."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis.asyncio as aioredis

from collector.cluster.member import ClusterMember
from collector.cluster.membership import read_members
from collector.config.settings import ClusterSettings
from collector.runtime import ScrapeService
from tests.polling import eventually
from tests.ports import free_port

TARGETS = 40


@pytest.fixture
async def redis(flushed_redis: aioredis.Redis) -> aioredis.Redis:
    return flushed_redis


@pytest.fixture
def targets(tmp_path: Path) -> Path:
    # Nothing listens there: the scrapes fail quickly, which is all ownership needs.
    port = free_port()
    listed = ", ".join(f"'127.0.0.{i + 1}:{port}'" for i in range(TARGETS))
    path = tmp_path / "targets.yaml"
    path.write_text(
        "global:\n  scrape_interval: 10s\n  scrape_timeout: 1s\n"
        f"scrape_configs:\n  - job_name: sim\n    static_configs:\n      - targets: [{listed}]\n"
    )
    return path


async def _roles_announced(redis: aioredis.Redis, expected: dict[str, str]) -> bool:
    """Whether each member's heartbeat told the others its role, as any process reads the members."""
    return {str(doc["member"]): doc.get("role") for doc in await read_members(redis)} == expected


def _identities(collector: ScrapeService) -> set[str]:
    return {view.identity for view in collector.targets()}


async def test_two_members_split_the_targets_and_one_takes_all_back_when_the_other_leaves(
    redis: aioredis.Redis, targets: Path
) -> None:
    settings = ClusterSettings(heartbeat_interval_s=0.05, member_ttl_s=0.3)
    first, second = ScrapeService(targets), ScrapeService(targets)
    a = ClusterMember(redis, first, settings.model_copy(update={"member_id": "a"}), listen_port=0, role="run")
    b = ClusterMember(
        redis, second, settings.model_copy(update={"member_id": "b"}), listen_port=0, role="collector"
    )
    await a.start()
    await first.start()
    assert len(first.targets()) == TARGETS, "alone, a member scrapes every target"
    await b.start()
    await second.start()
    try:
        await eventually(lambda: len(first.targets()) + len(second.targets()) == TARGETS)
        assert not _identities(first) & _identities(second)
        assert first.targets() and second.targets()
        assert a.health()["members"] == ["a", "b"] and a.health()["leader"] != b.health()["leader"]
        assert (a.health()["role"], b.health()["role"]) == ("run", "collector")
        await eventually(lambda: _roles_announced(redis, {"a": "run", "b": "collector"}))
        await b.close()
        await eventually(lambda: len(first.targets()) == TARGETS)
    finally:
        await a.close()
        await first.stop()
        await second.stop()
