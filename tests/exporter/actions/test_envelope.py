"""The verifier: each check of the protocol refuses with its status and code, in the protocol's order."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from exporter.actions.envelope import (
    Envelope,
    NonceMemory,
    RefusedError,
    b64url_decode,
    b64url_encode,
    parse_authorization,
    parse_public_key,
    parse_run_body,
    verify,
)
from exporter.actions.spec import Action, ActionsConfig, Param
from exporter.config import ListenAddress
from tests.exporter.actions.conftest import authorization, envelope_bytes, public_text, run_body

NOW = int(time.time())


def _config(key: Ed25519PrivateKey) -> ActionsConfig:
    restart = Action(
        "restart", "systemd", ("systemctl", "restart", "{unit}"), (Param("unit", enum=("nginx.service",)),)
    )
    grep = Action(
        "grep-log",
        "command",
        ("/bin/grep", "-F", "{word}", "/var/log/syslog"),
        (Param("word", pattern=re.compile(r"[a-z ]+")),),
    )
    return ActionsConfig(
        server_id="web-01",
        public_keys=(Ed25519PrivateKey.generate().public_key(), key.public_key()),
        actions={"restart": restart, "grep-log": grep},
        listen=ListenAddress("127.0.0.1", 0),
        tls=None,
        log_file=Path("/dev/null"),
    )


def _verify(
    key: Ed25519PrivateKey,
    raw: bytes,
    path_action: str = "restart",
    signer: Ed25519PrivateKey | None = None,
) -> tuple[Envelope, Action | None]:
    return verify(_config(key), NonceMemory(), path_action, raw, (signer or key).sign(raw), now=NOW)


def test_a_valid_envelope_returns_it_and_the_action(key: Ed25519PrivateKey) -> None:
    envelope, action = _verify(key, envelope_bytes(iat=NOW, exp=NOW + 60))
    assert (envelope.server_id, envelope.requested_by, dict(envelope.params)) == (
        "web-01",
        "alice",
        {"unit": "nginx.service"},
    )
    assert action is not None and action.name == "restart"


def test_a_listing_envelope_has_no_action(key: Ed25519PrivateKey) -> None:
    envelope, action = _verify(key, envelope_bytes(action="", params={}, iat=NOW, exp=NOW + 30), "")
    assert action is None and envelope.action == ""


REFUSALS: list[tuple[str, dict[str, object], str, int, str]] = [
    ("expired", {"iat": NOW - 60, "exp": NOW}, "restart", 401, "expired"),
    ("issued in the future", {"iat": NOW + 31, "exp": NOW + 60}, "restart", 401, "expired"),
    ("lives over 60 s", {"iat": NOW, "exp": NOW + 61}, "restart", 401, "expired"),
    ("other server", {"server_id": "web-02", "iat": NOW, "exp": NOW + 30}, "restart", 403, "wrong_server"),
    (
        "action differs from path",
        {"action": "stop", "iat": NOW, "exp": NOW + 30},
        "restart",
        400,
        "bad_request",
    ),
    ("unknown action", {"action": "reboot", "iat": NOW, "exp": NOW + 30}, "reboot", 404, "unknown_action"),
    ("outside the enum", {"params": {"unit": "sshd.service"}}, "restart", 422, "invalid_params"),
    ("missing param", {"params": {}}, "restart", 422, "invalid_params"),
    ("extra param", {"params": {"unit": "nginx.service", "x": "y"}}, "restart", 422, "invalid_params"),
    ("non-string value", {"params": {"unit": ["nginx.service"]}}, "restart", 422, "invalid_params"),
    (
        "newline injection",
        {"action": "grep-log", "params": {"word": "ok\nroot"}},
        "grep-log",
        422,
        "invalid_params",
    ),
    (
        "carriage return",
        {"action": "grep-log", "params": {"word": "ok\r"}},
        "grep-log",
        422,
        "invalid_params",
    ),
    ("NUL", {"action": "grep-log", "params": {"word": "ok\0"}}, "grep-log", 422, "invalid_params"),
    (
        "pattern not matched whole",
        {"action": "grep-log", "params": {"word": "ok;id"}},
        "grep-log",
        422,
        "invalid_params",
    ),
    ("listing with params", {"action": "", "params": {"unit": "x"}}, "", 422, "invalid_params"),
    ("missing field", {"nonce": None}, "restart", 400, "bad_request"),
    ("boolean iat", {"iat": True}, "restart", 400, "bad_request"),
    ("params not an object", {"params": []}, "restart", 400, "bad_request"),
    ("short nonce", {"nonce": b64url_encode(b"12345678")}, "restart", 400, "bad_request"),
]


@pytest.mark.parametrize(
    ("overrides", "path_action", "status", "code"),
    [case[1:] for case in REFUSALS],
    ids=[case[0] for case in REFUSALS],
)
def test_a_bad_envelope_is_refused_with_the_protocols_status(
    key: Ed25519PrivateKey, overrides: dict[str, object], path_action: str, status: int, code: str
) -> None:
    fields = {"iat": NOW, "exp": NOW + 30, **overrides}
    raw = envelope_bytes(**fields)
    if overrides.get("nonce", "") is None:
        document = json.loads(raw)
        del document["nonce"]
        raw = json.dumps(document).encode()
    with pytest.raises(RefusedError) as refused:
        _verify(key, raw, path_action)
    assert (refused.value.status, refused.value.code) == (status, code)


def test_a_signature_by_another_key_is_refused(key: Ed25519PrivateKey) -> None:
    with pytest.raises(RefusedError) as refused:
        _verify(key, envelope_bytes(iat=NOW, exp=NOW + 30), signer=Ed25519PrivateKey.generate())
    assert (refused.value.status, refused.value.code) == (401, "bad_signature")


def test_the_signature_covers_the_exact_bytes(key: Ed25519PrivateKey) -> None:
    raw = envelope_bytes(iat=NOW, exp=NOW + 30)
    signature = key.sign(raw)
    # The same JSON with other whitespace is other bytes: it must not verify.
    respaced = json.dumps(json.loads(raw), indent=1).encode()
    with pytest.raises(RefusedError) as refused:
        verify(_config(key), NonceMemory(), "restart", respaced, signature, now=NOW)
    assert refused.value.code == "bad_signature"


@pytest.mark.parametrize(
    ("overrides", "path_action", "code"),
    [
        ({"server_id": "web-02", "iat": NOW - 100, "exp": NOW - 50}, "restart", "expired"),
        ({"server_id": "web-02", "action": "reboot"}, "reboot", "wrong_server"),
        ({"action": "reboot", "params": {"bad": "\n"}}, "reboot", "unknown_action"),
    ],
    ids=["expiry before server", "server before action", "action before params"],
)
def test_checks_run_in_the_protocols_order(
    key: Ed25519PrivateKey, overrides: dict[str, object], path_action: str, code: str
) -> None:
    with pytest.raises(RefusedError) as refused:
        _verify(key, envelope_bytes(**{"iat": NOW, "exp": NOW + 30, **overrides}), path_action)
    assert refused.value.code == code


def test_a_bad_signature_is_refused_before_expiry(key: Ed25519PrivateKey) -> None:
    raw = envelope_bytes(iat=NOW - 100, exp=NOW - 50)
    with pytest.raises(RefusedError) as refused:
        _verify(key, raw, signer=Ed25519PrivateKey.generate())
    assert refused.value.code == "bad_signature"


def test_a_replayed_nonce_is_refused_until_it_expires(key: Ed25519PrivateKey) -> None:
    config, nonces = _config(key), NonceMemory()
    raw = envelope_bytes(iat=NOW, exp=NOW + 30)
    verify(config, nonces, "restart", raw, key.sign(raw), now=NOW)
    with pytest.raises(RefusedError) as refused:
        verify(config, nonces, "restart", raw, key.sign(raw), now=NOW + 29)
    assert (refused.value.status, refused.value.code) == (409, "replayed")


def test_nonces_are_forgotten_after_their_expiry() -> None:
    nonces = NonceMemory()
    assert nonces.first_use("a", NOW + 30, NOW)
    assert not nonces.first_use("a", NOW + 30, NOW + 30)
    assert nonces.first_use("b", NOW + 60, NOW + 31)
    assert len(nonces) == 1


BAD_BODIES: list[tuple[str, Callable[[Ed25519PrivateKey], bytes]]] = [
    ("not JSON", lambda _key: b"envelope=x"),
    ("not an object", lambda _key: b"[]"),
    ("extra field", lambda _key: b'{"envelope": "e30", "signature": "AA", "x": 1}'),
    ("duplicate key", lambda _key: b'{"envelope": "e30", "envelope": "e30", "signature": "AA"}'),
    ("number envelope", lambda _key: b'{"envelope": 1, "signature": "AA"}'),
    ("padded base64", lambda _key: b'{"envelope": "e30=", "signature": "AA"}'),
    ("standard base64", lambda _key: b'{"envelope": "e3+/", "signature": "AA"}'),
    ("latin-1", lambda _key: b'{"envelope": "\xe9", "signature": "AA"}'),
]


@pytest.mark.parametrize("make", [case[1] for case in BAD_BODIES], ids=[case[0] for case in BAD_BODIES])
def test_an_unparsable_body_is_a_bad_request(
    key: Ed25519PrivateKey, make: Callable[[Ed25519PrivateKey], bytes]
) -> None:
    with pytest.raises(RefusedError) as refused:
        parse_run_body(make(key))
    assert (refused.value.status, refused.value.code) == (400, "bad_request")


def test_a_body_round_trips_the_signed_bytes(key: Ed25519PrivateKey) -> None:
    raw = envelope_bytes()
    assert parse_run_body(run_body(key, raw)) == (raw, key.sign(raw))
    assert parse_authorization(authorization(key, raw)) == (raw, key.sign(raw))


@pytest.mark.parametrize("header", [None, "", "Bearer abc.def", "OM-Ed25519 abcdef", "OM-Ed25519 a=.b"])
def test_a_bad_authorization_header_is_a_bad_request(header: str | None) -> None:
    with pytest.raises(RefusedError) as refused:
        parse_authorization(header)
    assert refused.value.code == "bad_request"


def test_b64url_decodes_without_padding() -> None:
    assert b64url_decode(b64url_encode(b"\xff\xfe\x00"), "x") == b"\xff\xfe\x00"


def test_a_public_key_parses_from_its_text_form(key: Ed25519PrivateKey) -> None:
    raw = b"signed"
    parse_public_key(public_text(key)).verify(key.sign(raw), raw)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("ssh-ed25519 AAAA", "expected ed25519:"),
        ("ed25519:not base64!", "not standard base64"),
        ("ed25519:AAAA", "is 3 bytes"),
    ],
)
def test_a_bad_public_key_says_what_is_wrong(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_public_key(text)
