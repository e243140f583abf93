"""API tokens: ``om_…`` bearer tokens for scripts, stored as SHA-256, scoped to a role, always expiring.

A token may also carry scopes, capabilities its role alone does not give: ``write`` lets it push samples to
the remote-write receiver, ``mcp`` lets it call the MCP server's read-only tools (``/mcp`` and
``openmanager mcp``). A token without scopes can do what its role allows, nothing more.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import UUID

import asyncpg

from api.auth.roles import lower_role
from api.auth.tokens import new_api_token, token_hash
from collector.storage.users import Role

MCP_SCOPE = "mcp"
"""The scope an API token needs for the MCP server (:mod:`api.mcp`)."""
LAST_USED_RESOLUTION = timedelta(minutes=1)
"""``last_used_at`` is rewritten at most this often, so busy scripts do not write on every request."""

_COLUMNS = "id, user_id, name, role, created_at, last_used_at, expires_at, scopes"


@dataclass(frozen=True)
class ApiToken:
    """An API token's record; the token itself is never stored."""

    id: UUID
    user_id: UUID
    name: str
    role: Role
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime
    scopes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class TokenOwner:
    """Who an API token acts for, and with which role."""

    token_id: UUID
    user_id: UUID
    username: str
    role: Role
    scopes: frozenset[str] = frozenset()


async def create_api_token(  # noqa: PLR0917 - scopes came last, after the positional form was in use
    pool: asyncpg.Pool,
    user_id: UUID,
    name: str,
    role: Role,
    expires_at: datetime,
    scopes: Sequence[str] = (),
) -> tuple[ApiToken, str]:
    """Store a new token; returns its record and the token, which cannot be recovered later."""
    token = new_api_token()
    row = await pool.fetchrow(
        f"""INSERT INTO api_tokens (user_id, name, token_hash, role, expires_at, scopes)
            VALUES ($1, $2, $3, $4, $5, $6) RETURNING {_COLUMNS}""",  # noqa: S608
        user_id,
        name,
        token_hash(token),
        role,
        expires_at,
        sorted(set(scopes)),
    )
    assert row is not None
    return ApiToken(*row.values()), token


async def list_api_tokens(pool: asyncpg.Pool, user_id: UUID) -> list[ApiToken]:
    """``user_id``'s tokens that are not revoked, newest first."""
    rows = await pool.fetch(
        f"""SELECT {_COLUMNS} FROM api_tokens WHERE user_id = $1 AND revoked_at IS NULL
            ORDER BY created_at DESC""",  # noqa: S608
        user_id,
    )
    return [ApiToken(*row.values()) for row in rows]


async def revoke_api_token(pool: asyncpg.Pool, token_id: UUID, owner_id: UUID | None) -> bool:
    """Revoke a token (only ``owner_id``'s unless None); False when there is no such live token."""
    result: str = await pool.execute(
        """UPDATE api_tokens SET revoked_at = now()
           WHERE id = $1 AND revoked_at IS NULL AND ($2::uuid IS NULL OR user_id = $2)""",
        token_id,
        owner_id,
    )
    return result == "UPDATE 1"


async def authenticate_api_token(pool: asyncpg.Pool, token: str, *, now: float) -> TokenOwner | None:
    """The owner of a live token (not revoked or expired, owner enabled), or None."""
    at = datetime.fromtimestamp(now, UTC)
    row = await pool.fetchrow(
        """SELECT t.id, t.user_id, u.username, t.role, u.role AS user_role, t.last_used_at, t.scopes
           FROM api_tokens t JOIN users u ON u.id = t.user_id
           WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND NOT u.disabled
             AND t.expires_at > $2""",
        token_hash(token),
        at,
    )
    if row is None:
        return None
    if row["last_used_at"] is None or at - row["last_used_at"] >= LAST_USED_RESOLUTION:
        await pool.execute("UPDATE api_tokens SET last_used_at = $2 WHERE id = $1", row["id"], at)
    # A token never outranks its owner: demoting the user demotes the tokens too.
    return TokenOwner(
        row["id"],
        row["user_id"],
        row["username"],
        lower_role(row["role"], row["user_role"]),
        frozenset(row["scopes"]),
    )
