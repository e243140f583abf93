"""The first administrator of a new installation, and the file holding its first password.

The password is generated, written to ``data_dir/initial-admin-password`` (mode 0600, so only the service's
user and root can read it) and never printed or logged: under systemd, standard output lands in the journal,
which other users may read. The account must choose a new password at its first login; the file is removed
as soon as it has one (or the account is gone).
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import asyncpg
import structlog

from api.passwords import generate_password, hash_password
from collector.storage.users import UserExistsError, count_users, create_user

log = structlog.get_logger(__name__)

FIRST_ADMIN = "admin"
INITIAL_PASSWORD_FILE = "initial-admin-password"  # noqa: S105 - a file name, not a password


def initial_password_path(data_dir: Path) -> Path:
    """Where the first administrator's generated password is kept until it is changed."""
    return data_dir / INITIAL_PASSWORD_FILE


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # A file left from an earlier installation may have other owners or modes: start from a new one.
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(text)


async def ensure_first_admin(pool: asyncpg.Pool, data_dir: Path) -> Path | None:
    """Create ``admin`` with a random password when there is no user at all; returns the password file.

    The file is written inside the account's transaction, so an account is never left with a password
    nobody can read. Returns None when any user exists (or another process created the account first).
    """
    if await count_users(pool):
        return None
    password = generate_password()
    password_hash = await asyncio.to_thread(hash_password, password)
    path = initial_password_path(data_dir)
    try:
        async with pool.acquire() as conn, conn.transaction():
            await create_user(conn, FIRST_ADMIN, password_hash, "admin", must_change_password=True)
            await asyncio.to_thread(_write_private, path, password + "\n")
    except UserExistsError:
        return None
    return path


def discard_initial_password(data_dir: Path) -> None:
    """Remove the first administrator's password file: the password was changed or the account deleted."""
    path = initial_password_path(data_dir)
    try:
        path.unlink()
    except FileNotFoundError:
        return
    log.info("removed the first administrator's password file", path=str(path))


async def discard_stale_initial_password(pool: asyncpg.Pool, data_dir: Path) -> None:
    """Remove the password file when the first administrator no longer has that password (changed through
    another process, or the account deleted)."""
    if not initial_password_path(data_dir).exists():
        return
    pending = await pool.fetchval("SELECT must_change_password FROM users WHERE username = $1", FIRST_ADMIN)
    if not pending:
        discard_initial_password(data_dir)
