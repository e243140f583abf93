"""PostgreSQL storage of alerts, alert rules and silences (migration ``0007_alerts.sql``).

``alerts`` holds one row per episode of an alert (pending → firing → resolved), at most one active
(pending or firing) row per fingerprint. The engine writes rows through :func:`apply_changes` and reads its
state back at start with :func:`load_engine_state`; the API lists, acknowledges and resolves them.

A manual resolve (:func:`resolve_alert`) marks the row ``hold``: the engine's writes for that fingerprint
are then refused until the engine has seen the condition clear (its ``resolved``, ``dropped`` or
``released`` change lifts the hold), so a hand-resolved alert never comes back on its own while the
problem lasts. After changing rules or silences, or resolving by hand, the API calls
:func:`announce_config_change` so that the engine reloads at once instead of within a few seconds.

An alert's ``server_id`` column refers to ``servers``: the engine may see a server before the history
writer created its row, so writing an active alert first creates a minimal row for it when none exists
(as the history writer would). Where that is impossible (another row holds the job and address) the
column is left NULL; the ``server_id`` label always holds the id.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal
from uuid import UUID

import asyncpg
import redis.asyncio as aioredis
import structlog
from pydantic import ValidationError

from collector.alerts.evaluator import Change
from collector.alerts.model import SERVER_ID, Alert, AlertState, Severity
from collector.alerts.rules import Rule
from collector.alerts.silences import Silence
from collector.storage import keys
from collector.storage.history import instance_host
from collector.storage.partitions import Connection

log = structlog.get_logger(__name__)

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


class RuleConflictError(Exception):
    """A rule with this id, or with this name and scope, exists already."""


def to_datetime(t: float | None) -> datetime | None:
    """Unix seconds as an aware datetime."""
    return None if t is None else datetime.fromtimestamp(t, UTC)


def to_seconds(at: datetime | None) -> float | None:
    """An aware datetime as Unix seconds."""
    return None if at is None else at.timestamp()


def _record(row: asyncpg.Record) -> AlertRecord:
    return AlertRecord(
        id=row["id"],
        server_id=row["server_id"],
        type=row["type"],
        title=row["title"],
        message=row["message"],
        read=row["read"],
        timestamp=row["timestamp"],
        severity=row["severity"],
        state=row["state"],
        fingerprint=row["fingerprint"],
        rule_id=row["rule_id"],
        labels=json.loads(row["labels"]),
        annotations=json.loads(row["annotations"]),
        value=row["value"],
        started_at=row["started_at"],
        fired_at=row["fired_at"],
        resolved_at=row["resolved_at"],
        acknowledged_by=row["acknowledged_by"],
        acknowledged_at=row["acknowledged_at"],
        resolved_by=row["resolved_by"],
        hold=row["hold"],
    )


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


async def _ensure_server(conn: Connection, alert: Alert) -> None:
    if alert.server_id is None:
        return
    job = alert.labels.get("job", "")
    instance = alert.labels.get("instance", str(alert.server_id))
    host = instance_host(instance)
    await conn.execute(
        """INSERT INTO servers (id, name, hostname, job, address)
           SELECT $1, $2, $2, $3, $4
           WHERE NOT EXISTS (SELECT 1 FROM servers o WHERE o.job = $3 AND o.address = $4 AND o.id <> $1)
           ON CONFLICT DO NOTHING""",
        alert.server_id,
        host,
        job,
        instance,
    )


async def _upsert_active(conn: Connection, alert: Alert, at: datetime) -> None:
    await _ensure_server(conn, alert)
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


# --- rules -----------------------------------------------------------------------------------------------


def _rule(row: asyncpg.Record) -> Rule | None:
    definition = json.loads(row["definition"])
    try:
        return Rule.model_validate({**definition, "id": row["id"], "source": row["source"]})
    except ValidationError as exc:
        log.error("stored alert rule no longer valid, skipped", rule_id=row["id"], error=str(exc))
        return None


def _definition(rule: Rule) -> str:
    return rule.model_dump_json(exclude={"source"})


async def list_rules(pool: asyncpg.Pool) -> list[Rule]:
    """Every stored rule, by name then id (rules that no longer validate are logged and left out)."""
    rows = await pool.fetch("SELECT id, source, definition FROM alert_rules ORDER BY name, id")
    return [rule for rule in map(_rule, rows) if rule is not None]


async def get_rule(pool: asyncpg.Pool, rule_id: str) -> Rule | None:
    """One rule, or None."""
    row = await pool.fetchrow("SELECT id, source, definition FROM alert_rules WHERE id = $1", rule_id)
    return None if row is None else _rule(row)


async def create_rule(pool: asyncpg.Pool, rule: Rule) -> Rule:
    """Store a new rule; raises :class:`RuleConflictError` when its id, or its name and scope, are taken."""
    try:
        await pool.execute(
            """INSERT INTO alert_rules (id, name, scope, source, enabled, definition)
               VALUES ($1, $2, $3, $4, $5, $6::jsonb)""",
            rule.id,
            rule.name,
            rule.scope,
            rule.source,
            rule.enabled,
            _definition(rule),
        )
    except asyncpg.UniqueViolationError:
        raise RuleConflictError(
            f"a rule named {rule.name!r} with scope {rule.scope!r} or id {rule.id!r} exists"
        ) from None
    return rule


async def update_rule(pool: asyncpg.Pool, rule: Rule) -> Rule | None:
    """Replace the stored rule with ``rule.id`` (its source is kept); None when there is none.

    Raises :class:`RuleConflictError` when the new name and scope are another rule's.
    """
    try:
        row = await pool.fetchrow(
            """UPDATE alert_rules SET name = $2, scope = $3, enabled = $4, definition = $5::jsonb,
                   updated_at = now()
               WHERE id = $1 RETURNING id, source, definition""",
            rule.id,
            rule.name,
            rule.scope,
            rule.enabled,
            _definition(rule),
        )
    except asyncpg.UniqueViolationError:
        raise RuleConflictError(f"a rule named {rule.name!r} with scope {rule.scope!r} exists") from None
    return None if row is None else _rule(row)


async def delete_rule(pool: asyncpg.Pool, rule_id: str) -> bool:
    """Delete a rule; False when there was none. Its alerts resolve at the engine's next evaluation."""
    result: str = await pool.execute("DELETE FROM alert_rules WHERE id = $1", rule_id)
    return result.endswith(" 1")


