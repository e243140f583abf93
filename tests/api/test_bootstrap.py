"""The first administrator is created once, on an empty users table."""

from __future__ import annotations

import asyncio

from api.bootstrap import ensure_first_admin
from api.passwords import verify_password
from collector.storage.connections import open_stores
from tests.conftest import SettingsFactory


async def test_first_admin_is_created_once_with_a_password_that_works(
    make_settings: SettingsFactory, fresh_pg_dsn: str
) -> None:
    async with open_stores(make_settings(postgres_dsn=fresh_pg_dsn)) as stores:
        results = await asyncio.gather(ensure_first_admin(stores.pg), ensure_first_admin(stores.pg))
        passwords = [p for p in results if p is not None]
        assert len(passwords) == 1
        row = await stores.pg.fetchrow("SELECT role, password_hash FROM users WHERE username = 'admin'")
        assert row is not None and row["role"] == "admin"
        assert verify_password(row["password_hash"], passwords[0])
        assert await ensure_first_admin(stores.pg) is None
