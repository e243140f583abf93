"""A short-lived memory of which caller a token stands for, so a busy dashboard is not re-checked per request.

Checking an access token costs a signature check, a PostgreSQL read (is the user still enabled, what is their
role, were their tokens revoked) and a Redis read (was this token logged out); an API token costs a
PostgreSQL read. A dashboard polling the fleet, or a script, sends the same token many times a second. The
cache keeps the :class:`~api.auth.principal.Principal` a token was found to stand for, for at most
``auth.principal_cache_s`` seconds (one by default) and never past the token's own expiry.

Every state-changing request this process serves clears the whole cache when it ends (a logout, a password
or role change, a disabled user or a revoked token are all such requests), so within one process a change
applies to the very next request. Another API process sharing the stores sees it within the cache's
lifetime. Tokens are held as digests, not as the tokens themselves.

:class:`RefusedTokens` is the other side: tokens just found to stand for nobody (unknown, revoked, expired,
forged), remembered for :data:`REFUSED_TTL_S` seconds, so a client repeating one does not cost a PostgreSQL
read per request. It is cleared with the principal cache: re-enabling a user or creating a token takes
effect at once here, and within :data:`REFUSED_TTL_S` in another API process.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

from api.auth.principal import Principal

MAX_ENTRIES = 10_000
"""Distinct tokens remembered at once; the least recently stored go first."""


class PrincipalCache:
    """Token digest → (caller, until when); ``ttl_s`` 0 remembers nothing."""

    def __init__(self, ttl_s: float, max_entries: int = MAX_ENTRIES) -> None:
        self.ttl_s = ttl_s
        self._max_entries = max_entries
        self._entries: OrderedDict[bytes, tuple[Principal, float]] = OrderedDict()

    @staticmethod
    def key(token: str) -> bytes:
        """The digest a token is remembered under."""
        return hashlib.blake2b(token.encode(), digest_size=16).digest()

    def get(self, key: bytes, now: float) -> Principal | None:
        """The remembered caller, if still fresh at ``now``."""
        held = self._entries.get(key)
        if held is None:
            return None
        principal, until = held
        if now >= until:
            del self._entries[key]
            return None
        return principal

    def put(self, key: bytes, principal: Principal, now: float, expires_at: float | None = None) -> None:
        """Remember ``principal`` from ``now`` for ``ttl_s``, and not past ``expires_at``."""
        if self.ttl_s <= 0:
            return
        until = now + self.ttl_s if expires_at is None else min(now + self.ttl_s, expires_at)
        self._entries[key] = (principal, until)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        """Forget every caller (after a state-changing request)."""
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


REFUSED_TTL_S = 10.0
"""How long a refused token is refused without looking it up again."""


class RefusedTokens:
    """Digests of tokens refused in the last ``ttl_s`` seconds, with why; the oldest refusals go first."""

    def __init__(self, ttl_s: float = REFUSED_TTL_S, max_entries: int = MAX_ENTRIES) -> None:
        self.ttl_s = ttl_s
        self._max_entries = max_entries
        self._entries: OrderedDict[bytes, tuple[str, float]] = OrderedDict()

    def get(self, key: bytes, now: float) -> str | None:
        """Why the token of ``key`` was refused, if that was less than ``ttl_s`` before ``now``."""
        held = self._entries.get(key)
        if held is None:
            return None
        reason, until = held
        if now >= until:
            del self._entries[key]
            return None
        return reason

    def put(self, key: bytes, reason: str, now: float) -> None:
        """Remember that the token of ``key`` was refused at ``now``, and why."""
        self._entries[key] = (reason, now + self.ttl_s)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        """Forget every refusal (after a state-changing request)."""
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
