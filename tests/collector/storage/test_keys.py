"""Live-layer key and channel names: the seed's public layout, defined once."""

from __future__ import annotations

import uuid

import pytest
import redis.asyncio as aioredis

from collector.storage import keys

SERVER = uuid.UUID("0f6c3c1e-4d2b-5a7e-9c1d-2b3a4c5d6e7f")


def test_seed_keys_keep_their_public_names() -> None:
    # The braces are the seed's placeholder made literal: a Redis Cluster hash tag, one slot per server.
    assert keys.server_status(SERVER) == f"server:{{{SERVER}}}:status"
    assert keys.server_metric(SERVER, "cpu") == f"server:{{{SERVER}}}:metrics:cpu"
    assert keys.ALERTS_ACTIVE == "alerts:active"


def test_a_server_id_as_text_or_uuid_names_the_same_key() -> None:
    assert keys.server_status(str(SERVER)) == keys.server_status(SERVER)
    assert keys.server_metric(str(SERVER), "disk") == keys.server_metric(SERVER, "disk")


@pytest.mark.parametrize("metric", keys.METRICS)
def test_every_summary_metric_has_a_window_key(metric: str) -> None:
    assert keys.server_metric(SERVER, metric).endswith(f":metrics:{metric}")


@pytest.mark.parametrize("metric", ["load1", "CPU", "", "cpu:1"])
def test_unknown_metric_is_refused_with_the_choices(metric: str) -> None:
    with pytest.raises(ValueError, match="expected one of cpu, memory, disk, network_rx, network_tx"):
        keys.server_metric(SERVER, metric)


def test_latest_and_series_set_keys() -> None:
    assert keys.target_latest("3b5d0c8e9f2a4b61") == "target:{3b5d0c8e9f2a4b61}:latest"
    assert keys.series_set("a1b2") == "seriesset:a1b2"


def test_cluster_keys_share_one_hash_tag() -> None:
    names = [keys.CLUSTER_MEMBERS, keys.CLUSTER_INFO, keys.lease("maintenance"), keys.fence("maintenance")]
    assert all(name.startswith("{openmanager:cluster}:") for name in names)
    assert len(set(names)) == len(names)


def test_indexes_and_channels_are_distinct_names() -> None:
    names = [
        keys.SERVERS_INDEX,
        keys.TARGETS_INDEX,
        keys.ALERTS_ACTIVE,
        keys.EVENTS_STATUS,
        keys.EVENTS_SCRAPE,
    ]
    assert names == ["servers:index", "targets:index", "alerts:active", "events:status", "events:scrape"]
    assert len(set(names)) == len(names)


def test_a_channel_carries_the_database_its_client_uses() -> None:
    assert keys.channel(keys.EVENTS_STATUS, aioredis.Redis(db=5)) == "events:status@5"
    assert keys.channel(keys.EVENTS_STATUS, aioredis.Redis()) == "events:status@0"
    assert keys.channel_base(b"events:status@5") == b"events:status"


async def test_installations_on_two_databases_of_one_redis_hear_only_their_own_events(redis_url: str) -> None:
    base = redis_url.rsplit("/", 1)[0]
    ours, theirs = aioredis.Redis.from_url(f"{base}/1"), aioredis.Redis.from_url(f"{base}/2")
    try:
        async with ours.pubsub() as pubsub:
            await pubsub.subscribe(keys.channel(keys.EVENTS_STATUS, ours))
            confirmation = await pubsub.get_message(timeout=2.0)
            assert confirmation is not None and confirmation["type"] == "subscribe"
            await theirs.publish(keys.channel(keys.EVENTS_STATUS, theirs), b"theirs")
            await ours.publish(keys.channel(keys.EVENTS_STATUS, ours), b"ours")
            messages = []
            while message := await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5):
                messages.append(message["data"])
            assert messages == [b"ours"]
    finally:
        await ours.aclose()
        await theirs.aclose()


def test_key_families_cannot_collide() -> None:
    made = {
        keys.server_status(SERVER),
        *(keys.server_metric(SERVER, metric) for metric in keys.METRICS),
        keys.target_latest(str(SERVER)),
        keys.series_set(str(SERVER)),
    }
    assert len(made) == len(keys.METRICS) + 3
