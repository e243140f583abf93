"""The alert engine on the real PostgreSQL and Redis: persistence, restart, hand resolve, muting, outages."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Sequence
from pathlib import Path

import asyncpg
import redis.asyncio as aioredis

from collector.alerts.alert_store import list_alerts, resolve_alert
from collector.alerts.config_listener import announce_config_change
from collector.alerts.engine import AlertEngine, EngineOptions
from collector.alerts.model import Alert
from collector.alerts.rule_store import create_rule, list_rules
from collector.alerts.rules import Rule
from collector.alerts.silence_store import create_silence
from collector.alerts.silences import Silence
from collector.config.settings import Settings
from collector.matchers import Matcher
from collector.queue import ResultQueue
from collector.result import ScrapeResult, TargetInfo
from collector.scrape.metrics import ScrapeMetrics
from collector.storage import keys
from collector.storage.connections import Stores
from collector.storage.events import query_events
from collector.storage.history_writer import HistoryWriter, WriterConfig
from collector.storage.live import LiveWriter
from collector.storage.pipeline import PipelineOptions, StoragePipeline
from collector.summary import ServerSummary
from tests.collector.test_summary import exporter_gauges, failed_result, make_result, make_target
from tests.polling import eventually
from tests.ports import free_port

T0 = 1_800_000_000.0
CPU = Rule(name="HighCpu", kind="threshold", metric="cpu", threshold=90, clear_threshold=80, for_s=300)
CPU_NOW = Rule(name="HotCpu", kind="threshold", metric="cpu", threshold=90, severity="critical")
DOWN = Rule(name="ServerDown", kind="down", severity="critical")
FAST = EngineOptions(reload_interval_s=0.2, backoff_initial_s=0.05, backoff_max_s=0.1)


class FakeClock:
    def __init__(self, t: float = T0) -> None:
        self.t = t

    def now(self) -> float:
        return self.t


class Recorder:
    """An on_change callback that keeps every call."""

    def __init__(self) -> None:
        self.calls: list[list[Alert]] = []

    def __call__(self, alerts: Sequence[Alert]) -> None:
        self.calls.append(list(alerts))

    def seen(self) -> list[tuple[str, str]]:
        return [(a.name, a.state) for call in self.calls for a in call]


async def with_rules(pool: asyncpg.Pool, *rules: Rule) -> None:
    for rule in rules:
        await create_rule(pool, rule)


def scrape(
    cpu: float, target: TargetInfo | None = None
) -> tuple[list[ScrapeResult], dict[str, ServerSummary]]:
    target = target or make_target()
    result = make_result(exporter_gauges(target, cpu=cpu), T0, target)
    return [result], {target.identity: ServerSummary(cpu=cpu, memory=50.0, disk=40.0)}


def down(target: TargetInfo | None = None) -> tuple[list[ScrapeResult], dict[str, ServerSummary]]:
    return [failed_result(T0, target or make_target())], {}


async def test_alert_fires_after_for_once_and_reaches_every_store(stores: Stores) -> None:
    await with_rules(stores.pg, CPU)
    clock, recorder = FakeClock(), Recorder()
    engine = AlertEngine(stores.pg, stores.redis, clock=clock, on_change=recorder, options=FAST)
    await engine.start()
    async with stores.redis.pubsub() as pubsub:
        await pubsub.subscribe(keys.channel(keys.EVENTS_ALERTS, stores.redis))
        for step in range(12):
            clock.t = T0 + step * 30
            engine.observe(*scrape(95.0))
        assert recorder.seen() == [("HighCpu", "firing")]
        fired = recorder.calls[0][0]
        assert fired.fired_at == T0 + 300 and fired.active_since == T0

        async def persisted() -> bool:
            items, _ = await list_alerts(stores.pg, state="firing")
            return len(items) == 1

        async def listed() -> bool:
            raw = await stores.redis.lrange(keys.ALERTS_ACTIVE, 0, -1)
            return [json.loads(item)["fingerprint"] for item in raw] == [fired.fingerprint]

        await eventually(persisted)
        await eventually(listed)
        message = None
        while message is None or message["type"] != "message":
            message = await pubsub.get_message(timeout=5)
            assert message is not None
        body = json.loads(message["data"])
        assert body["state"] == "firing" and body["title"] == "HighCpu on web-1" and body["muted"] is False
    events, _ = await query_events(stores.pg, source="alerts")
    assert [e.message for e in events] == ["FIRING: HighCpu on web-1"] and events[0].level == "warning"
    await engine.close(5)


async def test_restart_restores_pending_timer_and_firing_alerts_without_firing_twice(stores: Stores) -> None:
    await with_rules(stores.pg, CPU, CPU_NOW)
    clock, first = FakeClock(), Recorder()
    engine = AlertEngine(stores.pg, stores.redis, clock=clock, on_change=first, options=FAST)
    await engine.start()
    engine.observe(*scrape(95.0))
    assert first.seen() == [("HotCpu", "firing")]
    await engine.close(5)
    assert {a.state for a in (await list_alerts(stores.pg, state="active"))[0]} == {"pending", "firing"}

    clock.t = T0 + 200
    second = Recorder()
    engine = AlertEngine(stores.pg, stores.redis, clock=clock, on_change=second, options=FAST)
    await engine.start()
    assert second.seen() == [("HotCpu", "firing")], "a new notifier learns what fires"
    engine.observe(*scrape(95.0))
    clock.t = T0 + 300
    engine.observe(*scrape(95.0))
    assert second.seen() == [("HotCpu", "firing"), ("HighCpu", "firing")], "the for timer went on from T0"
    await engine.close(5)
    items, total = await list_alerts(stores.pg)
    assert total == 2 and {i.state for i in items} == {"firing"}


async def test_hand_resolve_is_not_refired_until_the_condition_cleared(stores: Stores) -> None:
    await with_rules(stores.pg, CPU_NOW)
    clock, recorder = FakeClock(), Recorder()
    engine = AlertEngine(stores.pg, stores.redis, clock=clock, on_change=recorder, options=FAST)
    await engine.start()
    await asyncio.wait_for(engine.config_listener_ready.wait(), 5)
    engine.observe(*scrape(95.0))

    async def one_firing() -> bool:
        return (await list_alerts(stores.pg, state="firing"))[1] == 1

    await eventually(one_firing)
    (row,), _ = await list_alerts(stores.pg, state="firing")
    assert await resolve_alert(stores.pg, row.id, "alice") is not None
    await announce_config_change(stores.redis)

    async def told() -> bool:
        return ("HotCpu", "resolved") in recorder.seen()

    await eventually(told)
    assert engine.active_alerts() == []
    clock.t += 60
    engine.observe(*scrape(96.0))
    assert recorder.seen() == [("HotCpu", "firing"), ("HotCpu", "resolved")], "still held"
    clock.t += 60
    engine.observe(*scrape(50.0))
    clock.t += 60
    engine.observe(*scrape(97.0))
    assert recorder.seen()[-1] == ("HotCpu", "firing"), "fires again after the condition cleared once"
    await engine.close(5)
    states = sorted(i.state for i in (await list_alerts(stores.pg))[0])
    assert states == ["firing", "resolved"]


async def test_hold_survives_a_restart(stores: Stores) -> None:
    await with_rules(stores.pg, CPU_NOW)
    clock, recorder = FakeClock(), Recorder()
    engine = AlertEngine(stores.pg, stores.redis, clock=clock, on_change=recorder, options=FAST)
    await engine.start()
    engine.observe(*scrape(95.0))
    await engine.close(5)
    (row,), _ = await list_alerts(stores.pg)
    await resolve_alert(stores.pg, row.id, "alice")
    again = Recorder()
    engine = AlertEngine(stores.pg, stores.redis, clock=clock, on_change=again, options=FAST)
    await engine.start()
    engine.observe(*scrape(95.0))
    assert again.seen() == []
    await engine.close(5)


async def test_is_muted_by_silence_and_by_the_servers_down_alert(stores: Stores) -> None:
    await with_rules(stores.pg, CPU_NOW, DOWN)
    clock, recorder = FakeClock(), Recorder()
    silence = Silence(
        matchers=(Matcher(name="alertname", value="HotCpu"),),
        starts_at=T0 + 100,
        ends_at=T0 + 200,
        created_by="alice",
    )
    await create_silence(stores.pg, silence)
    engine = AlertEngine(stores.pg, stores.redis, clock=clock, on_change=recorder, options=FAST)
    await engine.start()
    engine.observe(*scrape(95.0))
    cpu_alert = recorder.calls[0][0]
    assert not engine.is_muted(cpu_alert, T0 + 99)
    assert engine.is_muted(cpu_alert, T0 + 150)
    assert not engine.is_muted(cpu_alert, T0 + 200)
    clock.t = T0 + 300
    engine.observe(*down())
    down_alert = recorder.calls[-1][0]
    assert down_alert.name == "ServerDown" and down_alert.state == "firing"
    assert engine.is_muted(cpu_alert, T0 + 300), "inhibited while the server is down"
    assert not engine.is_muted(down_alert, T0 + 300)
    assert {a.name for a in engine.active_alerts()} == {"HotCpu", "ServerDown"}, "muted, not resolved"
    clock.t = T0 + 330
    engine.observe(*scrape(95.0))
    assert not engine.is_muted(cpu_alert, T0 + 330)
    await engine.close(5)


async def test_rule_changes_are_picked_up_when_announced(stores: Stores) -> None:
    await with_rules(stores.pg, CPU)
    clock, recorder = FakeClock(), Recorder()
    config_changes: list[None] = []
    engine = AlertEngine(
        stores.pg,
        stores.redis,
        clock=clock,
        on_change=recorder,
        options=FAST,
        on_config_change=lambda: config_changes.append(None),
    )
    await engine.start()
    await asyncio.wait_for(engine.config_listener_ready.wait(), 5)
    await create_rule(stores.pg, CPU_NOW)
    await announce_config_change(stores.redis)

    async def reloaded() -> bool:
        return len(engine.rules) == 2

    await eventually(reloaded)
    assert config_changes == [None], "the announcement is passed on (the notifier rereads its channels)"
    engine.observe(*scrape(95.0))
    assert recorder.seen() == [("HotCpu", "firing")]
    await engine.close(5)


async def test_start_seeds_defaults_and_the_rules_file(stores: Stores, tmp_path: Path) -> None:
    rules_file = tmp_path / "rules.yml"
    rules_file.write_text("- name: HighCpu\n  kind: threshold\n  metric: cpu\n  threshold: 99\n")
    engine = AlertEngine(stores.pg, stores.redis, clock=FakeClock(), rules_file=rules_file, options=FAST)
    await engine.start()
    stored = {r.name: r for r in await list_rules(stores.pg)}
    assert "ServerDown" in stored and stored["HighCpu"].threshold == 99 and stored["HighCpu"].source == "file"
    assert {r.name for r in engine.rules} == set(stored)
    await engine.close(5)


async def test_disk_history_is_refilled_from_redis_for_prediction(stores: Stores) -> None:
    await with_rules(stores.pg, Rule(name="DiskFullSoon", kind="disk_full_prediction", hours=24))
    target = make_target(instance=f"disk-{uuid.uuid4().hex[:6]}:9100")
    points = {f"{T0 - 7200 + i * 360:.3f}:{50 + i * 0.5!r}": T0 - 7200 + i * 360 for i in range(20)}
    await stores.redis.zadd(keys.SERVERS_INDEX, {str(target.server_id): T0})
    await stores.redis.zadd(keys.server_metric(target.server_id, "disk"), points)
    recorder = Recorder()
    engine = AlertEngine(stores.pg, stores.redis, clock=FakeClock(), on_change=recorder, options=FAST)
    await engine.start()
    results, _ = scrape(95.0, target)
    engine.observe(results, {target.identity: ServerSummary(disk=60.0)})
    assert recorder.seen() == [("DiskFullSoon", "firing")]
    await engine.close(5)


async def test_stores_away_do_not_stop_evaluation(settings: Settings, stores: Stores) -> None:
    await with_rules(stores.pg, CPU_NOW)
    pool = await asyncpg.create_pool(settings.postgres.dsn.get_secret_value(), min_size=1, max_size=2)  # type: ignore[union-attr]
    dead_redis = aioredis.Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.5)
    recorder = Recorder()
    options = EngineOptions(reload_interval_s=0.2, backoff_initial_s=0.05, store_timeout_s=1.0)
    engine = AlertEngine(pool, dead_redis, clock=FakeClock(), on_change=recorder, options=options)
    await engine.start()
    assert len(engine.rules) == 1
    await pool.close()
    engine.observe(*scrape(95.0))
    assert recorder.seen() == [("HotCpu", "firing")]

    async def degraded() -> bool:
        health = engine.health()
        return bool(health["postgres_error"]) and bool(health["redis_error"])

    await eventually(degraded)
    assert engine.health()["queued_changes"] == 1 and engine.health()["status"] == "degraded"
    await engine.close(1)
    await dead_redis.aclose()


async def test_pipeline_hands_every_wave_to_the_engine(stores: Stores, tmp_path: Path) -> None:
    await with_rules(stores.pg, CPU_NOW)
    recorder = Recorder()
    engine = AlertEngine(stores.pg, stores.redis, clock=FakeClock(), on_change=recorder, options=FAST)
    await engine.start()
    queue = ResultQueue(100, ScrapeMetrics())
    history = HistoryWriter(stores.pg, WriterConfig(spool_dir=tmp_path / "spool", flush_interval_s=0.05))
    pipeline = StoragePipeline(
        queue,
        LiveWriter(stores.redis),
        history,
        PipelineOptions(batch_wait_s=0.05),
        observers=[engine.observe],
    )
    await pipeline.start()
    target = make_target(instance=f"hot-{uuid.uuid4().hex[:6]}:9100")
    queue.put(make_result(exporter_gauges(target, cpu=97.0), T0, target))

    async def fired() -> bool:
        return recorder.seen() == [("HotCpu", "firing")]

    await eventually(fired)
    assert recorder.calls[0][0].value == 97.0 and recorder.calls[0][0].server_id == target.server_id
    await pipeline.close(5)
    await engine.close(5)
