"""Setting a password through the API: the rules it must pass, and what a new password ends.

A new password ends every session and revokes every API token of the account in one transaction
(:func:`~api.auth.sessions.end_all_sessions`), clears a required change, and removes the first
administrator's generated password file when the account is that administrator.
"""

from __future__ import annotations

import asyncio
from uuid import UUID

from aiohttp import web

from api.auth.sessions import end_all_sessions
from api.bootstrap import FIRST_ADMIN, discard_initial_password
from api.errors import ApiError
from api.keys import AUTH_CONFIG, SETTINGS, STORES
from api.passwords import check_password_strength, hash_password


def require_strong(password: str, *, username: str) -> str:
    """``password`` when it passes the rules for ``username``; else a 422 ``weak_password``."""
    problem = check_password_strength(password, username=username)
    if problem is not None:
        raise ApiError(422, problem, code="weak_password")
    return password


async def hash_new_password(password: str, *, username: str) -> str:
    """The argon2 hash of ``password`` once it passes the rules (checked first: a 422 costs no hashing)."""
    return await asyncio.to_thread(hash_password, require_strong(password, username=username))


async def store_new_password(request: web.Request, user_id: UUID, username: str, password_hash: str) -> None:
    """Make ``password_hash`` the account's password, ending its sessions and API tokens."""
    config = request.app[AUTH_CONFIG]
    await end_all_sessions(request.app[STORES].pg, user_id, now=config.clock(), password_hash=password_hash)
    if username == FIRST_ADMIN:
        discard_initial_password(request.app[SETTINGS].data_dir)
