"""The ``alerts`` table on the real PostgreSQL: the engine's writes, the API's reads and actions."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime

import asyncpg

from collector.alerts.alert_store import (
    acknowledge_alert,
    apply_changes,
    get_alert,
    held_fingerprints,
    list_alerts,
    load_engine_state,
    resolve_alert,
)
from collector.alerts.evaluator import Change
from collector.alerts.model import Alert, fingerprint

T0 = 1_800_000_000.0


def make_alert(name: str = "HighCpu", *, server: uuid.UUID | None = None, severity: str = "warning") -> Alert:
    server = server or uuid.uuid4()
    labels = {
        "alertname": name,
        "severity": severity,
        "server_id": str(server),
        "job": "node",
        "instance": f"h-{server.hex[:6]}:9100",
    }
    return Alert(
        fingerprint=fingerprint(labels),
        rule_id=f"{name}-rule",
        server_id=server,
        severity=severity,  # type: ignore[arg-type]
        state="pending",
        labels=labels,
        annotations={"title": f"{name} on host", "message": "cpu is 95%"},
        value=95.0,
        active_since=T0,
    )


def firing(alert: Alert, t: float = T0 + 300) -> Alert:
    return replace(alert, state="firing", fired_at=t)


def resolved(alert: Alert, t: float = T0 + 600) -> Alert:
    return replace(alert, state="resolved", resolved_at=t)


async def test_engine_changes_make_one_row_per_episode(pool: asyncpg.Pool) -> None:
    alert = make_alert()
    await apply_changes(pool, [Change("pending", alert), Change("firing", firing(alert))])
    items, total = await list_alerts(pool)
    assert total == 1
    row = items[0]
    assert (row.state, row.type, row.title, row.message, row.read) == (
        "firing",
        "HighCpu",
        "HighCpu on host",
        "cpu is 95%",
        False,
    )
    assert row.server_id == alert.server_id, "a server the history writer has not registered yet gets its row"
    assert row.started_at == datetime.fromtimestamp(T0, UTC) and row.labels == dict(alert.labels)
    await apply_changes(pool, [Change("resolved", resolved(firing(alert)))])
    await apply_changes(pool, [Change("pending", replace(alert, active_since=T0 + 900))])
    items, total = await list_alerts(pool)
    assert total == 2 and [i.state for i in items] == ["pending", "resolved"]


async def test_dropped_pending_alert_leaves_no_row(pool: asyncpg.Pool) -> None:
    alert = make_alert()
    await apply_changes(pool, [Change("pending", alert), Change("dropped", alert)])
    assert (await list_alerts(pool))[1] == 0


async def test_filters_and_paging(pool: asyncpg.Pool) -> None:
    mine, other = uuid.uuid4(), uuid.uuid4()
    a = make_alert("HighCpu", server=mine)
    b = make_alert("HighMemory", server=other, severity="critical")
    c = make_alert("DiskSpaceLow", server=mine)
    await apply_changes(
        pool,
        [Change("firing", firing(a)), Change("firing", firing(b)), Change("pending", c)],
    )
    await apply_changes(pool, [Change("resolved", resolved(firing(a)))])

    async def names(**filters: object) -> tuple[list[str], int]:
        items, total = await list_alerts(pool, **filters)  # type: ignore[arg-type]
        return sorted(i.type for i in items), total

    assert await names(state="active") == (["DiskSpaceLow", "HighMemory"], 2)
    assert await names(state="resolved") == (["HighCpu"], 1)
    assert await names(severity="critical") == (["HighMemory"], 1)
    assert await names(allowed_servers=[mine]) == (["DiskSpaceLow", "HighCpu"], 2)
    assert await names(allowed_servers=[]) == ([], 0)
    assert await names(search="highmem") == (["HighMemory"], 1)
    assert await names(search="100%") == ([], 0), "% in a search is literal"
    page, total = await list_alerts(pool, limit=1, offset=1)
    assert len(page) == 1 and total == 3
    assert await names(since=datetime.fromtimestamp(T0 + 400, UTC)) == (["HighCpu"], 1)
    assert await names(until=datetime.fromtimestamp(T0 + 400, UTC)) == (["DiskSpaceLow", "HighMemory"], 2)


async def test_get_and_acknowledge(pool: asyncpg.Pool) -> None:
    alert = make_alert()
    await apply_changes(pool, [Change("firing", firing(alert))])
    (row,), _ = await list_alerts(pool)
    assert await get_alert(pool, row.id, allowed_servers=[uuid.uuid4()]) is None
    acked = await acknowledge_alert(pool, row.id, "alice")
    assert acked is not None and acked.read and acked.acknowledged_by == "alice" and acked.acknowledged_at
    again = await acknowledge_alert(pool, row.id, "bob")
    assert again is not None and again.acknowledged_by == "alice"
    assert await acknowledge_alert(pool, uuid.uuid4(), "alice") is None
    fetched = await get_alert(pool, row.id)
    assert fetched == again


async def test_hand_resolve_holds_the_fingerprint_until_the_condition_clears(pool: asyncpg.Pool) -> None:
    alert = make_alert()
    await apply_changes(pool, [Change("firing", firing(alert))])
    (row,), _ = await list_alerts(pool)
    done = await resolve_alert(pool, row.id, "alice")
    assert done is not None and done.state == "resolved" and done.resolved_by == "alice" and done.hold
    assert await resolve_alert(pool, row.id, "alice") is None, "already resolved"
    assert await held_fingerprints(pool, [alert.fingerprint, "other"]) == {alert.fingerprint}
    # The engine, not yet aware, writes the alert again: refused while held.
    await apply_changes(pool, [Change("firing", firing(alert, T0 + 310))])
    assert (await list_alerts(pool, state="active"))[1] == 0
    snapshot = await load_engine_state(pool)
    assert snapshot.active == [] and [a.fingerprint for a in snapshot.held] == [alert.fingerprint]
    # The condition clears: the hold is lifted and a new episode may start.
    await apply_changes(pool, [Change("released", alert)])
    assert await held_fingerprints(pool, [alert.fingerprint]) == set()
    await apply_changes(pool, [Change("pending", replace(alert, active_since=T0 + 900))])
    assert (await list_alerts(pool, state="active"))[1] == 1


async def test_engine_state_restores_pending_and_firing_alerts(pool: asyncpg.Pool) -> None:
    pending, fired = make_alert("HighCpu"), firing(make_alert("ServerDown"))
    await apply_changes(pool, [Change("pending", pending), Change("firing", fired)])
    snapshot = await load_engine_state(pool)
    restored = {a.name: a for a in snapshot.active}
    assert restored["HighCpu"].state == "pending" and restored["HighCpu"].active_since == T0
    assert restored["ServerDown"] == fired
