"""``openmanager backup`` and ``restore`` on real PostgreSQL: a restored database serves the same data."""

from __future__ import annotations

import json
import os
import stat
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from aiohttp import web

from api.app import create_app
from collector.alerts.notify.channels import WebhookChannel, parse_channel
from collector.alerts.notify.store import create_channel, get_channel
from collector.alerts.rule_store import create_rule
from collector.alerts.rules import Rule
from collector.config.settings import Settings, load_settings
from collector.ingest.backfill import backfill
from collector.secrets.keyring import read_key_file
from collector.storage.connections import open_stores
from collector.storage.migrate import migrate
from collector.storage.servers import NewServer, create_server
from openmanager.backup import (
    DUMP_NAME,
    KEYS_NAME,
    BackupRefusedError,
    create_backup,
    newest_migration,
    prune,
    restore_backup,
)
from openmanager.backup_manifest import MANIFEST_NAME, BackupInvalidError, read_manifest
from tests.api.app_client import serving
from tests.api.auth.conftest import AuthUser, Client, bearer, login, make_user
from tests.conftest import scratch_database

T_S = 1_700_000_000
HOOK_URL = "https://hooks.example.com/backup-token-5c1e"


@pytest.fixture
async def second_pg_dsn(pg_admin_dsn: str) -> AsyncIterator[str]:
    """Another empty database, the restore's target."""
    async with scratch_database(pg_admin_dsn) as dsn:
        yield dsn


def file_settings(dsn: str, redis_url: str, data_dir: Path, **extra: str) -> Settings:
    """Settings whose secrets key is the default key file of ``data_dir`` (as an installation has it)."""
    env = {
        "OM_POSTGRES_DSN": dsn,
        "OM_REDIS_URL": redis_url,
        "OM_DATA_DIR": str(data_dir),
        "OM_TARGETS": str(data_dir / "targets.yaml"),
        "OM_LOG_FORMAT": "json",
        **extra,
    }
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "targets.yaml").write_text("scrape_configs: []\n")
    return load_settings(None, env)


def history_payload(instance: str) -> bytes:
    lines = ["# TYPE node_load1 gauge"]
    lines += [f'node_load1{{job="node",instance="{instance}"}} {i / 4} {T_S + 15 * i}' for i in range(6)]
    lines.append("# EOF")
    return ("\n".join(lines) + "\n").encode()


async def populate(settings: Settings) -> tuple[str, uuid.UUID]:
    """Servers, users, a rule, history and a sealed channel; the admin's name and the channel's id."""
    async with open_stores(settings) as stores:
        pool = stores.pg
        admin = await make_user(pool, "admin")
        await make_user(pool, "viewer")
        await create_server(pool, NewServer("web-1", "192.0.2.10:9100", labels={"env": "prod"}))
        await create_server(pool, NewServer("db-1", "192.0.2.11:9100", tags=("db",)))
        await create_rule(
            pool, Rule(name="BackupCpu", kind="threshold", metric="cpu", threshold=91, for_s=60)
        )
        await backfill(pool, history_payload("192.0.2.12:9100"))
        channel = await create_channel(pool, parse_channel({"kind": "webhook", "name": "h", "url": HOOK_URL}))
    return admin.username, channel.id


async def served(settings: Settings, admin: str) -> dict[str, object]:
    """What the API answers on ``settings``' database, logged in as ``admin``."""
    app: web.Application = create_app(settings)
    async with serving(app) as client:
        headers = await admin_headers(client, admin)
        answers: dict[str, object] = {}
        query = {"query": "node_load1", "start": str(T_S), "end": str(T_S + 75), "step": "15"}
        for name, path, params in (
            ("servers", "/api/servers", {}),
            ("users", "/api/users", {}),
            ("rules", "/api/alerts/rules", {}),
            ("history", "/api/v1/query_range", query),
        ):
            response = await client.get(path, headers=headers, params=params)
            assert response.status == 200, await response.text()
            answers[name] = await response.json()
    return answers


async def admin_headers(client: Client, username: str) -> dict[str, str]:
    # The user is in the database already (restored, on the target): only its name and password are used.
    tokens = await login(client, AuthUser(uuid.uuid4(), username, "admin"))
    return bearer(tokens["access_token"])


