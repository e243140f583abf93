"""Sealing with AES-GCM: values bound to their place, key ids, clear errors for a wrong key, key files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from collector.secrets.keyring import (
    Keyring,
    SecretKeyError,
    encode_keys,
    key_id,
    new_key,
    parse_keys,
    place,
    read_key_file,
    sealed_key_id,
    write_key_file,
)

HERE = place("users", "totp_secret_sealed", 1)


def test_a_sealed_value_opens_at_its_place_and_hides_the_plaintext() -> None:
    ring = Keyring((new_key(),))
    blob = ring.seal_text("JBSWY3DPEHPK3PXP", HERE)
    assert b"JBSWY3DPEHPK3PXP" not in blob
    assert sealed_key_id(blob) == ring.current_id
    assert ring.open_text(blob, HERE) == "JBSWY3DPEHPK3PXP"
    # A random nonce: sealing twice gives two different values.
    assert ring.seal_text("JBSWY3DPEHPK3PXP", HERE) != blob


@pytest.mark.parametrize(
    "elsewhere",
    [place("users", "totp_secret_sealed", 2), place("notification_channels", "config_sealed", 1)],
)
def test_a_value_moved_to_another_row_or_column_does_not_open(elsewhere: bytes) -> None:
    ring = Keyring((new_key(),))
    blob = ring.seal_text("secret", HERE)
    with pytest.raises(SecretKeyError, match="moved from another row"):
        ring.open(blob, elsewhere)


def test_an_altered_value_does_not_open() -> None:
    ring = Keyring((new_key(),))
    blob = bytearray(ring.seal_text("secret", HERE))
    blob[-1] ^= 1
    with pytest.raises(SecretKeyError, match="altered"):
        ring.open(bytes(blob), HERE)


def test_a_wrong_key_is_named_by_id_and_no_garbage_comes_back() -> None:
    sealing, other = new_key(), new_key()
    blob = Keyring((sealing,)).seal_text("hunter2-totp", HERE)
    with pytest.raises(SecretKeyError) as caught:
        Keyring((other,), "/etc/om/secrets.key").open(blob, HERE)
    message = str(caught.value)
    assert key_id(sealing).hex() in message and key_id(other).hex() in message
    assert "/etc/om/secrets.key" in message and "hunter2" not in message


def test_an_old_key_still_opens_while_the_new_one_seals() -> None:
    old, new = new_key(), new_key()
    blob = Keyring((old,)).seal_text("secret", HERE)
    ring = Keyring((new, old))
    assert ring.open_text(blob, HERE) == "secret"
    assert sealed_key_id(ring.seal_text("secret", HERE)) == key_id(new)


@pytest.mark.parametrize(
    ("blob", "message"),
    [(b"", "version"), (b"\x02" + bytes(40), "version"), (b"\x01abc", "version")],
)
def test_a_value_that_is_not_sealed_is_refused(blob: bytes, message: str) -> None:
    with pytest.raises(SecretKeyError, match=message):
        Keyring((new_key(),)).open(blob, HERE)


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "holds no key"), ("not base64!", "not valid base64"), ("c2hvcnQ=", "must be 32 bytes")],
)
def test_bad_key_text_is_refused(text: str, message: str) -> None:
    with pytest.raises(SecretKeyError, match=message):
        parse_keys(text, "secrets.key")


def test_keys_parse_from_lines_or_commas_current_first() -> None:
    a, b = new_key(), new_key()
    assert parse_keys(encode_keys((a, b)), "file").keys == (a, b)
    inline = ",".join(line for line in encode_keys((b, a)).splitlines() if not line.startswith("#"))
    assert parse_keys(inline, "env").keys == (b, a)


def test_a_missing_key_file_is_made_0600_and_read_again_the_same(tmp_path: Path) -> None:
    path = tmp_path / "data" / "secrets.key"
    first = read_key_file(path, create=True)
    assert path.stat().st_mode & 0o777 == 0o600
    assert read_key_file(path, create=True) == first


def test_a_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "secrets.key"
    write_key_file(path, (new_key(),))
    os.chmod(path, 0o644)
    with pytest.raises(SecretKeyError, match="chmod 600"):
        read_key_file(path, create=False)


def test_a_missing_key_file_is_an_error_when_not_made(tmp_path: Path) -> None:
    with pytest.raises(SecretKeyError, match="cannot be read"):
        read_key_file(tmp_path / "absent.key", create=False)


def test_writing_a_key_file_replaces_it_whole(tmp_path: Path) -> None:
    path = tmp_path / "secrets.key"
    a, b = new_key(), new_key()
    write_key_file(path, (a,))
    write_key_file(path, (b, a))
    assert read_key_file(path, create=False).keys == (b, a)
    assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["secrets.key"]
