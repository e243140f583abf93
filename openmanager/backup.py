"""``openmanager backup`` and ``openmanager restore``: the database and the keys that read it.

A backup is a directory ``openmanager-backup-<UTC time>`` (mode 0700) holding ``database.dump`` (a
``pg_dump`` custom-format archive, one consistent snapshot of the database), ``secrets.key`` (the keys that
open the secrets sealed in it: without them TOTP secrets and channel credentials are lost),
``actions-signing-key.pem`` and ``jwt.secret`` where this installation has them in its data directory, the
settings file (``openmanager.yml``, for reference), and ``manifest.json``; every file is mode 0600. It is
written under a hidden ``.partial`` name and renamed when complete, so a directory with the final name is
always a whole backup.

A restore checks the manifest (every file's size and SHA-256, a schema not newer than this version knows),
refuses a database that holds any table unless ``force`` (then the ``public`` schema is emptied first),
restores the archive in one transaction, adds the backup's keys to the key file (after the keys in force,
which stay current) and applies the migrations the backup is older than.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import structlog

from api.auth.secret import SECRET_FILE_NAME as JWT_FILE_NAME
from collector.config.settings import Settings
from collector.embedded import embedded_stores
from collector.secrets import active
from collector.secrets.keyring import Keyring, encode_keys, read_key_file, write_key_file
from collector.storage.connections import migrate_and_seal
from collector.storage.migrate import available_migrations
from openmanager import pgtools
from openmanager.backup_manifest import (
    FORMAT_VERSION,
    MANIFEST_NAME,
    Manifest,
    describe,
    read_manifest,
    verify,
)

log = structlog.get_logger(__name__)

DUMP_NAME = "database.dump"
KEYS_NAME = "secrets.key"
SIGNING_KEY_NAME = "actions-signing-key.pem"
SETTINGS_NAME = "openmanager.yml"
NAME_PREFIX = "openmanager-backup-"
BACKUP_NAME = re.compile(r"^openmanager-backup-\d{8}T\d{6}Z(?:-\d+)?$")
"""The names this module gives backups: retention never touches anything else."""


class BackupRefusedError(RuntimeError):
    """A backup or restore that was not done: its message says why and what to do."""


@dataclass(frozen=True)
class RestoreReport:
    """What a restore did besides the database, for the operator to read."""

    schema_version: int
    notes: tuple[str, ...]


@contextlib.asynccontextmanager
async def database_dsn(settings: Settings, dsn: str | None = None) -> AsyncIterator[str]:
    """``dsn`` when given (the service's own), else the configured DSN, else the embedded server's
    (started for the block)."""
    configured = settings.postgres.dsn.get_secret_value() if settings.postgres.dsn is not None else None
    chosen = dsn if dsn is not None else configured
    if chosen is not None:
        yield chosen
        return
    async with embedded_stores(settings.data_dir, postgres=True, redis=False) as emb:
        assert emb.postgres_dsn is not None
        yield emb.postgres_dsn


def newest_migration() -> int:
    """The newest schema migration this version ships."""
    return max(m.version for m in available_migrations())


def _private_file(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())


def _side_files(settings: Settings) -> dict[str, Path]:
    """Files of the installation that go into a backup, by their name in it."""
    files = {SIGNING_KEY_NAME: settings.actions.key_path(settings.data_dir)}
    if settings.auth.jwt_secret is None:
        files[JWT_FILE_NAME] = settings.data_dir / JWT_FILE_NAME
    if settings.source != "(defaults)":
        files[SETTINGS_NAME] = Path(settings.source)
    return {name: path for name, path in files.items() if path.is_file()}


def _new_name(root: Path, now: datetime) -> str:
    base = NAME_PREFIX + now.strftime("%Y%m%dT%H%M%SZ")
    name, n = base, 1
    while (root / name).exists():
        name, n = f"{base}-{n}", n + 1
    return name


async def _server_facts(dsn: str) -> tuple[int, str, int | None]:
    """The server's major version and version text, and the schema's migration level (None: no schema)."""
    conn = await asyncpg.connect(dsn)
    try:
        version_num = int(await conn.fetchval("SELECT current_setting('server_version_num')"))
        version_text = str(await conn.fetchval("SELECT current_setting('server_version')"))
        has_schema = await conn.fetchval("SELECT to_regclass('public.schema_migrations') IS NOT NULL")
        level = await conn.fetchval("SELECT max(version) FROM schema_migrations") if has_schema else None
    finally:
        await conn.close()
    return version_num // 10000, version_text, level


async def create_backup(
    settings: Settings, root: Path, *, dsn: str | None = None, now: datetime | None = None
) -> Path:
    """Back up the database (``dsn``, else the configured one) and the keys into a new directory under
    ``root``; its path."""
    from api.app import package_version  # noqa: PLC0415 - the API's modules only when a backup runs

    created = now or datetime.now(UTC)
    async with database_dsn(settings, dsn) as url:
        major, server_version, level = await _server_facts(url)
        if level is None:
            raise BackupRefusedError("the database holds no OpenManager schema: nothing to back up")
        tools = await pgtools.find_tools(major, settings.backup.pg_bin_dir)
        await asyncio.to_thread(root.mkdir, mode=0o700, parents=True, exist_ok=True)
        name = _new_name(root, created)
        staging = root / f".{name}.partial"
        await asyncio.to_thread(staging.mkdir, mode=0o700)
        try:
            staging.chmod(0o700)  # mkdir's mode is filtered by the umask
            dump = staging / DUMP_NAME
            # Made 0600 first: pg_dump truncates and keeps the mode of a file that exists.
            _private_file(dump, b"")
            conn = pgtools.connection(url)
            argv = [str(tools.pg_dump), "--format=custom", "--no-password", f"--file={dump}"]
            await pgtools.run_tool([*argv, f"--dbname={conn.dbname}"], conn)
            _private_file(staging / KEYS_NAME, encode_keys(active.load(settings, create=False).keys).encode())
            for file_name, source in _side_files(settings).items():
                _private_file(staging / file_name, source.read_bytes())
            names = [p.name for p in staging.iterdir()]
            manifest = Manifest(
                format=FORMAT_VERSION,
                openmanager_version=package_version(),
                schema_version=int(level),
                created_at=created.isoformat(),
                server_version=server_version,
                pg_dump_major=tools.major,
                files=await asyncio.to_thread(describe, staging, names),
            )
            _private_file(staging / MANIFEST_NAME, manifest.to_json().encode())
            final = root / name
            staging.rename(final)
        except BaseException:
            await asyncio.to_thread(shutil.rmtree, staging, True)
            raise
    log.info("backup written", path=str(final), schema_version=level, pg_dump=tools.major)
    return final


def prune(root: Path, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` complete backups under ``root`` (only directories named as
    backups are; their names sort by time); the deleted paths, oldest first."""
    backups = sorted(
        path
        for path in root.iterdir()
        if path.is_dir() and BACKUP_NAME.match(path.name) and (path / MANIFEST_NAME).is_file()
    )
    removed = backups[: max(0, len(backups) - keep)]
    for path in removed:
        shutil.rmtree(path)
        log.info("old backup deleted", path=str(path))
    return removed


async def _tables_in(conn: asyncpg.Connection[asyncpg.Record]) -> int:
    count: int = await conn.fetchval(
        """SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
             AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'"""
    )
    return count


async def restore_backup(settings: Settings, directory: Path, *, force: bool = False) -> RestoreReport:
    """Restore the backup in ``directory`` into the configured database (see the module docstring)."""
    manifest = read_manifest(directory)
    await asyncio.to_thread(verify, directory, manifest, schema_version=newest_migration())
    backup_keys = read_key_file(directory / KEYS_NAME, create=False)
    async with database_dsn(settings) as dsn:
        major, _, _ = await _server_facts(dsn)
        tools = await pgtools.find_tools(max(major, manifest.pg_dump_major), settings.backup.pg_bin_dir)
        conn = await asyncpg.connect(dsn)
        try:
            tables = await _tables_in(conn)
            if tables and not force:
                raise BackupRefusedError(
                    f"the database is not empty ({tables} tables and other relations): restore into an empty "
                    "database, or give --force to replace everything in it"
                )
            if tables:
                log.warning("emptying the database before the restore", relations=tables)
                await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        finally:
            await conn.close()
        tool_conn = pgtools.connection(dsn)
        # One transaction: a restore that fails leaves the database as empty as it found it.
        argv = [str(tools.pg_restore), "--no-owner", "--no-privileges", "--exit-on-error", "--no-password"]
        argv += ["--single-transaction", f"--dbname={tool_conn.dbname}", str(directory / DUMP_NAME)]
        await pgtools.run_tool(argv, tool_conn)
        notes = [*_restore_keys(settings, backup_keys, directory), *_restore_side_files(settings, directory)]
        active.install(settings)
        conn = await asyncpg.connect(dsn)
        try:
            await migrate_and_seal(conn)
            level = int(await conn.fetchval("SELECT max(version) FROM schema_migrations"))
        finally:
            await conn.close()
    log.info("backup restored", path=str(directory), schema_version=level)
    return RestoreReport(schema_version=level, notes=tuple(notes))


def _restore_keys(settings: Settings, backup: Keyring, directory: Path) -> list[str]:
    path = settings.secrets.key_path(settings.data_dir)
    if path is None:
        inline = active.load(settings)
        missing = [k for k in backup.keys if k not in inline.keys]
        if not missing:
            return []
        return [
            f"the secrets keys are given inline (secrets.key): add the keys of {directory / KEYS_NAME} after "
            "yours, or the restored TOTP secrets and channel credentials cannot be opened"
        ]
    current = read_key_file(path, create=False).keys if path.exists() else ()
    added = tuple(k for k in backup.keys if k not in current)
    if not added:
        return []
    write_key_file(path, current + added)
    if not current:
        return [f"wrote the backup's secrets keys to {path}"]
    return [f"added the backup's {len(added)} secrets keys to {path}, after the current one"]


def _restore_side_files(settings: Settings, directory: Path) -> list[str]:
    notes = []
    targets = {SIGNING_KEY_NAME: settings.actions.key_path(settings.data_dir)}
    if settings.auth.jwt_secret is None:
        targets[JWT_FILE_NAME] = settings.data_dir / JWT_FILE_NAME
    for name, target in targets.items():
        source = directory / name
        if not source.is_file():
            continue
        if target.exists():
            if target.read_bytes() != source.read_bytes():
                notes.append(f"kept {target}, which differs from the backup's {name}")
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        _private_file(target, source.read_bytes())
        notes.append(f"restored {target}")
    if (directory / SETTINGS_NAME).is_file():
        notes.append(f"the settings file of the backed-up installation is {directory / SETTINGS_NAME}")
    return notes
