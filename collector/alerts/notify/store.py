"""The notifier's tables: ``notification_channels`` (CRUD), ``notification_log`` and ``notifications``.

A channel is stored whole as validated JSON sealed under the secrets key (``config_sealed``, see
:mod:`collector.secrets.columns`); ``config`` keeps it with every secret as ``***``, so the table holds no
secret in clear. Whatever leaves the service must go through
:func:`~collector.alerts.notify.channels.redact_channel`. :func:`update_channel` keeps every secret that the
update gives as ``***``. The notification log holds, per channel and group, what was last sent (see
:mod:`collector.alerts.notify.dispatcher`); the ``notifications`` table is the history the API lists.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal
from uuid import UUID

import asyncpg
import structlog
from pydantic import ValidationError

from collector.alerts.notify.channels import (
    REDACTED,
    ChannelConfig,
    StoredChannel,
    has_redacted_secret,
    keep_secrets,
    parse_channel,
    redact_channel,
    reveal_channel,
)
from collector.alerts.notify.dispatcher import LogEntry
from collector.secrets.columns import CHANNEL_CONFIG

log = structlog.get_logger(__name__)

_CHANNEL_COLUMNS = "id, config_sealed, created_at, updated_at"


class ChannelExistsError(Exception):
    """Another channel has this name."""

    def __init__(self, name: str) -> None:
        super().__init__(f"a notification channel named {name!r} already exists")
        self.name = name


def _channel(row: asyncpg.Record) -> StoredChannel:
    return StoredChannel(
        id=row["id"],
        config=parse_channel(json.loads(CHANNEL_CONFIG.open(row["id"], row["config_sealed"]))),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _valid_channel(row: asyncpg.Record) -> StoredChannel | None:
    try:
        return _channel(row)
    except ValidationError as exc:
        # Stored by an older version that accepted it (a route matcher's look-ahead, before Go's syntax).
        log.error(
            "stored notification channel no longer valid, skipped", channel_id=str(row["id"]), error=str(exc)
        )
        return None


def sealed_config(channel_id: UUID, config: ChannelConfig) -> tuple[str, bytes]:
    """The ``config`` (redacted JSON) and ``config_sealed`` (the whole channel, sealed) of a row."""
    sealed = CHANNEL_CONFIG.seal(channel_id, json.dumps(reveal_channel(config)))
    return json.dumps(redact_channel(config)), sealed


async def list_channels(pool: asyncpg.Pool) -> list[StoredChannel]:
    """Every channel, by name (a stored channel that no longer validates is logged and left out)."""
    rows = await pool.fetch(f"SELECT {_CHANNEL_COLUMNS} FROM notification_channels ORDER BY name")  # noqa: S608
    return [channel for channel in map(_valid_channel, rows) if channel is not None]


async def get_channel(pool: asyncpg.Pool, channel_id: UUID) -> StoredChannel | None:
    """One channel, None when there is no such id."""
    row = await pool.fetchrow(
        f"SELECT {_CHANNEL_COLUMNS} FROM notification_channels WHERE id = $1",  # noqa: S608
        channel_id,
    )
    return None if row is None else _channel(row)


async def create_channel(pool: asyncpg.Pool, config: ChannelConfig) -> StoredChannel:
    """Store a new channel; :class:`ChannelExistsError` for a taken name, ValueError for a ``***`` secret."""
    if has_redacted_secret(config):
        raise ValueError(
            f"a new channel cannot keep a stored secret: give every secret instead of {REDACTED!r}"
        )
    channel_id = uuid.uuid4()
    try:
        row = await pool.fetchrow(
            f"""INSERT INTO notification_channels (id, name, kind, config, config_sealed)
                VALUES ($1, $2, $3, $4::jsonb, $5) RETURNING {_CHANNEL_COLUMNS}""",  # noqa: S608
            channel_id,
            config.name,
            config.kind,
            *sealed_config(channel_id, config),
        )
    except asyncpg.UniqueViolationError:
        raise ChannelExistsError(config.name) from None
    assert row is not None  # INSERT … RETURNING always answers one row
    return _channel(row)


async def update_channel(pool: asyncpg.Pool, channel_id: UUID, config: ChannelConfig) -> StoredChannel | None:
    """Replace a channel's configuration, keeping each secret given as ``***``; None when there is no such id.

    Raises :class:`ChannelExistsError` for a name taken by another channel and ValueError for a ``***`` secret
    that has no stored value (for example after a change of kind).
    """
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            f"SELECT {_CHANNEL_COLUMNS} FROM notification_channels WHERE id = $1 FOR UPDATE",  # noqa: S608
            channel_id,
        )
        if row is None:
            return None
        merged = keep_secrets(config, _channel(row).config)
        try:
            updated = await conn.fetchrow(
                f"""UPDATE notification_channels SET name = $2, kind = $3, config = $4::jsonb,
                    config_sealed = $5, updated_at = now() WHERE id = $1
                    RETURNING {_CHANNEL_COLUMNS}""",  # noqa: S608
                channel_id,
                merged.name,
                merged.kind,
                *sealed_config(channel_id, merged),
            )
        except asyncpg.UniqueViolationError:
            raise ChannelExistsError(merged.name) from None
    assert updated is not None
    return _channel(updated)


async def delete_channel(pool: asyncpg.Pool, channel_id: UUID) -> bool:
    """Remove a channel with its log and history; False when there was no such id."""
    status: str = await pool.execute("DELETE FROM notification_channels WHERE id = $1", channel_id)
    return status == "DELETE 1"


def _utc(unix_s: float) -> datetime:
    return datetime.fromtimestamp(unix_s, UTC)


async def load_log(pool: asyncpg.Pool) -> list[LogEntry]:
    """The whole notification log (one row per group that was notified and is not over)."""
    rows = await pool.fetch("SELECT channel_id, group_key, firing, resolved, sent_at FROM notification_log")
    return [
        LogEntry(
            row["channel_id"],
            row["group_key"],
            frozenset(row["firing"]),
            frozenset(row["resolved"]),
            row["sent_at"].timestamp(),
        )
        for row in rows
    ]


async def save_log_entry(pool: asyncpg.Pool, entry: LogEntry) -> None:
    """Insert or replace one group's log entry (a channel deleted meanwhile makes this a no-op)."""
    await pool.execute(
        """INSERT INTO notification_log (channel_id, group_key, firing, resolved, sent_at)
           SELECT $1, $2, $3, $4, $5 WHERE EXISTS (SELECT FROM notification_channels WHERE id = $1)
           ON CONFLICT (channel_id, group_key)
           DO UPDATE SET firing = EXCLUDED.firing, resolved = EXCLUDED.resolved,
                         sent_at = EXCLUDED.sent_at""",
        entry.channel_id,
        entry.group_key,
        sorted(entry.firing),
        sorted(entry.resolved),
        _utc(entry.sent_at),
    )


