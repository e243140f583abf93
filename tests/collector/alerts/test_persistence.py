"""The engine's PostgreSQL queue on the real database: alert rows, events, bounds, refusals, outages."""

from __future__ import annotations

from dataclasses import replace

import asyncpg
import pytest
from structlog.testing import capture_logs

from collector.alerts.alert_store import list_alerts
from collector.alerts.evaluator import Change
from collector.alerts.persistence import PersistenceQueue
from collector.alerts.store_retry import POSTGRES_ERRORS, StoreRetry
from collector.backoff import Backoff
from collector.config.settings import Settings
from collector.storage.connections import Stores
from collector.storage.events import query_events
from tests.collector.alerts.test_alert_store import firing, make_alert, resolved
from tests.collector.alerts.test_engine import FakeClock


def queue(pool: asyncpg.Pool, clock: FakeClock | None = None, max_queued: int = 100) -> PersistenceQueue:
    clock = clock or FakeClock()
    retry = StoreRetry("postgres", POSTGRES_ERRORS, backoff=Backoff(1.0, 4.0), clock=clock.now, timeout_s=5.0)
    return PersistenceQueue(pool, retry, max_queued)


async def alert_rows(pool: asyncpg.Pool) -> list[tuple[str, str]]:
    items, _ = await list_alerts(pool)
    return sorted((item.type, item.state) for item in items)


async def event_messages(pool: asyncpg.Pool) -> list[tuple[str, str]]:
    events, _ = await query_events(pool, source="alerts")
    return [(event.level, event.message) for event in reversed(events)]


async def test_changes_and_log_entries_reach_postgres(stores: Stores) -> None:
    cpu, disk = make_alert("HighCpu"), make_alert("DiskFull", severity="critical")
    writes = queue(stores.pg)
    for change in (Change("pending", cpu), Change("firing", firing(cpu)), Change("firing", firing(disk))):
        writes.add_change(change)
    writes.add_log_entry(firing(cpu))
    writes.add_log_entry(firing(disk))
    writes.add_change(Change("resolved", resolved(firing(cpu))))
    writes.add_log_entry(resolved(firing(cpu)))
    assert len(writes) == 4
    await writes.flush()
    assert len(writes) == 0 and writes.retry.error is None
    assert await alert_rows(stores.pg) == [("DiskFull", "firing"), ("HighCpu", "resolved")]
    assert await event_messages(stores.pg) == [
        ("warning", "FIRING: HighCpu on host"),
        ("critical", "FIRING: DiskFull on host"),
        ("info", "RESOLVED: HighCpu on host"),
    ]


async def test_a_change_postgres_refuses_does_not_hold_up_the_others(stores: Stores) -> None:
    good = make_alert("HighCpu")
    refused = replace(make_alert("HighMemory"), annotations={"title": "bad", "message": "nul \x00 byte"})
    writes = queue(stores.pg)
    writes.add_change(Change("firing", firing(refused)))
    writes.add_change(Change("firing", firing(good)))
    with capture_logs() as logs:
        await writes.flush()
    assert await alert_rows(stores.pg) == [("HighCpu", "firing")]
    dropped = [entry for entry in logs if entry["event"] == "alert change dropped"]
    assert [entry["fingerprint"] for entry in dropped] == [refused.fingerprint]
    assert len(writes) == 0 and writes.retry.error is None, "refused is not unavailable"


async def test_the_event_of_a_server_without_a_row_is_logged_without_it(stores: Stores) -> None:
    writes = queue(stores.pg)
    writes.add_log_entry(firing(make_alert("HighCpu")))  # no alert row: no servers row either
    await writes.flush()
    events, _ = await query_events(stores.pg, source="alerts")
    assert [(e.message, e.server_id) for e in events] == [("FIRING: HighCpu on host", None)]


async def test_the_queues_are_bounded_oldest_first(stores: Stores) -> None:
    alerts = [make_alert(f"Rule{i}") for i in range(4)]
    writes = queue(stores.pg, max_queued=2)
    for alert in alerts:
        writes.add_change(Change("firing", firing(alert)))
        writes.add_log_entry(firing(alert))
    assert len(writes) == 2 and writes.changes_dropped == 2
    await writes.flush()
    assert await alert_rows(stores.pg) == [("Rule2", "firing"), ("Rule3", "firing")]
    assert [m for _, m in await event_messages(stores.pg)] == [
        "FIRING: Rule2 on host",
        "FIRING: Rule3 on host",
    ]


@pytest.mark.parametrize("advance_s", [0.5, 1.0])
async def test_while_postgres_is_away_the_queue_waits_for_its_retry(
    settings: Settings, advance_s: float
) -> None:
    dsn = settings.postgres.dsn.get_secret_value()  # type: ignore[union-attr]
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=1)
    await pool.close()
    clock = FakeClock()
    writes = queue(pool, clock)
    writes.add_change(Change("firing", firing(make_alert())))
    await writes.flush()
    assert writes.retry.failures == 1 and writes.retry.error is not None and len(writes) == 1
    clock.t += advance_s
    await writes.flush()
    assert writes.retry.failures == (2 if advance_s >= 1.0 else 1), "tried again only once due"
    assert len(writes) == 1
