"""Sealing secrets stored in PostgreSQL: AES-256-GCM under keys from a key file or the settings.

A sealed value is ``version (1 byte) | key id (4 bytes) | nonce (12 bytes) | ciphertext and tag``. The key
id is the start of the key's SHA-256, so the keyring finds the key a value was sealed with and several keys
can live side by side while rotating. The associated data is the header plus the value's place (table,
column and row id, see :func:`place`): a sealed value copied into another row or column does not open.

A key file holds one base64 key (32 bytes) per line, the current key first and older keys, kept only to
open values not yet sealed again, after it; ``#`` lines are comments. With no key configured, the file
``<data_dir>/secrets.key`` is made on first start, mode 0600. A running process reads its key file again
when the file changes (``openmanager keys rotate`` rewrites it), so it never seals under a dropped key.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

VERSION: Final = 1
KEY_BYTES: Final = 32
KEY_ID_BYTES: Final = 4
NONCE_BYTES: Final = 12
HEADER_BYTES: Final = 1 + KEY_ID_BYTES
KEY_FILE_NAME: Final = "secrets.key"


class SecretKeyError(RuntimeError):
    """A key is missing, malformed or wrong for a sealed value: said plainly, never with a key's value."""


def key_id(key: bytes) -> bytes:
    """The 4-byte id of ``key`` written before every value it seals."""
    return hashlib.sha256(key).digest()[:KEY_ID_BYTES]


def place(table: str, column: str, row_id: object) -> bytes:
    """The associated data naming where a sealed value lives."""
    return f"{table}.{column}:{row_id}".encode()


def sealed_key_id(blob: bytes) -> bytes:
    """The id of the key ``blob`` was sealed with."""
    return blob[1:HEADER_BYTES]


@dataclass(frozen=True)
class Keyring:
    """The current key, which seals, and every key that may open (the current one included)."""

    keys: tuple[bytes, ...]
    """Current first."""
    source: str = "(keys)"
    """Where the keys came from, for error messages."""

    def __post_init__(self) -> None:
        if not self.keys:
            raise SecretKeyError(f"{self.source} holds no key")
        for key in self.keys:
            if len(key) != KEY_BYTES:
                raise SecretKeyError(f"{self.source}: a key must be {KEY_BYTES} bytes, base64-encoded")

    @property
    def current_id(self) -> bytes:
        """The id of the key that seals."""
        return key_id(self.keys[0])

    def seal(self, plaintext: bytes, where: bytes) -> bytes:
        """``plaintext`` sealed under the current key, bound to ``where`` (see :func:`place`)."""
        header = bytes([VERSION]) + self.current_id
        nonce = secrets.token_bytes(NONCE_BYTES)
        return header + nonce + AESGCM(self.keys[0]).encrypt(nonce, plaintext, header + where)

    def open(self, blob: bytes, where: bytes) -> bytes:
        """The plaintext of ``blob``; :class:`SecretKeyError` when no key of the ring opens it there."""
        if len(blob) < HEADER_BYTES + NONCE_BYTES + 16 or blob[0] != VERSION:
            raise SecretKeyError(f"{where.decode()} does not hold a sealed value of version {VERSION}")
        wanted = sealed_key_id(blob)
        key = next((k for k in self.keys if key_id(k) == wanted), None)
        if key is None:
            raise SecretKeyError(
                f"{where.decode()} is sealed with key {wanted.hex()}, which {self.source} does not hold "
                f"(it holds {', '.join(key_id(k).hex() for k in self.keys)}): configure the key it was "
                "sealed with"
            )
        nonce = blob[HEADER_BYTES : HEADER_BYTES + NONCE_BYTES]
        try:
            return AESGCM(key).decrypt(nonce, blob[HEADER_BYTES + NONCE_BYTES :], blob[:HEADER_BYTES] + where)
        except InvalidTag:
            raise SecretKeyError(
                f"{where.decode()} does not open with key {wanted.hex()}: altered, or moved from another row"
            ) from None

    def seal_text(self, text: str, where: bytes) -> bytes:
        """A string sealed (UTF-8)."""
        return self.seal(text.encode(), where)

    def open_text(self, blob: bytes, where: bytes) -> str:
        """A sealed string opened."""
        return self.open(blob, where).decode()


def new_key() -> bytes:
    """A random 256-bit key."""
    return secrets.token_bytes(KEY_BYTES)


def encode_keys(keys: tuple[bytes, ...]) -> str:
    """The text of a key file holding ``keys`` (current first)."""
    header = "# OpenManager secrets keys, current first; older keys only open values not yet sealed again\n"
    return header + "".join(base64.b64encode(k).decode() + "\n" for k in keys)


def parse_keys(text: str, source: str) -> Keyring:
    """A keyring from lines (or commas) of base64 keys, current first."""
    keys = []
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        for item in filter(None, (part.strip() for part in line.split(","))):
            try:
                keys.append(base64.b64decode(item, validate=True))
            except (binascii.Error, ValueError):
                raise SecretKeyError(f"{source}: a key is not valid base64") from None
    return Keyring(tuple(keys), source)


def write_key_file(path: Path, keys: tuple[bytes, ...]) -> None:
    """Replace ``path`` by a 0600 file of ``keys`` at once (a crash leaves the old file or the new one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as file:
        file.write(encode_keys(keys))
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)


def read_key_file(path: Path, *, create: bool) -> Keyring:
    """The keyring in ``path``; with ``create``, a missing file is made with a new key (mode 0600)."""
    if create:
        path.parent.mkdir(parents=True, exist_ok=True)
        # O_EXCL: when two processes start together, one creates the file and the other reads it.
        with contextlib.suppress(FileExistsError):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="ascii") as file:
                file.write(encode_keys((new_key(),)))
    try:
        if path.stat().st_mode & 0o077:
            raise SecretKeyError(f"{path} is readable by other users; run: chmod 600 {path}")
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise SecretKeyError(f"the secrets key file {path} cannot be read: {exc}") from None
    return parse_keys(text, str(path))
