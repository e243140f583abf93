"""The ``silences`` table on the real PostgreSQL: changes, expiry, and changes conditional on the matchers."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from collector.alerts.silence_store import (
    SilenceChangedError,
    create_silence,
    expire_silence,
    get_silence,
    list_silences,
    update_silence,
)
from collector.alerts.silences import Silence
from collector.matchers import Matcher

T0 = 1_800_000_000.0


async def test_silences_crud_and_expire(pool: asyncpg.Pool) -> None:
    now = T0
    silence = Silence(
        matchers=(Matcher(name="alertname", value="HighCpu"),),
        starts_at=now - 60,
        ends_at=now + 3600,
        created_by="alice",
        comment="deploy",
    )
    future = silence.model_copy(update={"id": uuid.uuid4(), "starts_at": now + 60})
    assert await create_silence(pool, silence) == silence
    await create_silence(pool, future)
    assert await get_silence(pool, silence.id) == silence
    longer = silence.model_copy(update={"ends_at": now + 7200, "comment": "longer"})
    assert await update_silence(pool, longer) == longer
    assert {s.id for s in await list_silences(pool, not_ended_at=now)} == {silence.id, future.id}
    expired = await expire_silence(pool, silence.id, now)
    assert expired is not None and expired.ends_at == now
    assert [s.id for s in await list_silences(pool, not_ended_at=now)] == [future.id]
    assert len(await list_silences(pool)) == 2
    assert await expire_silence(pool, future.id, now) is not None
    assert await get_silence(pool, future.id) is None, "a silence expired before it started is removed"
    assert await expire_silence(pool, uuid.uuid4(), now) is None


async def test_a_silence_changes_only_while_its_checked_matchers_are_stored(pool: asyncpg.Pool) -> None:
    now = T0
    own = (Matcher(name="server_id", value=str(uuid.UUID(int=1))),)
    silence = Silence(matchers=own, starts_at=now - 60, ends_at=now + 3600, created_by="op")
    await create_silence(pool, silence)
    widened = silence.model_copy(update={"matchers": (Matcher(name="alertname", value="HighCpu"),)})
    assert await update_silence(pool, widened) == widened
    # A caller allowed to change the silence as it was must not change it as it is now.
    with pytest.raises(SilenceChangedError):
        await update_silence(pool, silence, if_matchers=own)
    with pytest.raises(SilenceChangedError):
        await expire_silence(pool, silence.id, now, if_matchers=own)
    assert await get_silence(pool, silence.id) == widened
    assert await update_silence(pool, silence, if_matchers=widened.matchers) == silence
    expired = await expire_silence(pool, silence.id, now, if_matchers=own)
    assert expired is not None and expired.ends_at == now


async def test_a_stored_silence_that_no_longer_validates_is_left_out(pool: asyncpg.Pool) -> None:
    """A matcher an older version accepted (a look-ahead, which Go's syntax has not) does not stop the
    listing of the others."""
    kept, broken = (
        Silence(
            matchers=(Matcher(name="alertname", value=name),),
            starts_at=T0,
            ends_at=T0 + 3600,
            created_by="alice",
            comment=name,
        )
        for name in ("Kept", "Broken")
    )
    await create_silence(pool, kept)
    await create_silence(pool, broken)
    await pool.execute(
        "UPDATE silences SET matchers = $2 WHERE id = $1",
        broken.id,
        '[{"name": "alertname", "op": "=~", "value": "High(?!Cpu)"}]',
    )
    assert [s.id for s in await list_silences(pool)] == [kept.id]
    assert await get_silence(pool, broken.id) is None
