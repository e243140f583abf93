"""The signed envelope: its fields and wire forms, accepted by the exporter's verifier, refused when replayed,
expired or signed by another key."""

from __future__ import annotations

import base64
import json
import time

import aiohttp
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from collector.actions.envelope import LIFETIME_S, NONCE_BYTES, Envelope, b64url, sign
from tests.collector.actions.conftest import Listener


def _decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_the_envelope_has_the_protocol_fields_and_a_fresh_nonce() -> None:
    first = Envelope(
        server_id="s", action="restart", requested_by="ana", iat=1000, params={"unit": "a.service"}
    )
    second = Envelope(server_id="s", action="restart", requested_by="ana", iat=1000)
    data = json.loads(first.to_bytes())
    assert data == {
        "server_id": "s",
        "action": "restart",
        "params": {"unit": "a.service"},
        "requested_by": "ana",
        "iat": 1000,
        "exp": 1000 + LIFETIME_S,
        "nonce": first.nonce,
    }
    assert len(_decode(first.nonce)) == NONCE_BYTES and "=" not in first.nonce
    assert first.nonce != second.nonce


def test_the_signature_covers_exactly_the_sent_bytes() -> None:
    key = Ed25519PrivateKey.generate()
    envelope = Envelope(server_id="s", action="", requested_by="ana", iat=1000)
    signed = sign(envelope, key)
    key.public_key().verify(_decode(signed.signature), _decode(signed.envelope))
    assert signed.body() == {"envelope": signed.envelope, "signature": signed.signature}
    assert signed.authorization() == f"OM-Ed25519 {signed.envelope}.{signed.signature}"
    assert b64url(b"\xff\xfe") == "__4"


async def _post(listener: Listener, body: dict[str, str]) -> tuple[int, dict[str, object]]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"http://127.0.0.1:{listener.port}/actions/hello", json=body) as response,
    ):
        return response.status, await response.json()


def _envelope(listener: Listener, **changes: object) -> Envelope:
    fields: dict[str, object] = {
        "server_id": str(listener.server_id),
        "action": "hello",
        "requested_by": "ana",
        "iat": int(time.time()),
        "params": {"who": "world"},
    }
    return Envelope(**(fields | changes))  # type: ignore[arg-type]


async def test_the_exporter_runs_a_signed_request_once_and_refuses_its_replay(listener: Listener) -> None:
    body = sign(_envelope(listener), listener.key).body()
    status, answer = await _post(listener, body)
    assert (status, answer["exit_code"], answer["stdout"]) == (200, 0, "hello world\n")
    status, answer = await _post(listener, body)
    assert (status, answer["error"]) == (409, {"code": "replayed", "message": "this nonce was already used"})


async def test_the_exporter_refuses_an_expired_request_and_another_key(listener: Listener) -> None:
    old = sign(_envelope(listener, iat=int(time.time()) - 120), listener.key).body()
    status, answer = await _post(listener, old)
    assert (status, answer["error"]["code"]) == (401, "expired")  # type: ignore[index]
    foreign = sign(_envelope(listener), Ed25519PrivateKey.generate()).body()
    status, answer = await _post(listener, foreign)
    assert (status, answer["error"]["code"]) == (401, "bad_signature")  # type: ignore[index]


async def test_a_listing_is_signed_in_the_authorization_header(listener: Listener) -> None:
    signed = sign(_envelope(listener, action="", params={}), listener.key)
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            f"http://127.0.0.1:{listener.port}/actions", headers={"Authorization": signed.authorization()}
        ) as response,
    ):
        assert response.status == 200
        assert [a["name"] for a in (await response.json())["actions"]] == ["hello"]
