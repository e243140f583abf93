"""Every Redis key the authentication layer uses, all under the ``auth:`` prefix."""

from __future__ import annotations

import hashlib
from uuid import UUID

PREFIX = "auth:"


def _digest(value: str) -> str:
    # Names typed by strangers are hashed so a key's length and content never depend on the input.
    return hashlib.sha256(value.encode()).hexdigest()[:32]


def revoked_jti(jti: str) -> str:
    """A logged-out access token's id, kept until the token would have expired anyway."""
    return f"{PREFIX}revoked:{jti}"


def throttle_account(username: str) -> str:
    """Failed logins against one account name, from every address."""
    return f"{PREFIX}throttle:account:{_digest(username)}"


def throttle_address(address: str) -> str:
    """Failed logins from one client address (or IPv6 /64), against every account."""
    return f"{PREFIX}throttle:address:{_digest(address)}"


def throttle_pair(username: str, address: str) -> str:
    """Failed logins against one account name from one client address (or IPv6 /64)."""
    # A NUL cannot be in a username (the login body refuses control characters), so pairs cannot collide.
    return f"{PREFIX}throttle:pair:{_digest(username + chr(0) + address)}"


def throttle_reauth(user_id: UUID) -> str:
    """Current-password checks within a session (password change, TOTP enrolment)."""
    return f"{PREFIX}throttle:reauth:{user_id}"


def throttle_totp(user_id: UUID) -> str:
    """TOTP codes tried for one user."""
    return f"{PREFIX}throttle:totp:{user_id}"


def pending_totp(user_id: UUID) -> str:
    """A TOTP secret enrolled but not yet confirmed with a code."""
    return f"{PREFIX}totp:pending:{user_id}"
