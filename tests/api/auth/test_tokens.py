"""Access tokens: what is issued decodes, and every forged or mistyped token is refused."""

from __future__ import annotations

import uuid

import jwt
import pytest

from api.auth.tokens import (
    API_TOKEN_PREFIX,
    InvalidTokenError,
    decode_access_token,
    issue_access_token,
    new_api_token,
    new_refresh_token,
    token_hash,
)
from tests.api.auth.jwt_attacks import ATTACKS, Forger

SECRET = b"s" * 48
NOW = 1_700_000_000.25


def test_issued_token_decodes_with_its_claims() -> None:
    user_id = uuid.uuid4()
    token = issue_access_token(SECRET, user_id, "operator", now=NOW, ttl_s=900)
    claims = decode_access_token(SECRET, token, now=NOW + 1)
    assert (claims.user_id, claims.role, claims.issued_at) == (user_id, "operator", NOW)
    assert claims.expires_at == int(NOW) + 900


def test_issued_token_has_every_required_claim() -> None:
    token = issue_access_token(SECRET, uuid.uuid4(), "viewer", now=NOW, ttl_s=900)
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert header["alg"] == "HS256"
    assert claims["typ"] == "access" and claims["iss"] == "openmanager" and claims["aud"] == "openmanager-api"
    assert {"sub", "role", "iat", "nbf", "exp", "jti"} <= set(claims)


def test_token_expires_after_its_ttl() -> None:
    token = issue_access_token(SECRET, uuid.uuid4(), "viewer", now=NOW, ttl_s=900)
    decode_access_token(SECRET, token, now=NOW + 898)
    with pytest.raises(InvalidTokenError, match="expired"):
        decode_access_token(SECRET, token, now=NOW + 900)


@pytest.mark.parametrize("forge", ATTACKS.values(), ids=ATTACKS.keys())
def test_forged_or_mistyped_token_is_refused(forge: Forger) -> None:
    with pytest.raises(InvalidTokenError):
        decode_access_token(SECRET, forge(SECRET, uuid.uuid4(), NOW), now=NOW)


def test_refresh_token_is_not_an_access_token() -> None:
    with pytest.raises(InvalidTokenError):
        decode_access_token(SECRET, new_refresh_token(), now=NOW)


def test_opaque_tokens_are_random_and_hashed_with_sha256() -> None:
    assert new_refresh_token() != new_refresh_token()
    api_token = new_api_token()
    assert api_token.startswith(API_TOKEN_PREFIX) and len(api_token) > 40
    assert token_hash("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
