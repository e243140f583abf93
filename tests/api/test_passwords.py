"""argon2id password hashing."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from api.passwords import (
    check_password_strength,
    generate_password,
    hash_password,
    needs_rehash,
    verify_password,
)


def test_hash_is_argon2id_with_at_least_19_mib_and_two_passes() -> None:
    stored = hash_password("correct horse battery")
    assert stored.startswith("$argon2id$")
    params = dict(p.split("=") for p in stored.split("$")[3].split(","))
    assert int(params["m"]) >= 19 * 1024 and int(params["t"]) >= 2


def test_right_password_verifies_and_wrong_one_does_not() -> None:
    stored = hash_password("correct horse battery")
    assert verify_password(stored, "correct horse battery")
    assert not verify_password(stored, "correct horse batterx")
    assert not verify_password("not a hash", "anything")


def test_hash_made_with_weaker_parameters_needs_rehash() -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024).hash("correct horse battery")
    assert needs_rehash(weak)
    assert not needs_rehash(hash_password("correct horse battery"))


@pytest.mark.parametrize(
    ("password", "ok"), [("short", False), (" padded password ", False), ("long enough pw", True)]
)
def test_password_strength(password: str, ok: bool) -> None:
    assert (check_password_strength(password) is None) is ok


def test_generated_passwords_are_strong_and_distinct() -> None:
    first, second = generate_password(), generate_password()
    assert first != second and check_password_strength(first) is None
