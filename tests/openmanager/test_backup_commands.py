"""``openmanager backup`` and ``openmanager restore`` as commands: paths printed, refusals as exit status 1
with the reason on stderr."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from collector.storage.connections import open_stores
from openmanager.cli import EXIT_OK, EXIT_PROBLEMS, main
from tests.conftest import SettingsFactory


async def _main(argv: list[str]) -> int:
    # The command runs its own event loop: run it off this test's loop.
    return await asyncio.to_thread(main, argv)


async def test_backup_then_restore_from_the_command_line(
    make_settings: SettingsFactory,
    fresh_pg_dsn: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = make_settings(postgres_dsn=fresh_pg_dsn)
    async with open_stores(settings) as stores:
        await stores.pg.execute("INSERT INTO servers (name, hostname) VALUES ('cli-1', 'cli-1')")
    assert settings.postgres.dsn is not None and settings.redis.url is not None
    assert settings.secrets.key is not None
    monkeypatch.setenv("OM_SECRETS_KEY", settings.secrets.key.get_secret_value())
    monkeypatch.setenv("OM_POSTGRES_DSN", settings.postgres.dsn.get_secret_value())
    monkeypatch.setenv("OM_REDIS_URL", settings.redis.url.get_secret_value())
    monkeypatch.setenv("OM_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("OM_LOG_FORMAT", "json")
    monkeypatch.setenv("OM_BACKUP_DIR", str(tmp_path / "default-dir"))
    capsys.readouterr()  # the log lines of opening the stores

    assert await _main(["backup"]) == EXIT_OK
    printed = Path(capsys.readouterr().out.splitlines()[0])
    assert printed.parent == tmp_path / "default-dir" and (printed / "manifest.json").is_file()
    assert await _main(["backup", "--to", str(tmp_path / "elsewhere")]) == EXIT_OK
    assert Path(capsys.readouterr().out.splitlines()[0]).parent == tmp_path / "elsewhere"

    assert await _main(["restore", str(printed)]) == EXIT_PROBLEMS
    assert "not empty" in capsys.readouterr().err
    assert await _main(["restore", "--force", str(printed)]) == EXIT_OK
    assert "schema at migration" in capsys.readouterr().out
    async with open_stores(settings) as stores:
        assert await stores.pg.fetchval("SELECT count(*) FROM servers WHERE name = 'cli-1'") == 1


async def test_restoring_what_is_not_a_backup_says_so(
    make_settings: SettingsFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = make_settings()
    assert settings.postgres.dsn is not None
    monkeypatch.setenv("OM_POSTGRES_DSN", settings.postgres.dsn.get_secret_value())
    monkeypatch.setenv("OM_DATA_DIR", str(settings.data_dir))
    assert await _main(["restore", str(tmp_path)]) == EXIT_PROBLEMS
    assert "manifest.json is missing" in capsys.readouterr().err


async def test_a_database_that_does_not_exist_is_a_message_not_a_traceback(
    make_settings: SettingsFactory,
    pg_admin_dsn: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = make_settings()
    missing = pg_admin_dsn.partition("?")[0].rsplit("/", 1)[0] + "/om_backup_no_such_database"
    monkeypatch.setenv("OM_POSTGRES_DSN", missing)
    monkeypatch.setenv("OM_DATA_DIR", str(settings.data_dir))
    assert await _main(["backup", "--to", str(tmp_path / "b")]) == EXIT_PROBLEMS
    assert 'database "om_backup_no_such_database" does not exist' in capsys.readouterr().err
