"""The ``action_runs`` table: a run recorded and finished, refusals, one server's page newest first, a run
read back only under its own server, and rows going with their server."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from collector.config.settings import Settings
from collector.storage.action_runs import (
    RunEnd,
    RunRequest,
    finish_run,
    get_run,
    list_runs,
    record_refusal,
    start_run,
)
from collector.storage.connections import open_stores


@pytest.fixture
async def pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    async with open_stores(settings) as stores:
        yield stores.pg


async def make_server(pool: asyncpg.Pool) -> uuid.UUID:
    server_id: uuid.UUID = await pool.fetchval(
        "INSERT INTO servers (name, hostname) VALUES ($1, $1) RETURNING id", f"host-{uuid.uuid4().hex[:8]}"
    )
    return server_id


def request(server_id: uuid.UUID, action: str = "restart") -> RunRequest:
    return RunRequest(server_id, action, {"unit": "app.service"}, True, "user-id", "ana")


async def test_a_run_is_running_until_finished_with_its_result(pool: asyncpg.Pool) -> None:
    server_id = await make_server(pool)
    run_id = await start_run(pool, request(server_id))
    running = await get_run(pool, server_id, run_id)
    assert running is not None and running.outcome == "running" and running.finished_at is None
    assert running.params == {"unit": "app.service"} and running.destructive
    end = RunEnd("failed", exit_code=3, duration_s=0.5, stdout="out", stderr="err", truncated=True)
    finished = await finish_run(pool, run_id, end)
    assert (finished.outcome, finished.exit_code, finished.stdout, finished.truncated) == (
        "failed",
        3,
        "out",
        True,
    )
    assert finished.finished_at is not None and finished.finished_at >= finished.requested_at


async def test_history_is_per_server_newest_first_with_refusals(pool: asyncpg.Pool) -> None:
    server_id, other = await make_server(pool), await make_server(pool)
    first = await start_run(pool, request(server_id, "status"))
    refused = await record_refusal(pool, request(server_id), "totp_required", "send a code")
    await start_run(pool, request(other))
    runs, total = await list_runs(pool, server_id, limit=10, offset=0)
    assert total == 2
    assert [run.id for run in runs] == [refused.id, first]
    assert (runs[0].outcome, runs[0].reason, runs[0].message) == ("refused", "totp_required", "send a code")
    page, _ = await list_runs(pool, server_id, limit=1, offset=1)
    assert [run.id for run in page] == [first]
    assert await get_run(pool, other, first) is None


async def test_runs_go_with_their_server(pool: asyncpg.Pool) -> None:
    server_id = await make_server(pool)
    run_id = await start_run(pool, request(server_id))
    await pool.execute("DELETE FROM servers WHERE id = $1", server_id)
    assert await get_run(pool, server_id, run_id) is None
    with pytest.raises(LookupError):
        await finish_run(pool, run_id, RunEnd("succeeded", exit_code=0))
