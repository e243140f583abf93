"""The verifier of signed action requests: checks 1 to 8 of the remote actions protocol, in its order.

A request carries the envelope bytes exactly as signed and an Ed25519 signature over them. The envelope is
parsed from those bytes and never re-serialized, so no canonical form is needed. Each failed check raises
RefusedError with the protocol's status and code; nothing here runs anything.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from exporter.actions.spec import Action, ActionsConfig

KEY_PREFIX = "ed25519:"
AUTH_SCHEME = "OM-Ed25519"
CLOCK_SKEW_S = 30
MAX_LIFETIME_S = 60
NONCE_BYTES = 16
SIGNATURE_BYTES = 64
_B64URL_RE = re.compile(r"[A-Za-z0-9_-]*")
_ENVELOPE_FIELDS = {
    "server_id": str,
    "action": str,
    "params": dict,
    "requested_by": str,
    "iat": int,
    "exp": int,
    "nonce": str,
}


class RefusedError(Exception):
    """A refused request: the HTTP status and the protocol's error code, with a message for the caller."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Envelope:
    """The fields of a parsed envelope; params values are checked later, against the action."""

    server_id: str
    action: str
    params: Mapping[str, object]
    requested_by: str
    iat: int
    exp: int
    nonce: str


def parse_public_key(text: str) -> Ed25519PublicKey:
    """Parse ``ed25519:<standard base64 of the 32 raw bytes>``; ValueError says what is wrong."""
    if not text.startswith(KEY_PREFIX):
        raise ValueError(
            f"expected {KEY_PREFIX}<base64 of 32 bytes>, as printed by openmanager keys show-public"
        )
    try:
        raw = base64.b64decode(text[len(KEY_PREFIX) :].strip(), validate=True)
    except binascii.Error:
        raise ValueError("the part after ed25519: is not standard base64") from None
    if len(raw) != 32:
        raise ValueError(f"the key is {len(raw)} bytes; an Ed25519 public key is 32 bytes")
    return Ed25519PublicKey.from_public_bytes(raw)


def b64url_decode(text: str, what: str) -> bytes:
    """Decode base64url without padding, refusing any other alphabet."""
    if not _B64URL_RE.fullmatch(text) or len(text) % 4 == 1:
        raise RefusedError(400, "bad_request", f"{what} is not base64url without padding")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64url_encode(data: bytes) -> str:
    """Encode base64url without padding, the protocol's transport form."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def parse_run_body(body: bytes) -> tuple[bytes, bytes]:
    """The envelope bytes and signature of a ``POST /actions/<name>`` body."""
    document = _json_object(body, "the body")
    if set(document) != {"envelope", "signature"}:
        raise RefusedError(
            400, "bad_request", "the body must be an object with exactly envelope and signature"
        )
    envelope, signature = document["envelope"], document["signature"]
    if not isinstance(envelope, str) or not isinstance(signature, str):
        raise RefusedError(400, "bad_request", "envelope and signature must be strings")
    return b64url_decode(envelope, "envelope"), b64url_decode(signature, "signature")


def parse_authorization(header: str | None) -> tuple[bytes, bytes]:
    """The envelope bytes and signature of a ``GET /actions`` Authorization header."""
    scheme, _, credentials = (header or "").partition(" ")
    envelope, dot, signature = credentials.strip().partition(".")
    if scheme != AUTH_SCHEME or not dot:
        raise RefusedError(
            400, "bad_request", f"expected the header Authorization: {AUTH_SCHEME} <envelope>.<signature>"
        )
    return b64url_decode(envelope, "envelope"), b64url_decode(signature, "signature")


def _reject_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate key")
    return result


def _json_object(data: bytes, what: str) -> dict[str, object]:
    try:
        document = json.loads(data.decode("utf-8"), object_pairs_hook=_reject_duplicates)
    except (UnicodeDecodeError, ValueError):
        raise RefusedError(400, "bad_request", f"{what} is not a JSON object in UTF-8") from None
    if not isinstance(document, dict):
        raise RefusedError(400, "bad_request", f"{what} is not a JSON object")
    return document


def parse_envelope(raw: bytes) -> Envelope:
    """Parse the signed bytes into an Envelope, checking each field's type (check 1)."""
    document = _json_object(raw, "the envelope")
    if set(document) != set(_ENVELOPE_FIELDS):
        raise RefusedError(
            400, "bad_request", f"the envelope must have exactly the fields {', '.join(_ENVELOPE_FIELDS)}"
        )
    for name, kind in _ENVELOPE_FIELDS.items():
        value = document[name]
        if not isinstance(value, kind) or isinstance(value, bool):
            raise RefusedError(400, "bad_request", f"envelope field {name} must be of type {kind.__name__}")
    nonce = str(document["nonce"])
    if len(b64url_decode(nonce, "nonce")) != NONCE_BYTES:
        raise RefusedError(400, "bad_request", f"the nonce must be {NONCE_BYTES} bytes in base64url")
    params = document["params"]
    assert isinstance(params, dict)
    return Envelope(
        server_id=str(document["server_id"]),
        action=str(document["action"]),
        params=params,
        requested_by=str(document["requested_by"]),
        iat=int(str(document["iat"])),
        exp=int(str(document["exp"])),
        nonce=nonce,
    )


