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
    ("password", "problem"),
    [
        ("short", "at least 10 characters"),
        (" padded password ", "white space"),
        # Long enough, but on every list of common passwords, or one of their variations.
        ("password12", "too easy to guess"),
        ("Password123!", "too easy to guess"),
        ("qwertyuiop", "too easy to guess"),
        ("1234567890", "too easy to guess"),
        ("iloveyou2024", "too easy to guess"),
        ("aaaaaaaaaaaa", "too easy to guess"),
        ("openmanager1", "too easy to guess"),
        # The username, alone, inside, in another case, or dressed up.
        ("margaret.h", "contain the username"),
        ("MARGARET.H-2024-rocks", "contain the username"),
        ("my name is margaret.h ok", "contain the username"),
        ("h.teragram", "too easy to guess"),
        # Unrelated words and random text pass.
        ("long enough pw", None),
        ("correct horse battery staple", None),
        ("tulip engine parade 47", None),
        ("xK9#mQ2$vL", None),
    ],
)
def test_password_strength(password: str, problem: str | None) -> None:
    found = check_password_strength(password, username="margaret.h")
    assert (found is None) if problem is None else (found is not None and problem in found), found


def test_a_short_username_must_not_be_the_password_but_may_be_inside_it() -> None:
    assert check_password_strength("ab", username="ab") is not None
    assert check_password_strength("tabular fabric cab", username="ab") is None


def test_only_the_first_72_characters_are_rated_and_long_ones_still_pass() -> None:
    assert check_password_strength("tulip engine parade 47 " * 40 + "end", username="u") is None
    assert check_password_strength("a" * 200, username="u") is not None


def test_generated_passwords_are_strong_and_distinct() -> None:
    first, second = generate_password(), generate_password()
    assert first != second and check_password_strength(first, username="admin") is None
