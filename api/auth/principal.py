"""Who is making a request: the :class:`Principal` the auth middleware puts on the request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from uuid import UUID

from aiohttp import web

from collector.storage.users import Role

PrincipalKind = Literal["user", "api_token"]


@dataclass(frozen=True)
class Principal:
    """An authenticated caller.

    ``role`` is the role in force for this request: the user's current role for a session, and the lower of
    the token's and its owner's roles for an API token. ``token_id`` is the access token's ``jti`` for a
    session (``kind == "user"``; ``"login"`` or ``"refresh"`` while the login and refresh endpoints issue
    one) and the API token's id for ``kind == "api_token"``.
    """

    user_id: UUID
    username: str
    role: Role
    kind: PrincipalKind
    token_id: str
    scopes: frozenset[str] = frozenset()
    """An API token's scopes (see :mod:`api.auth.apitokens`); a session has none."""

    @property
    def actor(self) -> str:
        """How the audit log names this caller: the user for a session, the token for an API token."""
        return str(self.user_id) if self.kind == "user" else self.token_id


PRINCIPAL: web.RequestKey[Principal] = web.RequestKey("principal", Principal)
"""The typed request key (named ``principal``) holding the :class:`Principal`; absent when anonymous."""


def principal_of(request: web.Request) -> Principal | None:
    """The request's principal, or None when it is anonymous."""
    return request.get(PRINCIPAL)