@dataclass(frozen=True)
class SeedOutcome:
    """What :func:`seed_rules` did."""

    defaults_inserted: int
    file_rules_upserted: int


async def seed_rules(pool: asyncpg.Pool, defaults: Iterable[Rule], file_rules: Iterable[Rule]) -> SeedOutcome:
    """At start: the defaults into an empty ``alert_rules``; a rules file's rules upserted by name and scope.

    A file rule replaces the stored rule of the same name and scope (keeping its id) and is marked as
    coming from the file.
    """
    inserted = upserted = 0
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("LOCK TABLE alert_rules IN SHARE ROW EXCLUSIVE MODE")
        if await conn.fetchval("SELECT NOT EXISTS (SELECT 1 FROM alert_rules)"):
            for rule in defaults:
                await conn.execute(
                    """INSERT INTO alert_rules (id, name, scope, source, enabled, definition)
                       VALUES ($1, $2, $3, 'default', $4, $5::jsonb) ON CONFLICT DO NOTHING""",
                    rule.id,
                    rule.name,
                    rule.scope,
                    rule.enabled,
                    _definition(rule),
                )
                inserted += 1
        for rule in file_rules:
            await conn.execute(
                """INSERT INTO alert_rules (id, name, scope, source, enabled, definition)
                   VALUES ($1, $2, $3, 'file', $4, $5::jsonb)
                   ON CONFLICT (name, scope) DO UPDATE
                       SET source = 'file', enabled = EXCLUDED.enabled, definition = EXCLUDED.definition,
                           updated_at = now()""",
                rule.id,
                rule.name,
                rule.scope,
                rule.enabled,
                _definition(rule),
            )
            upserted += 1
    return SeedOutcome(inserted, upserted)


