"""The ``users`` table: accounts of people and the roles they hold."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from uuid import UUID

import asyncpg

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


async def create_user(pool: asyncpg.Pool, username: str, password_hash: str, role: Role) -> User:
    """Insert a user; raises :class:`UserExistsError` when the name is taken."""
    try:
        row = await pool.fetchrow(
            """INSERT INTO users (username, password_hash, role) VALUES ($1, $2, $3)
               RETURNING id, username, role, disabled""",
            username,
            password_hash,
            role,
        )
    except asyncpg.UniqueViolationError:
        raise UserExistsError(username) from None
    assert row is not None
    return User(row["id"], row["username"], row["role"], row["disabled"])


async def count_users(pool: asyncpg.Pool) -> int:
    """How many accounts exist."""
    count: int = await pool.fetchval("SELECT count(*) FROM users")
    return count
