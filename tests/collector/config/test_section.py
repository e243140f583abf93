"""What every settings section shares: unknown keys refused, secrets inline or from a file."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from collector.config.section import Section, one_of_secret, read_secret_file


class _Example(Section):
    name: str = "x"


def test_a_section_refuses_unknown_keys_and_is_frozen() -> None:
    with pytest.raises(ValidationError, match="bogus"):
        _Example.model_validate({"bogus": 1})
    example = _Example()
    with pytest.raises(ValidationError):
        example.name = "y"


def test_a_secret_file_is_read_stripped(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_text("  s3cret\n")
    assert read_secret_file(path, "password_file").get_secret_value() == "s3cret"
    assert one_of_secret(None, path, "password") == SecretStr("s3cret")


def test_an_unreadable_secret_file_names_its_key(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"password_file '.*missing' cannot be read"):
        one_of_secret(None, tmp_path / "missing", "password")


def test_a_secret_is_given_inline_or_in_a_file_not_both(tmp_path: Path) -> None:
    assert one_of_secret(SecretStr("inline"), None, "dsn") == SecretStr("inline")
    assert one_of_secret(None, None, "dsn") is None
    with pytest.raises(ValueError, match="either dsn or dsn_file"):
        one_of_secret(SecretStr("inline"), tmp_path / "f", "dsn")
