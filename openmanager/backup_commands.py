"""The ``backup`` and ``restore`` subcommands: arguments, messages and exit status (:mod:`openmanager.backup`
does the work)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from pathlib import Path

import asyncpg

from collector.config.settings import Settings
from collector.secrets.keyring import SecretKeyError
from collector.storage.errors import StoreUnavailable
from openmanager.backup import BackupRefusedError, create_backup, restore_backup
from openmanager.backup_manifest import BackupInvalidError
from openmanager.pgtools import PgToolError

EXIT_OK, EXIT_PROBLEMS = 0, 1
BACKUP_HELP = "back up the database (pg_dump) with the keys and settings needed to read it"
RESTORE_HELP = "restore a backup into an empty database (--force: replace what is there)"
_FAILURES = (
    BackupRefusedError,
    BackupInvalidError,
    PgToolError,
    SecretKeyError,
    StoreUnavailable,
    asyncpg.PostgresError,
    OSError,
)
"""What stops a backup or restore with a message instead of a traceback (a refused login, a missing
database and an unreachable server included)."""


def add_parsers(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    with_config: Callable[[argparse.ArgumentParser], argparse.ArgumentParser],
) -> None:
    """Declare ``backup`` and ``restore``."""
    backup = with_config(sub.add_parser("backup", help=BACKUP_HELP))
    backup.add_argument("--to", type=Path, metavar="DIR", help="parent directory (default: backup.dir)")
    restore = with_config(sub.add_parser("restore", help=RESTORE_HELP))
    restore.add_argument("backup", type=Path, help="the backup's directory (openmanager-backup-…)")
    restore.add_argument("--force", action="store_true", help="empty a database that is not empty first")


def backup_command(settings: Settings, to: Path | None) -> int:
    """Run ``backup``: print the new backup's path; the exit status."""
    root = to if to is not None else settings.backup.backup_dir(settings.data_dir)
    try:
        path = asyncio.run(create_backup(settings, root))
    except _FAILURES as exc:
        sys.stderr.write(f"openmanager backup: not done: {exc}\n")
        return EXIT_PROBLEMS
    sys.stdout.write(
        f"{path}\nThe backup holds the keys that open the stored secrets: keep it as private as the keys.\n"
    )
    return EXIT_OK


def restore_command(settings: Settings, directory: Path, *, force: bool) -> int:
    """Run ``restore``: the schema level restored and what was done besides; the exit status."""
    try:
        report = asyncio.run(restore_backup(settings, directory, force=force))
    except _FAILURES as exc:
        sys.stderr.write(f"openmanager restore: not done: {exc}\n")
        return EXIT_PROBLEMS
    sys.stdout.write(f"restored {directory} (schema at migration {report.schema_version})\n")
    sys.stdout.write("".join(f"  {note}\n" for note in report.notes))
    return EXIT_OK
