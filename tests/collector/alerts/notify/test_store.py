"""The notifier's tables on a real PostgreSQL: channel CRUD with secrets kept, the log and the history."""

from __future__ import annotations

import json
import uuid

import asyncpg
import pytest

from collector.alerts.notify.channels import WebhookChannel, parse_channel, redact_channel
from collector.alerts.notify.dispatcher import LogEntry
from collector.alerts.notify.store import (
    ChannelExistsError,
    create_channel,
    delete_channel,
    delete_log_entry,
    get_channel,
    list_channels,
    list_notifications,
    load_log,
    record_notification,
    save_log_entry,
    update_channel,
)
from collector.secrets.columns import CHANNEL_CONFIG

from .support import T0

HOOK = {
    "kind": "webhook",
    "name": "hook",
    "url": "https://hooks.example/x",
    "headers": {"Authorization": "Bearer t0k"},
    "matchers": [{"name": "env", "op": "=~", "value": "prod|staging"}],
}


async def test_a_created_channel_reads_back_whole_with_its_secrets(pool: asyncpg.Pool) -> None:
    created = await create_channel(pool, parse_channel(HOOK))
    assert created.name == "hook" and created.kind == "webhook"
    fetched = await get_channel(pool, created.id)
    assert fetched == created
    assert isinstance(fetched.config, WebhookChannel)
    assert fetched.config.headers["Authorization"].get_secret_value() == "Bearer t0k"
    assert fetched.config.matchers[0].matches({"env": "staging"})
    assert [c.id for c in await list_channels(pool)] == [created.id]


async def test_a_taken_name_is_a_typed_conflict(pool: asyncpg.Pool) -> None:
    await create_channel(pool, parse_channel(HOOK))
    with pytest.raises(ChannelExistsError, match="'hook' already exists"):
        await create_channel(pool, parse_channel({**HOOK, "url": "https://other.example/"}))


async def test_a_new_channel_with_a_starred_secret_is_refused(pool: asyncpg.Pool) -> None:
    with pytest.raises(ValueError, match="cannot keep a stored secret"):
        await create_channel(pool, parse_channel({**HOOK, "headers": {"Authorization": "***"}}))


async def test_an_update_from_the_redacted_form_keeps_the_stored_secret(pool: asyncpg.Pool) -> None:
    created = await create_channel(pool, parse_channel(HOOK))
    shown = redact_channel(created.config)
    updated = await update_channel(pool, created.id, parse_channel({**shown, "group_wait_s": 5}))
    assert updated is not None and updated.config.group_wait_s == 5
    assert isinstance(updated.config, WebhookChannel)
    assert updated.config.headers["Authorization"].get_secret_value() == "Bearer t0k"
    assert updated.updated_at >= created.updated_at and updated.created_at == created.created_at


async def test_update_and_delete_of_an_unknown_id(pool: asyncpg.Pool) -> None:
    assert await update_channel(pool, uuid.uuid4(), parse_channel(HOOK)) is None
    assert await delete_channel(pool, uuid.uuid4()) is False


async def test_renaming_onto_another_channels_name_is_a_conflict(pool: asyncpg.Pool) -> None:
    await create_channel(pool, parse_channel(HOOK))
    other = await create_channel(pool, parse_channel({**HOOK, "name": "other"}))
    with pytest.raises(ChannelExistsError):
        await update_channel(pool, other.id, parse_channel(HOOK))


async def test_the_log_round_trips_and_goes_with_its_channel(pool: asyncpg.Pool) -> None:
    channel = await create_channel(pool, parse_channel(HOOK))
    entry = LogEntry(channel.id, '{alertname="A"}', frozenset({"f1", "f2"}), frozenset({"f3"}), T0)
    await save_log_entry(pool, entry)
    await save_log_entry(pool, LogEntry(channel.id, '{alertname="B"}', frozenset(), frozenset(), T0))
    newer = LogEntry(channel.id, '{alertname="A"}', frozenset({"f1"}), frozenset(), T0 + 60)
    await save_log_entry(pool, newer)
    assert sorted(await load_log(pool), key=lambda e: e.group_key) == [
        newer,
        LogEntry(channel.id, '{alertname="B"}', frozenset(), frozenset(), T0),
    ]
    await delete_log_entry(pool, channel.id, '{alertname="B"}')
    assert await load_log(pool) == [newer]
    assert await delete_channel(pool, channel.id)
    assert await load_log(pool) == []


async def test_a_log_entry_of_a_deleted_channel_is_not_stored(pool: asyncpg.Pool) -> None:
    await save_log_entry(pool, LogEntry(uuid.uuid4(), "{}", frozenset({"f"}), frozenset(), T0))
    assert await load_log(pool) == []


async def test_the_history_lists_newest_first_per_channel(pool: asyncpg.Pool) -> None:
    a = await create_channel(pool, parse_channel(HOOK))
    b = await create_channel(pool, parse_channel({**HOOK, "name": "b"}))
    for i, channel in enumerate((a, b, a)):
        await record_notification(
            pool,
            at_s=T0 + i,
            channel_id=channel.id,
            group_key="{}",
            status="firing",
            alerts=i + 1,
            ok=i != 2,
            attempts=1 + i,
            error="HTTP 400: nope" if i == 2 else None,
        )
    rows = await list_notifications(pool, channel_id=a.id)
    assert [(r.alerts, r.ok, r.error) for r in rows] == [(3, False, "HTTP 400: nope"), (1, True, None)]
    assert [r.alerts for r in await list_notifications(pool, limit=2)] == [3, 2]


async def test_a_stored_channel_that_no_longer_validates_is_left_out(pool: asyncpg.Pool) -> None:
    """A route matcher an older version accepted (a look-ahead, which Go's syntax has not) leaves that
    channel out, logged, and the others still deliver."""
    kept = await create_channel(pool, parse_channel({**HOOK, "name": "kept"}))
    broken = await create_channel(pool, parse_channel({**HOOK, "name": "broken"}))
    stale = {**HOOK, "name": "broken", "matchers": [{"name": "env", "op": "=~", "value": "prod(?!uction)"}]}
    await pool.execute(
        "UPDATE notification_channels SET config_sealed = $2 WHERE id = $1",
        broken.id,
        CHANNEL_CONFIG.seal(broken.id, json.dumps(stale)),
    )
    assert [c.id for c in await list_channels(pool)] == [kept.id]
