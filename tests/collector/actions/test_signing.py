"""The signing key file: made 0600 and never replaced by accident, read back, and refused when it is not an
Ed25519 private key."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from collector.actions.signing import (
    KeyExistsError,
    SigningKeyError,
    create_key_file,
    load_key_file,
    public_key_text,
)


def test_a_new_key_is_0600_and_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "key.pem"
    key = create_key_file(path)
    assert path.stat().st_mode & 0o777 == 0o600
    text = public_key_text(load_key_file(path).public_key())
    assert text == public_key_text(key.public_key())
    assert len(base64.b64decode(text.removeprefix("ed25519:"), validate=True)) == 32


def test_an_existing_key_is_replaced_only_when_forced(tmp_path: Path) -> None:
    path = tmp_path / "key.pem"
    first = public_key_text(create_key_file(path).public_key())
    with pytest.raises(KeyExistsError):
        create_key_file(path)
    assert public_key_text(load_key_file(path).public_key()) == first
    second = public_key_text(create_key_file(path, force=True).public_key())
    assert second != first and public_key_text(load_key_file(path).public_key()) == second
    assert [p.name for p in tmp_path.iterdir()] == ["key.pem"]


def test_a_missing_garbled_or_rsa_key_is_refused_with_the_reason(tmp_path: Path) -> None:
    with pytest.raises(SigningKeyError, match="openmanager keys init"):
        load_key_file(tmp_path / "absent.pem")
    garbled = tmp_path / "garbled.pem"
    garbled.write_text("not a key")
    with pytest.raises(SigningKeyError, match="not an unencrypted PEM"):
        load_key_file(garbled)
    rsa_file = tmp_path / "rsa.pem"
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    rsa_file.write_bytes(
        rsa_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    with pytest.raises(SigningKeyError, match="not an Ed25519 key"):
        load_key_file(rsa_file)
