"""Fixtures of the storage tests: a pool on the run's migrated database."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from collector.config.settings import Settings
from collector.storage.connections import open_stores


@pytest.fixture
async def pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    """The PostgreSQL pool of the service's stores (migrated), on the run's shared database."""
    async with open_stores(settings) as stores:
        yield stores.pg
