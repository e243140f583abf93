"""The authentication layer's configuration, resolved once when the application is built."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

Clock = Callable[[], float]
"""Seconds since the epoch; injected so that tests can move time (expiry, TOTP steps, lock windows)."""


@dataclass(frozen=True)
class AuthConfig:
    """What the middlewares and handlers need: the signing key, token lifetimes and the clock."""

    jwt_secret: bytes
    access_token_ttl_s: int
    refresh_token_ttl_s: int
    api_token_default_ttl_s: int = 90 * 86400
    api_token_max_ttl_s: int = 365 * 86400
    clock: Clock = time.time

    def __repr__(self) -> str:
        # The signing key must never reach a log line through a repr.
        return (
            f"AuthConfig(access_token_ttl_s={self.access_token_ttl_s}, "
            f"refresh_token_ttl_s={self.refresh_token_ttl_s})"
        )
