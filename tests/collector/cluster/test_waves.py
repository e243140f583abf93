"""Waves relayed from the members to the lease holder's alert engine, on the real Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence

import pytest
import redis.asyncio as aioredis

from collector.cluster.waves import WaveRelay, decode_wave, encode_wave
from collector.result import ScrapeResult
from collector.summary import ServerSummary
from tests.collector.test_summary import TARGET, failed_result, make_result, make_target
from tests.polling import eventually

OTHER = make_target("db-1:9100", env="prod")


def _wave() -> tuple[list[ScrapeResult], dict[str, ServerSummary]]:
    up = make_result([(("up", ()), 1.0)], 1_700_000_000.0)
    down = failed_result(1_700_000_000.0, OTHER)
    return [up, down], {TARGET.identity: ServerSummary(cpu=12.5, memory=40.0)}


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


def test_a_wave_keeps_what_the_engine_reads() -> None:
    results, summaries = _wave()
    back, back_summaries = decode_wave(encode_wave(results, summaries))
    assert [r.target for r in back] == [r.target for r in results]
    assert [(r.up, r.error, r.error_reason, r.timestamp_ms) for r in back] == [
        (r.up, r.error, r.error_reason, r.timestamp_ms) for r in results
    ]
    assert back_summaries == summaries


class Engine:
    def __init__(self) -> None:
        self.waves: list[tuple[list[str], dict[str, ServerSummary]]] = []

    def observe(self, results: Sequence[ScrapeResult], summaries: Mapping[str, ServerSummary]) -> None:
        self.waves.append(([r.target.instance for r in results], dict(summaries)))


async def test_the_leader_evaluates_its_own_waves_and_hears_the_others(redis: aioredis.Redis) -> None:
    leader_engine, member_engine = Engine(), Engine()
    leader = WaveRelay(redis, lambda: True, leader_engine.observe)
    member = WaveRelay(redis, lambda: False, member_engine.observe)
    await leader.start()
    await member.start()
    try:
        results, summaries = _wave()
        leader.observe(results[:1], summaries)
        assert leader_engine.waves == [(["web-1:9100"], summaries)], "evaluated at once, not relayed"

        async def relayed() -> bool:
            member.observe(results, summaries)  # again until the leader's subscription is in place
            return len(leader_engine.waves) > 1

        await eventually(relayed, timeout_s=5, interval_s=0.2)
        assert leader_engine.waves[1] == (["web-1:9100", "db-1:9100"], summaries)
        assert member_engine.waves == [], "a member that does not hold the lease evaluates nothing"
    finally:
        await leader.close()
        await member.close()
