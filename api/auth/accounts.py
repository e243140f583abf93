"""The queries on ``users`` and ``server_grants`` that authentication and user management need."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import asyncpg

from collector.secrets.columns import TOTP_SECRET
from collector.storage.users import Role

_COLUMNS = """id, username, email, role, disabled, totp_secret_sealed IS NOT NULL AS totp_enabled,
              created_at, updated_at"""


@dataclass(frozen=True)
class Account:
    """A user as the API shows it: no password hash, no TOTP secret."""

    id: UUID
    username: str
    email: str | None
    role: Role
    disabled: bool
    totp_enabled: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Credentials:
    """What login needs to know about an account, secrets included; never leaves the auth layer."""

    id: UUID
    username: str
    role: Role
    disabled: bool
    password_hash: str
    totp_secret: str | None
    must_change_password: bool


@dataclass(frozen=True)
class SessionUser:
    """What the middleware checks on every request made with an access token."""

    username: str
    role: Role
    disabled: bool
    tokens_valid_after: datetime | None


def _account(row: asyncpg.Record) -> Account:
    return Account(
        row["id"],
        row["username"],
        row["email"],
        row["role"],
        row["disabled"],
        row["totp_enabled"],
        row["created_at"],
        row["updated_at"],
    )


_CREDENTIALS = "id, username, role, disabled, password_hash, totp_secret_sealed, must_change_password"


def _credentials(row: asyncpg.Record) -> Credentials:
    sealed = row["totp_secret_sealed"]
    return Credentials(
        row["id"],
        row["username"],
        row["role"],
        row["disabled"],
        row["password_hash"],
        None if sealed is None else TOTP_SECRET.open(row["id"], sealed),
        row["must_change_password"],
    )


async def credentials_by_name(pool: asyncpg.Pool, username: str) -> Credentials | None:
    """The account called ``username`` with its secrets, or None."""
    row = await pool.fetchrow(
        f"SELECT {_CREDENTIALS} FROM users WHERE username = $1",  # noqa: S608
        username,
    )
    return None if row is None else _credentials(row)


async def credentials_by_id(pool: asyncpg.Pool, user_id: UUID) -> Credentials | None:
    """The account ``user_id`` with its secrets, or None."""
    row = await pool.fetchrow(
        f"SELECT {_CREDENTIALS} FROM users WHERE id = $1",  # noqa: S608
        user_id,
    )
    return None if row is None else _credentials(row)


async def session_user(pool: asyncpg.Pool, user_id: UUID) -> SessionUser | None:
    """The current state of ``user_id`` for checking an access token, or None when it was deleted."""
    row = await pool.fetchrow(
        "SELECT username, role, disabled, tokens_valid_after FROM users WHERE id = $1", user_id
    )
    return None if row is None else SessionUser(*row.values())


async def get_account(pool: asyncpg.Pool, user_id: UUID) -> Account | None:
    """One account, or None."""
    row = await pool.fetchrow(f"SELECT {_COLUMNS} FROM users WHERE id = $1", user_id)  # noqa: S608
    return None if row is None else _account(row)


async def list_accounts(pool: asyncpg.Pool) -> list[Account]:
    """Every account, by name."""
    rows = await pool.fetch(f"SELECT {_COLUMNS} FROM users ORDER BY username")  # noqa: S608
    return [_account(row) for row in rows]


async def create_account(
    pool: asyncpg.Pool, username: str, password_hash: str, role: Role, email: str | None
) -> Account | None:
    """Insert an account; None when the name is taken."""
    try:
        row = await pool.fetchrow(
            f"""INSERT INTO users (username, password_hash, role, email) VALUES ($1, $2, $3, $4)
                RETURNING {_COLUMNS}""",  # noqa: S608
            username,
            password_hash,
            role,
            email,
        )
    except asyncpg.UniqueViolationError:
        return None
    assert row is not None
    return _account(row)


async def update_account(
    pool: asyncpg.Pool,
    user_id: UUID,
    *,
    role: Role | None = None,
    disabled: bool | None = None,
    email: str | None = None,
) -> Account | None:
    """Change the given fields (None leaves a field as it is); None when there is no such account."""
    row = await pool.fetchrow(
        f"""UPDATE users SET role = coalesce($2, role), disabled = coalesce($3, disabled),
                             email = coalesce($4, email), updated_at = now()
            WHERE id = $1 RETURNING {_COLUMNS}""",  # noqa: S608
        user_id,
        role,
        disabled,
        email,
    )
    return None if row is None else _account(row)


async def set_password_hash(pool: asyncpg.Pool, user_id: UUID, password_hash: str) -> None:
    """Store a new hash without touching sessions (a rehash with stronger parameters)."""
    await pool.execute(
        "UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1", user_id, password_hash
    )


async def delete_account(pool: asyncpg.Pool, user_id: UUID) -> bool:
    """Delete an account with its tokens and grants; False when there was none."""
    result: str = await pool.execute("DELETE FROM users WHERE id = $1", user_id)
    return result == "DELETE 1"


async def active_admins(pool: asyncpg.Pool) -> set[UUID]:
    """The ids of enabled admins (the last one must not be demoted, disabled or deleted)."""
    rows = await pool.fetch("SELECT id FROM users WHERE role = 'admin' AND NOT disabled")
    return {row["id"] for row in rows}


async def set_totp_secret(pool: asyncpg.Pool, user_id: UUID, secret: str | None) -> None:
    """Turn TOTP on with ``secret`` (stored sealed), or off with None."""
    sealed = None if secret is None else TOTP_SECRET.seal(user_id, secret)
    await pool.execute(
        "UPDATE users SET totp_secret = NULL, totp_secret_sealed = $2, updated_at = now() WHERE id = $1",
        user_id,
        sealed,
    )


async def server_grants(pool: asyncpg.Pool, user_id: UUID) -> set[UUID]:
    """The servers ``user_id`` was granted."""
    rows = await pool.fetch("SELECT server_id FROM server_grants WHERE user_id = $1", user_id)
    return {row["server_id"] for row in rows}


class UnknownServerError(Exception):
    """A grant named a server that does not exist."""


async def replace_grants(pool: asyncpg.Pool, user_id: UUID, server_ids: set[UUID]) -> None:
    """Make ``server_ids`` the complete set of ``user_id``'s grants."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("DELETE FROM server_grants WHERE user_id = $1", user_id)
        try:
            await conn.executemany(
                "INSERT INTO server_grants (user_id, server_id) VALUES ($1, $2)",
                [(user_id, server_id) for server_id in sorted(server_ids)],
            )
        except asyncpg.ForeignKeyViolationError:
            raise UnknownServerError from None
