"""The first administrator of a new installation."""

from __future__ import annotations

import asyncpg

from api.passwords import generate_password, hash_password
from collector.storage.users import UserExistsError, count_users, create_user

FIRST_ADMIN = "admin"


async def ensure_first_admin(pool: asyncpg.Pool) -> str | None:
    """Create ``admin`` with a random password when there is no user at all; returns that password once.

    Returns None when any user exists (or another process created the account at the same moment).
    """
    if await count_users(pool):
        return None
    password = generate_password()
    try:
        await create_user(pool, FIRST_ADMIN, hash_password(password), "admin")
    except UserExistsError:
        return None
    return password
