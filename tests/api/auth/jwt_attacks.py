"""Forged and mistyped access tokens, shared by the token and middleware tests."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from api.auth.tokens import AUDIENCE, ISSUER


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(user_id: uuid.UUID, now: float, **overrides: object) -> dict[str, object]:
    """Valid access-token claims for ``user_id`` at ``now``, with ``overrides`` applied."""
    base: dict[str, object] = {
        "sub": str(user_id),
        "role": "admin",
        "typ": "access",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "nbf": int(now),
        "exp": int(now) + 600,
        "jti": uuid.uuid4().hex,
    }
    base.update(overrides)
    return base


def unsigned(payload: dict[str, object]) -> str:
    """A token with ``alg: none`` and an empty signature."""
    header = {"alg": "none", "typ": "JWT"}
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}."


def hmac_with_public_key(payload: dict[str, object]) -> str:
    """HS256 keyed with an RSA public key's PEM text: the algorithm-confusion attack."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = (
        f"{_b64(json.dumps({'alg': 'HS256', 'typ': 'JWT'}).encode())}.{_b64(json.dumps(payload).encode())}"
    )
    signature = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


Forger = Callable[[bytes, uuid.UUID, float], str]


def _signed(secret: bytes, payload: dict[str, object]) -> str:
    return jwt.encode(payload, secret, algorithm="HS256")


ATTACKS: dict[str, Forger] = {
    "alg_none": lambda secret, user, now: unsigned(claims(user, now)),
    "hs256_signed_with_public_key": lambda secret, user, now: hmac_with_public_key(claims(user, now)),
    "wrong_secret": lambda secret, user, now: _signed(b"x" * 48, claims(user, now)),
    "expired": lambda secret, user, now: _signed(
        secret, claims(user, now, iat=now - 1200, nbf=int(now) - 1200, exp=int(now) - 600)
    ),
    "future_nbf": lambda secret, user, now: _signed(secret, claims(user, now, nbf=int(now) + 600)),
    "wrong_aud": lambda secret, user, now: _signed(secret, claims(user, now, aud="someone-else")),
    "wrong_iss": lambda secret, user, now: _signed(secret, claims(user, now, iss="evil")),
    "typ_refresh": lambda secret, user, now: _signed(secret, claims(user, now, typ="refresh")),
    "no_exp": lambda secret, user, now: _signed(
        secret, {k: v for k, v in claims(user, now).items() if k != "exp"}
    ),
    "no_typ": lambda secret, user, now: _signed(
        secret, {k: v for k, v in claims(user, now).items() if k != "typ"}
    ),
    "garbage": lambda secret, user, now: "not.a.jwt",
}
"""Every token here must be refused."""
