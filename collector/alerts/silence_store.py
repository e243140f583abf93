"""The ``silences`` table (migration ``0007_alerts.sql``): each silence's matchers as JSON and its times.

A stored silence that no longer validates (after an upgrade) is logged and left out, as a stored rule is.
Replacing or expiring a silence can be made conditional on its stored matchers (``if_matchers``), so that a
permission the API checked against the matchers it read still holds when the change is written.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from uuid import UUID

import asyncpg
import structlog
from pydantic import ValidationError

from collector.alerts.model import to_datetime
from collector.alerts.silences import Silence
from collector.matchers import Matcher

log = structlog.get_logger(__name__)

_SILENCE_COLUMNS = "id, matchers, starts_at, ends_at, created_by, comment"


class SilenceChangedError(Exception):
    """The silence's matchers are no longer those the caller's permission was checked against."""


def _silence(row: asyncpg.Record) -> Silence | None:
    try:
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
    except ValidationError as exc:
        # Stored by an older version that accepted it (a look-ahead before matchers followed Go's syntax).
        log.error("stored silence no longer valid, skipped", silence_id=str(row["id"]), error=str(exc))
        return None


async def list_silences(pool: asyncpg.Pool, *, not_ended_at: float | None = None) -> list[Silence]:
    """Silences, latest end first; with ``not_ended_at``, only those still active or to come at that time."""
    if not_ended_at is None:
        rows = await pool.fetch(f"SELECT {_SILENCE_COLUMNS} FROM silences ORDER BY ends_at DESC, id")  # noqa: S608
    else:
        rows = await pool.fetch(
            f"SELECT {_SILENCE_COLUMNS} FROM silences WHERE ends_at > $1 ORDER BY ends_at DESC, id",  # noqa: S608
            to_datetime(not_ended_at),
        )
    return [silence for silence in map(_silence, rows) if silence is not None]


async def get_silence(pool: asyncpg.Pool, silence_id: UUID) -> Silence | None:
    """One silence, or None."""
    row = await pool.fetchrow(f"SELECT {_SILENCE_COLUMNS} FROM silences WHERE id = $1", silence_id)  # noqa: S608
    return None if row is None else _silence(row)


def _silence_args(silence: Silence) -> tuple[object, ...]:
    return (
        silence.id,
        _matchers_json(silence.matchers),
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


def _matchers_json(matchers: Sequence[Matcher]) -> str:
    return json.dumps([m.model_dump() for m in matchers])


async def update_silence(
    pool: asyncpg.Pool, silence: Silence, *, if_matchers: Sequence[Matcher] | None = None
) -> Silence | None:
    """Replace the silence with ``silence.id``; None when there is none.

    With ``if_matchers``, only while the stored matchers are still those (a permission checked on them
    holds): otherwise :class:`SilenceChangedError`.
    """
    async with pool.acquire() as conn, conn.transaction():
        stored = await conn.fetchval("SELECT matchers FROM silences WHERE id = $1 FOR UPDATE", silence.id)
        if stored is None:
            return None
        if if_matchers is not None and json.loads(stored) != json.loads(_matchers_json(if_matchers)):
            raise SilenceChangedError(str(silence.id))
        row = await conn.fetchrow(
            f"""UPDATE silences SET matchers = $2::jsonb, starts_at = $3, ends_at = $4, created_by = $5,
                    comment = $6
                WHERE id = $1 RETURNING {_SILENCE_COLUMNS}""",  # noqa: S608
            *_silence_args(silence),
        )
    return None if row is None else _silence(row)


async def expire_silence(
    pool: asyncpg.Pool, silence_id: UUID, now: float, *, if_matchers: Sequence[Matcher] | None = None
) -> Silence | None:
    """End a silence at ``now`` (a silence that has not started yet ends before it starts: it is removed);
    None when there is none. A silence already over is returned unchanged. ``if_matchers`` is as for
    :func:`update_silence`."""
    at = to_datetime(now)
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            f"SELECT {_SILENCE_COLUMNS} FROM silences WHERE id = $1 FOR UPDATE",  # noqa: S608
            silence_id,
        )
        if row is None:
            return None
        if if_matchers is not None and json.loads(row["matchers"]) != json.loads(_matchers_json(if_matchers)):
            raise SilenceChangedError(str(silence_id))
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
