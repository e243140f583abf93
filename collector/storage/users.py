"""The ``users`` table: accounts of people and the roles they hold."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from uuid import UUID

import asyncpg
from asyncpg.pool import PoolConnectionProxy

Role = Literal["admin", "operator", "viewer"]
ROLES: tuple[Role, ...] = ("admin", "operator", "viewer")


@dataclass(frozen=True)
class User:
    """An account, without its secrets."""

    id: UUID
    username: str
    role: Role
    disabled: bool


class UserExistsError(Exception):
    """The username is taken."""


async def create_user(
    db: asyncpg.Pool | asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record],
    username: str,
    password_hash: str,
    role: Role,
    *,
    must_change_password: bool = False,
) -> User:
    """Insert a user through ``db`` (the pool, or a connection in a transaction) who must replace the
    password at first login when ``must_change_password``; raises :class:`UserExistsError` when the name is
    taken."""
    try:
        row = await db.fetchrow(
            """INSERT INTO users (username, password_hash, role, must_change_password) VALUES ($1, $2, $3, $4)
               RETURNING id, username, role, disabled""",
            username,
            password_hash,
            role,
            must_change_password,
        )
    except asyncpg.UniqueViolationError:
        raise UserExistsError(username) from None
    assert row is not None
    return User(row["id"], row["username"], row["role"], row["disabled"])


async def count_users(pool: asyncpg.Pool) -> int:
    """How many accounts exist."""
    count: int = await pool.fetchval("SELECT count(*) FROM users")
    return count