async def delete_log_entry(pool: asyncpg.Pool, channel_id: UUID, group_key: str) -> None:
    """Forget a group that is over."""
    await pool.execute(
        "DELETE FROM notification_log WHERE channel_id = $1 AND group_key = $2", channel_id, group_key
    )


@dataclass(frozen=True)
class NotificationRecord:
    """One row of the notification history."""

    id: int
    at: datetime
    channel_id: UUID
    group_key: str
    status: Literal["firing", "resolved"]
    alerts: int
    ok: bool
    attempts: int
    error: str | None


async def record_notification(
    pool: asyncpg.Pool,
    *,
    at_s: float,
    channel_id: UUID,
    group_key: str,
    status: Literal["firing", "resolved"],
    alerts: int,
    ok: bool,
    attempts: int,
    error: str | None,
) -> None:
    """Append one delivery's outcome to the history (a channel deleted meanwhile makes this a no-op)."""
    await pool.execute(
        """INSERT INTO notifications (at, channel_id, group_key, status, alerts, ok, attempts, error)
           SELECT $1, $2, $3, $4, $5, $6, $7, $8
           WHERE EXISTS (SELECT FROM notification_channels WHERE id = $2)""",
        _utc(at_s),
        channel_id,
        group_key,
        status,
        alerts,
        ok,
        attempts,
        error,
    )


async def list_notifications(
    pool: asyncpg.Pool, *, channel_id: UUID | None = None, limit: int = 100, offset: int = 0
) -> list[NotificationRecord]:
    """A page of the history, newest first, of one channel or of all."""
    rows = await pool.fetch(
        """SELECT id, at, channel_id, group_key, status, alerts, ok, attempts, error FROM notifications
           WHERE $1::uuid IS NULL OR channel_id = $1 ORDER BY at DESC, id DESC LIMIT $2 OFFSET $3""",
        channel_id,
        limit,
        offset,
    )
    return [NotificationRecord(**dict(row)) for row in rows]
