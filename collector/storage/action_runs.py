"""The ``action_runs`` table: the history of remote actions per server.

A row is written when a request is decided (:func:`start_run` for one about to go to the exporter, with
outcome ``running``; :func:`record_refusal` for one refused here) and finished with :func:`finish_run`.
Outcomes: ``succeeded`` (exit code 0), ``failed`` (another exit code), ``timed_out`` (killed on the action's
timeout), ``refused`` (here or by the exporter; nothing ran), ``error`` (no usable answer from the
exporter: whether it ran is unknown).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal
from uuid import UUID

import asyncpg

Outcome = Literal["running", "succeeded", "failed", "timed_out", "refused", "error"]
OUTCOMES: Final[tuple[Outcome, ...]] = ("running", "succeeded", "failed", "timed_out", "refused", "error")


@dataclass(frozen=True)
class ActionRun:
    """One row of the history."""

    id: UUID
    server_id: UUID
    action: str
    params: dict[str, str]
    destructive: bool
    requested_by: str
    requested_by_name: str
    requested_at: datetime
    finished_at: datetime | None
    outcome: Outcome
    reason: str | None
    message: str | None
    exit_code: int | None
    duration_s: float | None
    stdout: str | None
    stderr: str | None
    truncated: bool


@dataclass(frozen=True)
class RunRequest:
    """Who asked what of which server."""

    server_id: UUID
    action: str
    params: Mapping[str, str]
    destructive: bool
    requested_by: str
    requested_by_name: str


@dataclass(frozen=True)
class RunEnd:
    """How a run ended."""

    outcome: Outcome
    reason: str | None = None
    message: str | None = None
    exit_code: int | None = None
    duration_s: float | None = None
    stdout: str | None = None
    stderr: str | None = None
    truncated: bool = False


_COLUMNS = """id, server_id, action, params, destructive, requested_by, requested_by_name, requested_at,
    finished_at, outcome, reason, message, exit_code, duration_s, stdout, stderr, truncated"""


async def start_run(pool: asyncpg.Pool, request: RunRequest) -> UUID:
    """Record a request about to be sent (outcome ``running``); its run id."""
    run_id: UUID = await pool.fetchval(
        """INSERT INTO action_runs (server_id, action, params, destructive, requested_by, requested_by_name,
               outcome)
           VALUES ($1, $2, $3::jsonb, $4, $5, $6, 'running') RETURNING id""",
        request.server_id,
        request.action,
        json.dumps(dict(request.params)),
        request.destructive,
        request.requested_by,
        request.requested_by_name,
    )
    return run_id


async def finish_run(pool: asyncpg.Pool, run_id: UUID, end: RunEnd) -> ActionRun:
    """Record how run ``run_id`` ended; the row as it is now."""
    row = await pool.fetchrow(
        f"""UPDATE action_runs SET finished_at = now(), outcome = $2, reason = $3, message = $4,
               exit_code = $5, duration_s = $6, stdout = $7, stderr = $8, truncated = $9
           WHERE id = $1 RETURNING {_COLUMNS}""",  # noqa: S608
        run_id,
        end.outcome,
        end.reason,
        end.message,
        end.exit_code,
        end.duration_s,
        end.stdout,
        end.stderr,
        end.truncated,
    )
    if row is None:
        raise LookupError(f"no action run {run_id} (its server was deleted meanwhile)")
    return _run(row)


async def record_refusal(
    pool: asyncpg.Pool, request: RunRequest, reason: str, message: str, *, outcome: Outcome = "refused"
) -> ActionRun:
    """Record a request stopped before anything was sent to run: ``refused``, or ``error`` when the exporter
    could not be asked what it offers."""
    run_id = await start_run(pool, request)
    return await finish_run(pool, run_id, RunEnd(outcome, reason=reason, message=message))


async def get_run(pool: asyncpg.Pool, server_id: UUID, run_id: UUID) -> ActionRun | None:
    """One run of ``server_id``."""
    row = await pool.fetchrow(
        f"SELECT {_COLUMNS} FROM action_runs WHERE id = $1 AND server_id = $2",  # noqa: S608
        run_id,
        server_id,
    )
    return None if row is None else _run(row)


async def list_runs(
    pool: asyncpg.Pool, server_id: UUID, *, limit: int, offset: int
) -> tuple[list[ActionRun], int]:
    """A page of ``server_id``'s runs, newest first, and how many there are."""
    total: int = await pool.fetchval("SELECT count(*) FROM action_runs WHERE server_id = $1", server_id)
    rows = await pool.fetch(
        f"""SELECT {_COLUMNS} FROM action_runs WHERE server_id = $1
            ORDER BY requested_at DESC, id DESC LIMIT $2 OFFSET $3""",  # noqa: S608
        server_id,
        limit,
        offset,
    )
    return [_run(row) for row in rows], total


def _run(row: asyncpg.Record) -> ActionRun:
    return ActionRun(
        id=row["id"],
        server_id=row["server_id"],
        action=row["action"],
        params=json.loads(row["params"]),
        destructive=row["destructive"],
        requested_by=row["requested_by"],
        requested_by_name=row["requested_by_name"],
        requested_at=row["requested_at"],
        finished_at=row["finished_at"],
        outcome=row["outcome"],
        reason=row["reason"],
        message=row["message"],
        exit_code=row["exit_code"],
        duration_s=row["duration_s"],
        stdout=row["stdout"],
        stderr=row["stderr"],
        truncated=row["truncated"],
    )
