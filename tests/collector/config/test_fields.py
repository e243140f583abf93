"""Typed reading of YAML mappings: defaults, Go-like string scalars, and one located problem per bad value."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.config.configfile import ConfigProblem, parse_yaml
from collector.config.fields import Fields, as_text


def fields(text: str) -> tuple[Fields, list[ConfigProblem]]:
    problems: list[ConfigProblem] = []
    doc = parse_yaml(text, "f.yaml")
    reader = Fields.of(doc, (), doc.data, problems, "a mapping")
    assert reader is not None
    return reader, problems


@pytest.mark.parametrize(
    ("value", "text"),
    [("x", "x"), (True, "true"), (False, "false"), (9100, "9100"), (1.5, None), (None, None), ([1], None)],
)
def test_as_text_reads_scalars_as_go_yaml_would_for_a_string(value: object, text: str | None) -> None:
    assert as_text(value) == text


def test_absent_and_null_keys_give_defaults_without_problems() -> None:
    reader, problems = fields("a: null\n")
    assert reader.text("a", "d") == "d"
    assert reader.boolean("b", True) is True
    assert reader.count("c") == 0
    assert reader.duration_s("d") is None
    assert reader.size_bytes("e") == 0
    assert reader.text_list("f") == ()
    assert reader.labels("g") == ()
    assert reader.sections("h", "things") == []
    assert problems == []


def test_bad_values_are_reported_and_remembered_as_failed() -> None:
    reader, problems = fields("a: [1]\nb: 2\nc: 1.5\nd: 10 seconds\n")
    assert reader.text("a", "d") == "d"
    assert reader.boolean("b", False) is False
    assert reader.count("c") == 0
    assert reader.duration_s("d") is None
    assert [(p.key, p.line) for p in problems] == [("a", 1), ("b", 2), ("c", 3), ("d", 4)]
    assert reader.failed("d")
    assert not reader.failed("e")


def test_required_text_reports_missing_or_empty_once() -> None:
    reader, problems = fields("name: ''\n")
    assert reader.required_text("name") == ""
    assert reader.required_text("other") == ""
    assert [p.expected for p in problems] == ["required key is missing or empty"] * 2


def test_labels_are_sorted_pairs_and_bad_names_are_located() -> None:
    reader, problems = fields("labels:\n  zone: b\n  app: x\n  9lives: y\n")
    assert reader.labels("labels") == (("app", "x"), ("zone", "b"))
    assert [(p.key, p.line) for p in problems] == [("labels.9lives", 4)]
    assert reader.failed("labels")


def test_unknown_keys_use_the_explanation_when_given() -> None:
    reader, problems = fields("known: 1\ntypo: 2\n3: x\n")
    reader.check_keys(("known",), lambda key: f"no {key} here")
    assert [str(p) for p in problems] == [
        "f.yaml:2: typo: no typo here",
        "f.yaml:3: 3: 3: keys must be strings",
    ]


def test_sections_skip_entries_that_are_not_mappings() -> None:
    reader, problems = fields("items:\n  - {a: 1}\n  - 7\n  -\n")
    assert [section.path for section in reader.sections("items", "items")] == [("items", 0)]
    assert [(p.key, p.line) for p in problems] == [("items[1]", 3), ("items[2]", 4)]


def test_secret_comes_inline_or_from_a_stripped_file_never_both(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("\n  abc \n", encoding="utf-8")
    reader, problems = fields("inline: x\nfile: token\nboth: y\nboth_file: token\n")
    assert reader.secret("inline", "inline_file", tmp_path) == "x"
    assert reader.secret("nothing", "file", tmp_path) == "abc"
    assert reader.secret("both", "both_file", tmp_path) is None
    assert reader.secret("absent", "absent_file", tmp_path) is None
    assert [p.key for p in problems] == ["both_file"]
