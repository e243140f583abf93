"""The JSON bodies and query strings the auth endpoints accept; unknown fields are refused."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from collector.storage.users import Role

Secret = Annotated[str, Field(min_length=1, max_length=1024)]
Code = Annotated[str, Field(min_length=1, max_length=16)]
Username = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.@-]{1,64}$")]
Email = Annotated[str, Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LoginBody(_Body):
    """``POST /api/auth/login``."""

    username: Annotated[str, Field(min_length=1, max_length=256)]
    password: Secret
    totp: Code | None = None


class RefreshBody(_Body):
    """``POST /api/auth/refresh``."""

    refresh_token: Annotated[str, Field(min_length=1, max_length=256)]


class LogoutBody(_Body):
    """``POST /api/auth/logout``: the refresh token whose family ends too, if the client has one."""

    refresh_token: Annotated[str, Field(min_length=1, max_length=256)] | None = None


class PasswordChangeBody(_Body):
    """``POST /api/auth/password``."""

    current_password: Secret
    new_password: Secret


class TotpCodeBody(_Body):
    """``POST /api/auth/totp/confirm`` and ``/disable``."""

    code: Code


class UserCreateBody(_Body):
    """``POST /api/users``."""

    username: Username
    password: Secret
    role: Role
    email: Email | None = None


class UserUpdateBody(_Body):
    """``PATCH /api/users/{id}``: only the given fields change; ``password`` is an administrator's reset."""

    role: Role | None = None
    disabled: bool | None = None
    email: Email | None = None
    password: Secret | None = None


class GrantsBody(_Body):
    """``PUT /api/users/{id}/grants``: the complete set of servers the user may access."""

    server_ids: Annotated[list[UUID], Field(max_length=10000)]


class TokenCreateBody(_Body):
    """``POST /api/tokens``: ``role`` defaults to the caller's own; ``expires_in_s`` to never."""

    name: Annotated[str, Field(min_length=1, max_length=100)]
    role: Role | None = None
    expires_in_s: Annotated[int, Field(ge=60, le=5 * 366 * 86400)] | None = None


class AuditParams(BaseModel):
    """``GET /api/audit`` query string."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    actor: Annotated[str, Field(max_length=64)] | None = None
    since: datetime | None = None
    limit: Annotated[int, Field(ge=1, le=1000)] = 100
    offset: Annotated[int, Field(ge=0, le=1_000_000)] = 0
