"""The ``alerts`` table (migration ``0007_alerts.sql``): one row per episode of an alert.

An episode goes pending → firing → resolved, and at most one row per fingerprint is active (pending or
firing). The engine writes rows through :func:`apply_changes` and reads its state back at start with
:func:`load_engine_state`; the API lists, acknowledges and resolves them.

A manual resolve (:func:`resolve_alert`) marks the row ``hold``: the engine's writes for that fingerprint
are then refused until the engine has seen the condition clear (its ``resolved``, ``dropped`` or
``released`` change lifts the hold), so a hand-resolved alert never comes back on its own while the
problem lasts. After resolving by hand the API calls
:func:`~collector.alerts.config_listener.announce_config_change` so that the engine notices at once.

An alert's ``server_id`` column refers to ``servers``: the engine may see a server before the history
writer created its row, so writing an active alert first creates a minimal row for it when none exists
(as the history writer would). Where that is impossible (another row holds the job and address) the
column is left NULL; the ``server_id`` label always holds the id.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from uuid import UUID

import asyncpg

from collector.alerts.evaluator import Change
from collector.alerts.model import SERVER_ID, Alert, AlertState, Severity, to_datetime, to_seconds
from collector.storage.partitions import Connection
from collector.storage.server_rows import TargetRow, ensure_server_rows

StateFilter = Literal["pending", "firing", "resolved", "active"]
"""``active`` is pending or firing."""

_ALERT_COLUMNS = """id, server_id, type, title, message, read, timestamp, severity, state, fingerprint,
    rule_id, labels, annotations, value, started_at, fired_at, resolved_at, acknowledged_by, acknowledged_at,
    resolved_by, hold"""


@dataclass(frozen=True)
class AlertRecord:
    """One row of ``alerts``."""

    id: UUID
    server_id: UUID | None
    type: str
    """The rule's name."""
    title: str
    message: str
    read: bool
    """Acknowledged."""
    timestamp: datetime
    """The last change."""
    severity: Severity
    state: AlertState
    fingerprint: str | None
    rule_id: str | None
    labels: dict[str, str]
    annotations: dict[str, str]
    value: float | None
    started_at: datetime | None
    fired_at: datetime | None
    resolved_at: datetime | None
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    resolved_by: str | None
    hold: bool


def _record(row: asyncpg.Record) -> AlertRecord:
    values = dict(row.items())
    values["labels"] = json.loads(row["labels"])
    values["annotations"] = json.loads(row["annotations"])
    return AlertRecord(**values)


def record_to_alert(record: AlertRecord) -> Alert:
    """The engine's view of a stored alert."""
    server = record.labels.get(SERVER_ID)
    return Alert(
        fingerprint=record.fingerprint or str(record.id),
        rule_id=record.rule_id or record.type,
        server_id=UUID(server) if server else record.server_id,
        severity=record.severity,
        state=record.state,
        labels=record.labels,
        annotations=record.annotations,
        value=record.value,
        active_since=to_seconds(record.started_at) or to_seconds(record.timestamp) or 0.0,
        fired_at=to_seconds(record.fired_at),
        resolved_at=to_seconds(record.resolved_at),
    )


# --- alerts: the API's side ------------------------------------------------------------------------------


async def list_alerts(
    pool: asyncpg.Pool,
    *,
    state: StateFilter | None = None,
    severity: Severity | None = None,
    allowed_servers: Collection[UUID] | None = None,
    search: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[AlertRecord], int]:
    """A page of alerts, newest change first, and how many matched in all.

    ``allowed_servers`` None means every alert; otherwise only alerts of those servers. ``search`` is a
    case-insensitive substring of the title or message; ``since`` (inclusive) and ``until`` (exclusive)
    bound ``timestamp``.
    """
    conditions: list[str] = []
    args: list[object] = []

    def where(sql: str, value: object) -> None:
        args.append(value)
        conditions.append(sql.format(f"${len(args)}"))

    if state == "active":
        conditions.append("state <> 'resolved'")
    elif state is not None:
        where("state = {}", state)
    if severity is not None:
        where("severity = {}", severity)
    if allowed_servers is not None:
        where("server_id = ANY({}::uuid[])", list(allowed_servers))
    if search:
        escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        where("(title ILIKE {0} OR message ILIKE {0})", f"%{escaped}%")
    if since is not None:
        where("timestamp >= {}", since)
    if until is not None:
        where("timestamp < {}", until)
    # Only fixed condition texts are joined in; every value is a parameter.
    clause = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    total: int = await pool.fetchval(f"SELECT count(*) FROM alerts {clause}", *args)  # noqa: S608
    rows = await pool.fetch(
        f"""SELECT {_ALERT_COLUMNS} FROM alerts {clause}
            ORDER BY timestamp DESC, id LIMIT ${len(args) + 1} OFFSET ${len(args) + 2}""",  # noqa: S608
        *args,
        limit,
        offset,
    )
    return [_record(row) for row in rows], total


