"""The first administrator: created once, on an empty users table, its password only in a private file."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

import pytest

from api.bootstrap import (
    FIRST_ADMIN,
    discard_stale_initial_password,
    ensure_first_admin,
    initial_password_path,
)
from api.passwords import verify_password
from collector.storage.connections import open_stores
from tests.conftest import SettingsFactory


async def test_first_admin_is_created_once_with_its_password_in_a_private_file(
    make_settings: SettingsFactory, fresh_pg_dsn: str, tmp_path: Path
) -> None:
    data_dir = tmp_path / "state"
    async with open_stores(make_settings(postgres_dsn=fresh_pg_dsn)) as stores:
        results = await asyncio.gather(
            ensure_first_admin(stores.pg, data_dir), ensure_first_admin(stores.pg, data_dir)
        )
        files = [path for path in results if path is not None]
        assert files == [initial_password_path(data_dir)]
        assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
        password = files[0].read_text().strip()
        row = await stores.pg.fetchrow(
            "SELECT role, password_hash, must_change_password FROM users WHERE username = $1", FIRST_ADMIN
        )
        assert row is not None and row["role"] == "admin" and row["must_change_password"]
        assert verify_password(row["password_hash"], password)
        assert await ensure_first_admin(stores.pg, data_dir) is None


async def test_a_file_left_by_an_earlier_installation_is_replaced_not_reused(
    make_settings: SettingsFactory, fresh_pg_dsn: str, tmp_path: Path
) -> None:
    stale = initial_password_path(tmp_path)
    stale.write_text("old password\n")
    stale.chmod(0o644)
    async with open_stores(make_settings(postgres_dsn=fresh_pg_dsn)) as stores:
        assert await ensure_first_admin(stores.pg, tmp_path) == stale
    assert stat.S_IMODE(stale.stat().st_mode) == 0o600
    assert stale.read_text() != "old password\n"


async def test_an_unwritable_data_directory_leaves_no_admin_behind(
    make_settings: SettingsFactory, fresh_pg_dsn: str, tmp_path: Path
) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    async with open_stores(make_settings(postgres_dsn=fresh_pg_dsn)) as stores:
        with pytest.raises(OSError):
            await ensure_first_admin(stores.pg, blocked)
        assert await stores.pg.fetchval("SELECT count(*) FROM users") == 0


@pytest.mark.parametrize(("must_change", "kept"), [(True, True), (False, False), (None, False)])
async def test_a_stale_password_file_is_removed_at_start(
    make_settings: SettingsFactory,
    fresh_pg_dsn: str,
    tmp_path: Path,
    must_change: bool | None,
    kept: bool,
) -> None:
    async with open_stores(make_settings(postgres_dsn=fresh_pg_dsn)) as stores:
        path = await ensure_first_admin(stores.pg, tmp_path)
        assert path is not None
        if must_change is None:
            await stores.pg.execute("DELETE FROM users WHERE username = $1", FIRST_ADMIN)
        else:
            await stores.pg.execute("UPDATE users SET must_change_password = $1", must_change)
        await discard_stale_initial_password(stores.pg, tmp_path)
    assert path.exists() is kept
