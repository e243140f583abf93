"""Versioned SQL migrations, applied in order at start-up under a PostgreSQL advisory lock.

Migrations are the files ``migrations/NNNN_name.sql`` shipped with this package. Each is applied in its own
transaction together with its row in ``schema_migrations``, so a failed migration leaves nothing half done.
The advisory lock serialises collectors that start at the same moment: the second waits, then finds every
migration applied and does nothing.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources

import asyncpg
import structlog
from asyncpg.pool import PoolConnectionProxy

log = structlog.get_logger(__name__)

# An arbitrary constant shared by every OpenManager process: "OMMIGRAT" as a 64-bit integer.
MIGRATION_LOCK_ID = 0x4F4D4D4947524154

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    """One versioned schema change."""

    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        """SHA-256 of the SQL text, recorded to notice an applied migration that was edited later."""
        return hashlib.sha256(self.sql.encode()).hexdigest()


def available_migrations() -> list[Migration]:
    """The migrations shipped with the package, in version order."""
    found = []
    for entry in resources.files("collector.storage").joinpath("migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), match.group(2), entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"two migrations share a version number: {versions}")
    return found


class MigrationMismatchError(RuntimeError):
    """An applied migration's SQL differs from the shipped file: the schema is not what the code expects."""


async def migrate(
    conn: asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record],
    *,
    up_to: int | None = None,
) -> list[int]:
    """Apply every pending migration (up to version ``up_to``); returns the versions applied by this call."""
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_ID)
    try:
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version    integer PRIMARY KEY,
                   name       text NOT NULL,
                   checksum   text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now()
               )"""
        )
        rows = await conn.fetch("SELECT version, checksum FROM schema_migrations")
        applied = {row["version"]: row["checksum"] for row in rows}
        done: list[int] = []
        for migration in available_migrations():
            if up_to is not None and migration.version > up_to:
                break
            if migration.version in applied:
                if applied[migration.version] != migration.checksum:
                    raise MigrationMismatchError(
                        f"migration {migration.version:04d}_{migration.name} was changed after it was applied"
                    )
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                    migration.version,
                    migration.name,
                    migration.checksum,
                )
            log.debug("migration applied", version=migration.version, migration=migration.name)
            done.append(migration.version)
        if done:
            log.info("schema migrated", applied=len(done), schema_version=done[-1])
        return done
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_ID)