async def get_alert(
    pool: asyncpg.Pool, alert_id: UUID, *, allowed_servers: Collection[UUID] | None = None
) -> AlertRecord | None:
    """One alert, or None when it does not exist or its server is not among ``allowed_servers``."""
    row = await pool.fetchrow(f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE id = $1", alert_id)  # noqa: S608
    if row is None:
        return None
    record = _record(row)
    if allowed_servers is not None and record.server_id not in allowed_servers:
        return None
    return record


async def acknowledge_alert(pool: asyncpg.Pool, alert_id: UUID, by: str) -> AlertRecord | None:
    """Mark an alert read (acknowledged) by ``by``; None when it does not exist. Acknowledging again keeps
    the first acknowledgement."""
    row = await pool.fetchrow(
        f"""UPDATE alerts SET read = true,
                acknowledged_by = COALESCE(acknowledged_by, $2),
                acknowledged_at = COALESCE(acknowledged_at, now())
            WHERE id = $1 RETURNING {_ALERT_COLUMNS}""",  # noqa: S608
        alert_id,
        by,
    )
    return None if row is None else _record(row)


async def resolve_alert(pool: asyncpg.Pool, alert_id: UUID, by: str) -> AlertRecord | None:
    """Resolve an active alert by hand; None when it does not exist or is resolved already.

    The engine will not fire the alert again until its condition has cleared once; call
    :func:`announce_config_change` afterwards so that it notices at once.
    """
    row = await pool.fetchrow(
        f"""UPDATE alerts SET state = 'resolved', resolved_at = now(), resolved_by = $2, hold = true,
                timestamp = now()
            WHERE id = $1 AND state <> 'resolved' RETURNING {_ALERT_COLUMNS}""",  # noqa: S608
        alert_id,
        by,
    )
    return None if row is None else _record(row)


# --- alerts: the engine's side ---------------------------------------------------------------------------


@dataclass(frozen=True)
class EngineSnapshot:
    """What the engine restores at start: active alerts, and alerts resolved by hand still on hold."""

    active: list[Alert]
    held: list[Alert]


async def load_engine_state(pool: asyncpg.Pool) -> EngineSnapshot:
    """Active alerts and held (hand-resolved, condition not yet cleared) alerts, for the engine's restart."""
    rows = await pool.fetch(
        f"""SELECT DISTINCT ON (fingerprint) {_ALERT_COLUMNS} FROM alerts
            WHERE state <> 'resolved' OR hold
            ORDER BY fingerprint, (state <> 'resolved') DESC, timestamp DESC"""  # noqa: S608
    )
    active: list[Alert] = []
    held: list[Alert] = []
    for row in rows:
        record = _record(row)
        (active if record.state != "resolved" else held).append(record_to_alert(record))
    return EngineSnapshot(active, held)


async def held_fingerprints(pool: asyncpg.Pool, fingerprints: Collection[str]) -> set[str]:
    """Which of ``fingerprints`` were resolved by hand and are on hold."""
    if not fingerprints:
        return set()
    rows = await pool.fetch(
        "SELECT DISTINCT fingerprint FROM alerts WHERE hold AND fingerprint = ANY($1::text[])",
        list(fingerprints),
    )
    return {row["fingerprint"] for row in rows}


async def _upsert_active(conn: Connection, alert: Alert, at: datetime) -> None:
    if alert.server_id is not None:
        instance = alert.labels.get("instance", str(alert.server_id))
        await ensure_server_rows(
            conn, [TargetRow(alert.server_id, alert.labels.get("job", ""), instance, ())]
        )
    await conn.execute(
        """INSERT INTO alerts AS a (server_id, type, title, message, timestamp, severity, state, fingerprint,
                                   rule_id, labels, annotations, value, started_at, fired_at)
           SELECT (SELECT id FROM servers WHERE id = $1), $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb,
                  $11::jsonb, $12, $13, $14
           WHERE NOT EXISTS (SELECT 1 FROM alerts h WHERE h.fingerprint = $8 AND h.hold)
           ON CONFLICT (fingerprint) WHERE state <> 'resolved' DO UPDATE
               SET state = EXCLUDED.state, title = EXCLUDED.title, message = EXCLUDED.message,
                   timestamp = EXCLUDED.timestamp, severity = EXCLUDED.severity,
                   annotations = EXCLUDED.annotations, value = EXCLUDED.value,
                   fired_at = EXCLUDED.fired_at""",
        alert.server_id,
        alert.name,
        alert.title[:1024],
        alert.message,
        at,
        alert.severity,
        alert.state,
        alert.fingerprint,
        alert.rule_id,
        json.dumps(dict(alert.labels)),
        json.dumps(dict(alert.annotations)),
        alert.value,
        to_datetime(alert.active_since),
        to_datetime(alert.fired_at),
    )


async def apply_changes(pool: asyncpg.Pool, changes: Sequence[Change]) -> None:
    """Write the engine's changes, in order, in one transaction.

    ``pending`` / ``firing`` upsert the fingerprint's active row (refused while a hand resolve holds it);
    ``resolved`` closes it; ``dropped`` deletes a pending row that never fired; ``resolved``, ``dropped``
    and ``released`` lift a hold, since the condition has cleared.
    """
    if not changes:
        return
    async with pool.acquire() as conn, conn.transaction():
        for change in changes:
            alert = change.alert
            at = to_datetime(alert.resolved_at or alert.fired_at or alert.active_since)
            assert at is not None
            if change.kind in ("pending", "firing"):
                await _upsert_active(conn, alert, at)
                continue
            if change.kind == "resolved":
                await conn.execute(
                    """UPDATE alerts SET state = 'resolved', resolved_at = $2, timestamp = $2, value = $3
                       WHERE fingerprint = $1 AND state <> 'resolved'""",
                    alert.fingerprint,
                    at,
                    alert.value,
                )
            elif change.kind == "dropped":
                await conn.execute(
                    "DELETE FROM alerts WHERE fingerprint = $1 AND state = 'pending'", alert.fingerprint
                )
            await conn.execute(
                "UPDATE alerts SET hold = false WHERE fingerprint = $1 AND hold", alert.fingerprint
            )