async def test_a_restored_database_serves_the_same_servers_users_rules_and_history(
    fresh_pg_dsn: str, second_pg_dsn: str, redis_url: str, tmp_path: Path
) -> None:
    source = file_settings(fresh_pg_dsn, redis_url, tmp_path / "source")
    admin, channel_id = await populate(source)
    before = await served(source, admin)
    assert len(before["servers"]["servers"]) >= 2  # type: ignore[index]
    assert before["history"]["data"]["result"]  # type: ignore[index]

    backup = await create_backup(source, tmp_path / "backups")

    assert stat.S_IMODE(backup.stat().st_mode) == 0o700
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in backup.iterdir()} == {
        name: 0o600 for name in (DUMP_NAME, KEYS_NAME, MANIFEST_NAME, "jwt.secret")
    }
    manifest = read_manifest(backup)
    assert manifest.schema_version == newest_migration()

    target = file_settings(second_pg_dsn, redis_url, tmp_path / "target")
    report = await restore_backup(target, backup)
    assert report.schema_version == manifest.schema_version
    # The sealed secrets open with the keys the restore put in place.
    assert read_key_file(tmp_path / "target" / "secrets.key", create=False).keys == (
        read_key_file(tmp_path / "source" / "secrets.key", create=False).keys
    )
    async with open_stores(target) as stores:
        stored = await get_channel(stores.pg, channel_id)
        assert stored is not None and isinstance(stored.config, WebhookChannel)
        assert stored.config.url.get_secret_value() == HOOK_URL

    assert await served(target, admin) == before


@pytest.fixture
async def backup_of_source(fresh_pg_dsn: str, redis_url: str, tmp_path: Path) -> tuple[Settings, Path]:
    """A populated source database's settings, and a backup of it."""
    source = file_settings(fresh_pg_dsn, redis_url, tmp_path / "source")
    await populate(source)
    return source, await create_backup(source, tmp_path / "backups")


async def _relations(settings: Settings) -> int:
    assert settings.postgres.dsn is not None
    conn = await asyncpg.connect(settings.postgres.dsn.get_secret_value())
    try:
        count: int = await conn.fetchval(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')"
        )
    finally:
        await conn.close()
    return count


async def test_a_damaged_dump_is_refused_and_nothing_is_restored(
    backup_of_source: tuple[Settings, Path], second_pg_dsn: str, redis_url: str, tmp_path: Path
) -> None:
    _, backup = backup_of_source
    dump = backup / DUMP_NAME
    data = bytearray(dump.read_bytes())
    data[len(data) // 2] ^= 0xFF
    dump.write_bytes(bytes(data))
    target = file_settings(second_pg_dsn, redis_url, tmp_path / "target")

    with pytest.raises(BackupInvalidError, match="does not match its SHA-256"):
        await restore_backup(target, backup)
    assert await _relations(target) == 0
    assert not (tmp_path / "target" / "secrets.key").exists()


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda b: (b / KEYS_NAME).unlink(), "secrets.key is missing"),
        (lambda b: (b / "extra.sql").write_text("DROP TABLE users;"), "files not in the manifest: extra.sql"),
        (lambda b: (b / MANIFEST_NAME).unlink(), "not a whole backup"),
        (lambda b: (b / DUMP_NAME).write_bytes(b"short"), "the manifest says"),
    ],
)
async def test_an_incomplete_or_changed_backup_is_refused(
    backup_of_source: tuple[Settings, Path],
    second_pg_dsn: str,
    redis_url: str,
    tmp_path: Path,
    damage: Callable[[Path], object],
    message: str,
) -> None:
    _, backup = backup_of_source
    damage(backup)
    target = file_settings(second_pg_dsn, redis_url, tmp_path / "target")
    with pytest.raises(BackupInvalidError, match=message):
        await restore_backup(target, backup)
    assert await _relations(target) == 0


