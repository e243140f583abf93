"""Checked YAML values: each check accepts the right type and range and names the key otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest

from exporter.validation import ConfigError, Reader, load_yaml, show

READER = Reader("exporter.yml")


def test_error_message_has_file_key_and_problem() -> None:
    assert str(READER.fail("a.b", "got 1; expected 2")) == "exporter.yml: a.b: got 1; expected 2"


def test_empty_section_is_an_empty_mapping() -> None:
    assert READER.mapping(None, "collectors", ("cpu",)) == {}


def test_non_string_key_is_unknown() -> None:
    with pytest.raises(ConfigError, match=r"^exporter.yml: s\.1: unknown key; expected one of: a$"):
        READER.mapping({1: "x"}, "s", ("a",))


@pytest.mark.parametrize("value", [True, 1.5, "3", None, -1, 11])
def test_integer_refuses_booleans_floats_strings_and_out_of_range(value: object) -> None:
    with pytest.raises(ConfigError, match="expected an integer from 0 to 10"):
        READER.integer(value, "n", 0, 10)


@pytest.mark.parametrize(("value", "expected"), [(0, 0.0), (2, 2.0), (2.5, 2.5)])
def test_seconds_accepts_ints_and_floats(value: object, expected: float) -> None:
    assert READER.seconds(value, "t", 0, 10) == expected


def test_string_list_names_the_bad_item_index() -> None:
    with pytest.raises(ConfigError, match=r"^exporter.yml: units\[1\]: got 3; expected a non-empty string$"):
        READER.string_list(["a", 3], "units")


def test_readable_file_resolves_relative_paths_against_the_base(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("x")
    assert READER.readable_file("token", "t", tmp_path) == tmp_path / "token"
    assert READER.readable_file(str(tmp_path / "token"), "t", Path("/elsewhere")) == tmp_path / "token"


def test_long_values_are_shortened_in_messages() -> None:
    assert len(show("x" * 500)) == 80


def test_yaml_syntax_error_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.yml"
    path.write_text("a: 1\nb: [\n")
    with pytest.raises(ConfigError, match=r"bad.yml: not valid YAML at line 3, column 1"):
        load_yaml(path)


def test_non_utf8_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yml"
    path.write_bytes(b"a: \xe9\n")
    with pytest.raises(ConfigError, match="the file is not UTF-8 text"):
        load_yaml(path)
