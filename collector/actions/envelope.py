"""The signed envelope of the actions protocol: built, serialized once, signed, and put on the wire.

The envelope is a JSON object (``server_id``, ``action``, ``params``, ``requested_by``, ``iat``, ``exp``,
``nonce``) serialized to UTF-8 bytes here; the signature covers exactly those bytes and the exporter parses
the bytes it verified, so no canonical form is needed. On the wire both travel as base64url without
padding: in a JSON body to run an action, in an ``Authorization: OM-Ed25519 <envelope>.<signature>``
header to list the actions.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

LIFETIME_S = 30
"""``exp - iat``: long enough for a clock a little off, short enough that a captured request soon dies (the
exporter refuses more than 60)."""
NONCE_BYTES = 16
AUTH_SCHEME = "OM-Ed25519"


def b64url(data: bytes) -> str:
    """Base64url without padding, the protocol's transport encoding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class Envelope:
    """What one request asks of one exporter: ``action`` "" with no ``params`` asks for the listing."""

    server_id: str
    action: str
    requested_by: str
    iat: int
    params: Mapping[str, str] = field(default_factory=dict)
    exp: int = 0
    """0: ``iat`` + :data:`LIFETIME_S`."""
    nonce: str = field(default_factory=lambda: b64url(secrets.token_bytes(NONCE_BYTES)))

    def to_bytes(self) -> bytes:
        """The bytes that are signed and sent."""
        return json.dumps(
            {
                "server_id": self.server_id,
                "action": self.action,
                "params": dict(self.params),
                "requested_by": self.requested_by,
                "iat": self.iat,
                "exp": self.exp or self.iat + LIFETIME_S,
                "nonce": self.nonce,
            },
            separators=(",", ":"),
            ensure_ascii=False,
        ).encode("utf-8")


@dataclass(frozen=True)
class Signed:
    """An envelope's bytes and their signature, each base64url-encoded."""

    envelope: str
    signature: str

    def body(self) -> dict[str, str]:
        """The JSON body of ``POST /actions/<name>``."""
        return {"envelope": self.envelope, "signature": self.signature}

    def authorization(self) -> str:
        """The ``Authorization`` header of ``GET /actions``."""
        return f"{AUTH_SCHEME} {self.envelope}.{self.signature}"


def sign(envelope: Envelope, key: Ed25519PrivateKey) -> Signed:
    """Serialize ``envelope`` once and sign exactly those bytes."""
    data = envelope.to_bytes()
    return Signed(b64url(data), b64url(key.sign(data)))
