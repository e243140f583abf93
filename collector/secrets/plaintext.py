"""The one-time step after migration 0016: seal the secrets stored in clear before it.

SQL cannot know the key, so the service (and ``openmanager migrate``) runs this right after the SQL
migrations. It only touches rows still in clear, so a second run finds nothing to do; rows are locked while
they are sealed, so two processes starting together seal each row once.
"""

from __future__ import annotations

import json

import asyncpg
import structlog
from asyncpg.pool import PoolConnectionProxy

from collector.alerts.notify.channels import parse_channel
from collector.alerts.notify.store import sealed_config
from collector.secrets.columns import TOTP_SECRET

log = structlog.get_logger(__name__)


async def seal_plaintext(
    conn: asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record],
) -> int:
    """Seal every TOTP secret and channel configuration still in clear; returns how many rows changed."""
    async with conn.transaction():
        users = await conn.fetch("SELECT id, totp_secret FROM users WHERE totp_secret IS NOT NULL FOR UPDATE")
        for row in users:
            await conn.execute(
                "UPDATE users SET totp_secret = NULL, totp_secret_sealed = $2 WHERE id = $1",
                row["id"],
                TOTP_SECRET.seal(row["id"], row["totp_secret"]),
            )
        channels = await conn.fetch(
            "SELECT id, config FROM notification_channels WHERE config_sealed IS NULL FOR UPDATE"
        )
        for row in channels:
            config = row["config"]
            redacted, sealed = sealed_config(
                row["id"], parse_channel(json.loads(config) if isinstance(config, str) else config)
            )
            await conn.execute(
                "UPDATE notification_channels SET config = $2::jsonb, config_sealed = $3 WHERE id = $1",
                row["id"],
                redacted,
                sealed,
            )
    changed = len(users) + len(channels)
    if changed:
        log.info("stored secrets sealed", totp_secrets=len(users), channels=len(channels))
    return changed
