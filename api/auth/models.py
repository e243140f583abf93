"""The JSON bodies, query strings and answers of the auth endpoints; unknown input fields are refused.

Text that is stored or looked up in PostgreSQL refuses control characters: PostgreSQL cannot hold a NUL, and
no name or address needs one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from api.auth.principal import PrincipalKind
from api.openapi import QueryModel
from collector.config.api_settings import MAX_API_TOKEN_TTL_DAYS
from collector.storage.users import Role

_PRINTABLE = r"^[^\x00-\x1f\x7f]*$"
Secret = Annotated[str, Field(min_length=1, max_length=1024)]
Code = Annotated[str, Field(min_length=1, max_length=16)]
Username = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.@-]{1,64}$")]
Email = Annotated[
    str, Field(min_length=3, max_length=254, pattern=r"^[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+$")
]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LoginBody(_Body):
    """``POST /api/auth/login``: ``new_password`` answers a ``password_change_required`` refusal."""

    username: Annotated[str, Field(min_length=1, max_length=256, pattern=_PRINTABLE)]
    password: Secret
    totp: Code | None = None
    new_password: Secret | None = None


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


class TotpEnrollBody(_Body):
    """``POST /api/auth/totp/enroll``: the current password, asked again before a second factor is set."""

    password: Secret


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
    """``POST /api/tokens``: ``role`` defaults to the caller's own; ``expires_in_s`` to the configured default
    lifetime (``auth.api_token_default_ttl_days``), and may not exceed ``auth.api_token_max_ttl_days``."""

    name: Annotated[str, Field(min_length=1, max_length=100, pattern=_PRINTABLE)]
    role: Role | None = None
    expires_in_s: Annotated[int, Field(ge=60, le=MAX_API_TOKEN_TTL_DAYS * 86400)] | None = None
    scopes: Annotated[list[Literal["write", "mcp"]], Field(max_length=2)] = Field(
        default_factory=list,
        description="'write': may push samples to /api/v1/write (needs operator); "
        "'mcp': may call the MCP server's read-only tools (/mcp, openmanager mcp)",
    )


class AuditParams(QueryModel):
    """``GET /api/audit`` query string."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    actor: Annotated[str, Field(max_length=64, pattern=_PRINTABLE)] | None = None
    since: datetime | None = None
    limit: Annotated[int, Field(ge=1, le=1000)] = 100
    offset: Annotated[int, Field(ge=0, le=1_000_000)] = 0


class TokenPair(BaseModel):
    """The answer of login and refresh."""

    access_token: str = Field(description="a JWT for 'Authorization: Bearer'")
    refresh_token: str = Field(description="spent once on /api/auth/refresh for the next pair")
    token_type: Literal["bearer"]
    expires_in: int = Field(description="seconds until the access token expires")


class Me(BaseModel):
    """``GET /api/auth/me``: the caller."""

    id: UUID
    username: str
    role: Role = Field(description="the role in force for this request")
    kind: PrincipalKind
    totp_enabled: bool
    grants: list[UUID] | None = Field(description="the servers the caller may access; null for all")


class TotpEnrolment(BaseModel):
    """A pending TOTP secret, to confirm with a code within ``confirm_within_s``."""

    secret: str
    provisioning_uri: str = Field(description="an otpauth:// URI for an authenticator's QR code")
    confirm_within_s: int


class AccountOut(BaseModel):
    """An account as the API shows it: never a password hash or a TOTP secret."""

    id: UUID
    username: str
    email: str | None
    role: Role
    disabled: bool
    totp_enabled: bool
    created_at: datetime
    updated_at: datetime


class AccountWithGrants(AccountOut):
    """An account with the servers it was granted (an admin sees every server regardless)."""

    grants: list[UUID]


class AccountList(BaseModel):
    """Every account, by name."""

    users: list[AccountOut]


class ApiTokenOut(BaseModel):
    """An API token's record, without the token."""

    id: UUID
    user_id: UUID
    name: str
    role: Role
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime
    scopes: list[str] = []


class ApiTokenCreated(ApiTokenOut):
    """A new API token's record and the token itself, shown this one time only."""

    token: str


class ApiTokenList(BaseModel):
    """The caller's live API tokens, newest first."""

    tokens: list[ApiTokenOut]


class AuditRecord(BaseModel):
    """One audited request."""

    id: int
    at: datetime
    actor: str = Field(description="a user id, an API token id, or 'anonymous'")
    actor_name: str | None
    method: str
    path: str
    action: str | None = Field(description="the route name, such as users.update")
    target: str | None = Field(description="the id in the path, if any")
    status: int
    remote_addr: str | None
    detail: dict[str, JsonValue]


class AuditPage(BaseModel):
    """A page of the audit log, newest first."""

    entries: list[AuditRecord]
    limit: int
    offset: int