# --- silences --------------------------------------------------------------------------------------------


def _silence(row: asyncpg.Record) -> Silence:
    return Silence.model_validate(
        {
            "id": row["id"],
            "matchers": json.loads(row["matchers"]),
            "starts_at": row["starts_at"].timestamp(),
            "ends_at": row["ends_at"].timestamp(),
            "created_by": row["created_by"],
            "comment": row["comment"],
        }
    )


_SILENCE_COLUMNS = "id, matchers, starts_at, ends_at, created_by, comment"


async def list_silences(pool: asyncpg.Pool, *, not_ended_at: float | None = None) -> list[Silence]:
    """Silences, latest end first; with ``not_ended_at``, only those still active or to come at that time."""
    if not_ended_at is None:
        rows = await pool.fetch(f"SELECT {_SILENCE_COLUMNS} FROM silences ORDER BY ends_at DESC, id")  # noqa: S608
    else:
        rows = await pool.fetch(
            f"SELECT {_SILENCE_COLUMNS} FROM silences WHERE ends_at > $1 ORDER BY ends_at DESC, id",  # noqa: S608
            to_datetime(not_ended_at),
        )
    return [_silence(row) for row in rows]


async def get_silence(pool: asyncpg.Pool, silence_id: UUID) -> Silence | None:
    """One silence, or None."""
    row = await pool.fetchrow(f"SELECT {_SILENCE_COLUMNS} FROM silences WHERE id = $1", silence_id)  # noqa: S608
    return None if row is None else _silence(row)


def _silence_args(silence: Silence) -> tuple[object, ...]:
    return (
        silence.id,
        json.dumps([m.model_dump() for m in silence.matchers]),
        to_datetime(silence.starts_at),
        to_datetime(silence.ends_at),
        silence.created_by,
        silence.comment,
    )


async def create_silence(pool: asyncpg.Pool, silence: Silence) -> Silence:
    """Store a new silence."""
    await pool.execute(
        f"INSERT INTO silences ({_SILENCE_COLUMNS}) VALUES ($1, $2::jsonb, $3, $4, $5, $6)",  # noqa: S608
        *_silence_args(silence),
    )
    return silence


async def update_silence(pool: asyncpg.Pool, silence: Silence) -> Silence | None:
    """Replace the silence with ``silence.id``; None when there is none."""
    row = await pool.fetchrow(
        f"""UPDATE silences SET matchers = $2::jsonb, starts_at = $3, ends_at = $4, created_by = $5,
                comment = $6
            WHERE id = $1 RETURNING {_SILENCE_COLUMNS}""",  # noqa: S608
        *_silence_args(silence),
    )
    return None if row is None else _silence(row)


async def expire_silence(pool: asyncpg.Pool, silence_id: UUID, now: float) -> Silence | None:
    """End a silence at ``now`` (a silence that has not started yet ends before it starts: it is removed);
    None when there is none. A silence already over is returned unchanged."""
    at = to_datetime(now)
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            f"SELECT {_SILENCE_COLUMNS} FROM silences WHERE id = $1 FOR UPDATE",  # noqa: S608
            silence_id,
        )
        if row is None:
            return None
        if row["ends_at"] <= at:
            return _silence(row)
        if row["starts_at"] >= at:
            await conn.execute("DELETE FROM silences WHERE id = $1", silence_id)
            return _silence(row)
        row = await conn.fetchrow(
            f"UPDATE silences SET ends_at = $2 WHERE id = $1 RETURNING {_SILENCE_COLUMNS}",  # noqa: S608
            silence_id,
            at,
        )
    assert row is not None
    return _silence(row)


async def announce_config_change(redis: aioredis.Redis) -> None:
    """Tell the engine that rules, silences or hand resolves changed, so it reloads now."""
    await redis.publish(keys.channel(keys.ALERTS_CONFIG, redis), b"changed")