async def test_a_backup_of_a_newer_schema_is_refused(
    backup_of_source: tuple[Settings, Path], second_pg_dsn: str, redis_url: str, tmp_path: Path
) -> None:
    _, backup = backup_of_source
    manifest = json.loads((backup / MANIFEST_NAME).read_text())
    manifest["schema_version"] = newest_migration() + 1
    (backup / MANIFEST_NAME).write_text(json.dumps(manifest))
    target = file_settings(second_pg_dsn, redis_url, tmp_path / "target")
    with pytest.raises(BackupInvalidError, match=f"at migration {newest_migration() + 1}, newer than"):
        await restore_backup(target, backup)
    assert await _relations(target) == 0


async def test_a_database_that_is_not_empty_is_replaced_only_with_force(
    backup_of_source: tuple[Settings, Path],
) -> None:
    source, backup = backup_of_source
    async with open_stores(source) as stores:
        await stores.pg.execute("DELETE FROM alert_rules")
        await stores.pg.execute("CREATE TABLE not_in_the_backup (x int)")
        users = await stores.pg.fetchval("SELECT count(*) FROM users")
    with pytest.raises(BackupRefusedError, match="not empty"):
        await restore_backup(source, backup)
    async with open_stores(source) as stores:
        assert await stores.pg.fetchval("SELECT count(*) FROM alert_rules") == 0

    await restore_backup(source, backup, force=True)
    async with open_stores(source) as stores:
        assert await stores.pg.fetchval("SELECT count(*) FROM alert_rules WHERE name = 'BackupCpu'") == 1
        assert await stores.pg.fetchval("SELECT count(*) FROM users") == users
        assert await stores.pg.fetchval("SELECT to_regclass('public.not_in_the_backup')") is None


async def test_a_database_without_the_schema_is_not_backed_up(
    fresh_pg_dsn: str, redis_url: str, tmp_path: Path
) -> None:
    settings = file_settings(fresh_pg_dsn, redis_url, tmp_path / "data")
    with pytest.raises(BackupRefusedError, match="no OpenManager schema"):
        await create_backup(settings, tmp_path / "backups")
    assert not (tmp_path / "backups").exists()


def test_retention_keeps_the_newest_backups_and_nothing_else_is_touched(tmp_path: Path) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    names = [f"openmanager-backup-{(start + timedelta(days=d)).strftime('%Y%m%dT%H%M%SZ')}" for d in range(5)]
    for name in names:
        (tmp_path / name).mkdir()
        (tmp_path / name / MANIFEST_NAME).write_text("{}")
    unrelated = [tmp_path / "photos", tmp_path / ".openmanager-backup-20250101T000000Z.partial"]
    for path in unrelated:
        path.mkdir()
    incomplete = tmp_path / "openmanager-backup-20250101T000000Z"
    incomplete.mkdir()

    removed = prune(tmp_path, keep=2)

    assert [p.name for p in removed] == names[:3]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [*names[3:], "photos", unrelated[1].name, incomplete.name]
    )


async def test_two_backups_in_one_second_get_two_directories(
    fresh_pg_dsn: str, redis_url: str, tmp_path: Path
) -> None:
    settings = file_settings(fresh_pg_dsn, redis_url, tmp_path / "data")
    async with open_stores(settings):
        pass
    now = datetime(2026, 3, 1, 2, 30, tzinfo=UTC)
    first = await create_backup(settings, tmp_path / "b", now=now)
    second = await create_backup(settings, tmp_path / "b", now=now)
    assert (first.name, second.name) == ("openmanager-backup-20260301T023000Z", first.name + "-1")
    assert sorted(os.listdir(tmp_path / "b")) == [first.name, second.name]  # no partial directory left


async def test_a_backup_of_an_older_schema_is_restored_and_migrated(
    fresh_pg_dsn: str, second_pg_dsn: str, redis_url: str, tmp_path: Path
) -> None:
    older = newest_migration() - 1
    conn = await asyncpg.connect(fresh_pg_dsn)
    try:
        await migrate(conn, up_to=older)
    finally:
        await conn.close()
    source = file_settings(fresh_pg_dsn, redis_url, tmp_path / "source")
    read_key_file(tmp_path / "source" / "secrets.key", create=True)
    backup = await create_backup(source, tmp_path / "backups")
    assert read_manifest(backup).schema_version == older

    report = await restore_backup(file_settings(second_pg_dsn, redis_url, tmp_path / "target"), backup)
    assert report.schema_version == newest_migration()
