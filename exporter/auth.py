"""Request authentication: HTTP basic auth against bcrypt hashes and/or a bearer token.

Timing: an unknown user costs the same bcrypt check as a known one (against a dummy hash of the highest
configured cost), and tokens are compared as SHA-256 digests with ``hmac.compare_digest``, so response
times say nothing about which users exist or how much of a token was right.

Cost: bcrypt runs off the event loop in a single worker thread, which also caps the CPU that a flood of
wrong passwords can burn to one core. A successful basic-auth check is remembered for
``AUTH_CACHE_TTL_S``, keyed by an HMAC of the header under a per-process random key (the cache never holds
a password), so Prometheus scraping every 15 s pays bcrypt once per TTL, not per scrape. Failures are
never cached. The configuration is fixed for the life of the process, so a cached success cannot outlive
a password change.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import os
import re
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor

import bcrypt

from exporter.web_config import WebConfig

AUTH_CACHE_TTL_S = 300.0
AUTH_CACHE_MAX_ENTRIES = 64
REALM = "openmanager-exporter"

_COST = re.compile(rb"^\$2[aby]\$(\d{2})\$")


def _dummy_hash(users: Mapping[str, bytes]) -> bytes:
    """A hash of a random password at the highest cost among the configured ones."""
    costs = [int(match.group(1)) for hashed in users.values() if (match := _COST.match(hashed))]
    return bcrypt.hashpw(os.urandom(16), bcrypt.gensalt(rounds=max(costs, default=12)))


def _checkpw(password: bytes, hashed: bytes) -> bool:
    try:
        return bcrypt.checkpw(password, hashed)
    except ValueError:
        # bcrypt refuses passwords over 72 bytes; no configured password can be that long.
        return False


class Authenticator:
    """Checks ``Authorization`` headers against the configured users and token."""

    def __init__(self, web: WebConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self._users = dict(web.basic_auth_users)
        self._token_digest = hashlib.sha256(web.bearer_token.encode()).digest() if web.bearer_token else None
        self._dummy = _dummy_hash(self._users) if self._users else b""
        self._clock = clock
        self._cache_key = os.urandom(32)
        self._cache: dict[bytes, float] = {}
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bcrypt")

    @property
    def required(self) -> bool:
        """True when requests must authenticate."""
        return bool(self._users) or self._token_digest is not None

    @property
    def challenges(self) -> list[str]:
        """The ``WWW-Authenticate`` values of a 401 response, one per accepted scheme."""
        values = []
        if self._users:
            values.append(f'Basic realm="{REALM}", charset="UTF-8"')
        if self._token_digest is not None:
            values.append(f'Bearer realm="{REALM}"')
        return values

    async def check(self, authorization: str | None) -> bool:
        """True when the header carries valid credentials for an accepted scheme."""
        if not authorization:
            return False
        scheme, _, credentials = authorization.partition(" ")
        scheme = scheme.lower()
        if scheme == "bearer" and self._token_digest is not None:
            digest = hashlib.sha256(credentials.strip().encode()).digest()
            return hmac.compare_digest(digest, self._token_digest)
        if scheme == "basic" and self._users:
            return await self._check_basic(authorization, credentials.strip())
        return False

    async def _check_basic(self, header: str, credentials: str) -> bool:
        key = hmac.new(self._cache_key, header.encode(), hashlib.sha256).digest()
        now = self._clock()
        expires = self._cache.get(key)
        if expires is not None and expires > now:
            return True
        try:
            user, sep, password = base64.b64decode(credentials, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        if not sep:
            return False
        hashed = self._users.get(user)
        loop = asyncio.get_running_loop()
        ok = await loop.run_in_executor(self._executor, _checkpw, password.encode(), hashed or self._dummy)
        if ok and hashed is not None:
            self._remember(key, now + AUTH_CACHE_TTL_S)
            return True
        return False

    def _remember(self, key: bytes, expires: float) -> None:
        if len(self._cache) >= AUTH_CACHE_MAX_ENTRIES:
            now = self._clock()
            self._cache = {k: t for k, t in self._cache.items() if t > now}
            while len(self._cache) >= AUTH_CACHE_MAX_ENTRIES:
                del self._cache[next(iter(self._cache))]
        self._cache[key] = expires

    def close(self) -> None:
        """Stop the bcrypt worker thread."""
        self._executor.shutdown(wait=True, cancel_futures=True)
