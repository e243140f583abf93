"""Rows stored in clear before migration 0016 are sealed once, at the first start after it."""

from __future__ import annotations

import json

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from api.auth.accounts import credentials_by_name
from collector.alerts.notify.channels import EmailChannel, WebhookChannel
from collector.alerts.notify.store import get_channel
from collector.secrets.plaintext import seal_plaintext
from collector.storage.connections import open_stores
from collector.storage.migrate import migrate
from tests.conftest import SettingsFactory

TOTP = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
HOOK_URL = "https://hooks.example.com/T0/legacy-token-3a7c"
SMTP_PASSWORD = "legacy-smtp-password-91f2"
CHANNELS: list[dict[str, object]] = [
    {
        "kind": "webhook",
        "name": "hook",
        "url": HOOK_URL,
        "headers": {"Authorization": "Bearer legacy-bearer"},
    },
    {
        "kind": "email",
        "name": "mail",
        "to": ["ops@example.com"],
        "from_address": "om@example.com",
        "smtp_host": "127.0.0.1",
        "username": "om",
        "password": SMTP_PASSWORD,
    },
]
SECRETS = (TOTP, HOOK_URL, "legacy-token-3a7c", SMTP_PASSWORD, "legacy-bearer")


async def _dump(conn: asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]) -> str:
    rows = await conn.fetch(
        "SELECT t::text AS line FROM users t UNION ALL SELECT t::text FROM notification_channels t"
    )
    return "\n".join(row["line"] for row in rows)


async def test_secrets_stored_in_clear_are_sealed_at_start_and_still_read(
    fresh_pg_dsn: str, make_settings: SettingsFactory
) -> None:
    conn = await asyncpg.connect(fresh_pg_dsn)
    try:
        await migrate(conn, up_to=15)
        await conn.execute(
            "INSERT INTO users (username, password_hash, role, totp_secret) VALUES ('old', 'x', 'admin', $1)",
            TOTP,
        )
        ids = []
        for channel in CHANNELS:
            ids.append(
                await conn.fetchval(
                    "INSERT INTO notification_channels (name, kind, config) VALUES ($1, $2, $3::jsonb) "
                    "RETURNING id",
                    channel["name"],
                    channel["kind"],
                    json.dumps(channel),
                )
            )
        before = await _dump(conn)
        assert all(secret in before for secret in SECRETS)
    finally:
        await conn.close()

    async with open_stores(make_settings(postgres_dsn=fresh_pg_dsn)) as stores:
        async with stores.pg.acquire() as pooled:
            dump = await _dump(pooled)
            assert await seal_plaintext(pooled) == 0  # a second run finds nothing in clear
        for secret in SECRETS:
            assert secret not in dump and secret.encode().hex() not in dump
        credentials = await credentials_by_name(stores.pg, "old")
        assert credentials is not None and credentials.totp_secret == TOTP
        hook, mail = [await get_channel(stores.pg, channel_id) for channel_id in ids]
        assert hook is not None and isinstance(hook.config, WebhookChannel)
        assert hook.config.url.get_secret_value() == HOOK_URL
        assert mail is not None and isinstance(mail.config, EmailChannel) and mail.config.password is not None
        assert mail.config.password.get_secret_value() == SMTP_PASSWORD
