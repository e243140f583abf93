"""The Ed25519 key that signs remote actions: made, stored (PEM PKCS8, mode 0600), read and shown.

The exporters hold only the public key, in the text form ``ed25519:<base64 of the 32 raw bytes>``
(standard base64, with padding), which :func:`public_key_text` gives.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

PUBLIC_KEY_PREFIX = "ed25519:"
KEY_FILE_MODE = 0o600


class SigningKeyError(Exception):
    """The key file is missing, unreadable, or not an Ed25519 private key; the message says which and how to
    fix it."""


class KeyExistsError(SigningKeyError):
    """``keys init`` would overwrite a key (exporters trust it: replacing it locks them out)."""


def public_key_text(key: Ed25519PublicKey) -> str:
    """The public key as the exporters' settings hold it: ``ed25519:<base64>``."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return PUBLIC_KEY_PREFIX + base64.b64encode(raw).decode("ascii")


def create_key_file(path: Path, *, force: bool = False) -> Ed25519PrivateKey:
    """Make a new key and write it to ``path`` with mode 0600; :class:`KeyExistsError` unless ``force``."""
    if path.exists() and not force:
        raise KeyExistsError(
            f"{path} exists already; exporters trust its public key. Use --force to replace it (then give"
            " every exporter the new public key)"
        )
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written under a temporary name created 0600, then renamed: the key is never readable by others, not
    # even for an instant, and a crash leaves no half-written key.
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.unlink(missing_ok=True)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, KEY_FILE_MODE)
    with os.fdopen(fd, "wb") as file:
        file.write(pem)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)
    return key


def load_key_file(path: Path) -> Ed25519PrivateKey:
    """The private key of ``path``; :class:`SigningKeyError` naming the problem."""
    try:
        pem = path.read_bytes()
    except FileNotFoundError:
        raise SigningKeyError(
            f"no actions signing key at {path}: run `openmanager keys init` (or set actions.signing_key_file)"
        ) from None
    except OSError as exc:
        raise SigningKeyError(f"the actions signing key {path} cannot be read: {exc.strerror}") from None
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise SigningKeyError(f"{path} is not an unencrypted PEM private key: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"{path} holds a {type(key).__name__}, not an Ed25519 key")
    return key
