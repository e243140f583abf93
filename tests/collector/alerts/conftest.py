"""The stores the alert engine's parts write to: this run's PostgreSQL and Redis, emptied of alert state."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from collector.config.settings import Settings
from collector.storage import keys
from collector.storage.connections import Stores, open_stores


@pytest.fixture
async def stores(settings: Settings) -> AsyncIterator[Stores]:
    """Both stores, without alerts, rules, silences, events or ``alerts:active``."""
    async with open_stores(settings) as opened:
        await opened.pg.execute(
            "DELETE FROM alerts; DELETE FROM alert_rules; DELETE FROM silences; DELETE FROM events"
        )
        await opened.redis.delete(keys.ALERTS_ACTIVE)
        yield opened


@pytest.fixture
def pool(stores: Stores) -> asyncpg.Pool:
    """This run's PostgreSQL pool, without alerts, rules, silences or events."""
    return stores.pg