def signed_by(keys: tuple[Ed25519PublicKey, ...], raw: bytes, signature: bytes) -> bool:
    """True when `signature` over `raw` verifies under one of `keys`."""
    if len(signature) != SIGNATURE_BYTES:
        return False
    for key in keys:
        try:
            key.verify(signature, raw)
        except InvalidSignature:
            continue
        return True
    return False


class NonceMemory:
    """Nonces seen, each kept until its envelope expires; an expired envelope is refused anyway."""

    def __init__(self) -> None:
        self._expiry: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._expiry)

    def first_use(self, nonce: str, exp: int, now: float) -> bool:
        """Remember `nonce` until `exp`; False when it was already used."""
        self._expiry = {seen: until for seen, until in self._expiry.items() if until >= now}
        if nonce in self._expiry:
            return False
        self._expiry[nonce] = exp
        return True


def verify(
    config: ActionsConfig,
    nonces: NonceMemory,
    path_action: str,
    raw: bytes,
    signature: bytes,
    *,
    now: float,
) -> tuple[Envelope, Action | None]:
    """Run checks 1 to 8 on a request for `path_action` ("" for the listing).

    Returns the envelope, and the action with its parameters checked (None for the listing). Raises
    RefusedError at the first failed check.
    """
    envelope = parse_envelope(raw)
    if not signed_by(config.public_keys, raw, signature):
        raise RefusedError(
            401, "bad_signature", "the signature does not verify under any configured public key"
        )
    if (
        envelope.iat > now + CLOCK_SKEW_S
        or envelope.exp <= now
        or envelope.exp - envelope.iat > MAX_LIFETIME_S
    ):
        raise RefusedError(
            401,
            "expired",
            f"the envelope is not valid now: expected iat <= now + {CLOCK_SKEW_S}, exp > now and "
            f"exp - iat <= {MAX_LIFETIME_S}",
        )
    if envelope.server_id != config.server_id:
        raise RefusedError(403, "wrong_server", "the envelope is for another server")
    if envelope.action != path_action:
        raise RefusedError(400, "bad_request", "the envelope's action differs from the request's")
    action = None
    if path_action:
        action = config.actions.get(path_action)
        if action is None:
            raise RefusedError(404, "unknown_action", f"this host offers no action {path_action!r}")
    if not nonces.first_use(envelope.nonce, envelope.exp, now):
        raise RefusedError(409, "replayed", "this nonce was already used")
    problem = action.check_params(envelope.params) if action else _no_params(envelope.params)
    if problem:
        raise RefusedError(422, "invalid_params", problem)
    return envelope, action


def _no_params(params: Mapping[str, object]) -> str | None:
    return "a listing takes no parameters" if params else None
