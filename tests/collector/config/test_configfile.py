"""Reading YAML with the line of every key, and reporting located configuration problems."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict, ValidationError

from collector.config.configfile import (
    ConfigError,
    ConfigProblem,
    YamlDocument,
    format_key,
    parse_yaml,
    problems_from_validation,
    read_yaml,
)

TEXT = """\
server:
  port: 8080
  tags:
    - a
    - b
jobs:
  - name: x
    interval: 15s
"""


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ((), "(top level)"),
        (("server",), "server"),
        (("server", "port"), "server.port"),
        (("jobs", 0, "name"), "jobs[0].name"),
        ((0, "targets", 2), "[0].targets[2]"),
    ],
)
def test_format_key_renders_dotted_paths_with_indexes(path: tuple[str | int, ...], text: str) -> None:
    assert format_key(path) == text


def test_parse_yaml_keeps_the_line_of_every_key_and_list_item() -> None:
    doc = parse_yaml(TEXT, "conf.yaml")
    assert doc.data == {
        "server": {"port": 8080, "tags": ["a", "b"]},
        "jobs": [{"name": "x", "interval": "15s"}],
    }
    assert doc.line_of(("server",)) == 1
    assert doc.line_of(("server", "port")) == 2
    assert doc.line_of(("server", "tags", 1)) == 5
    assert doc.line_of(("jobs", 0)) == 7
    assert doc.line_of(("jobs", 0, "interval")) == 8


def test_missing_key_is_located_at_its_nearest_parent() -> None:
    doc = parse_yaml(TEXT, "conf.yaml")
    assert doc.line_of(("jobs", 0, "timeout")) == 7
    assert doc.line_of(("nowhere", "at", "all")) == 1


def test_problem_carries_file_line_key_and_value() -> None:
    problem = parse_yaml(TEXT, "conf.yaml").problem(("server", "port"), "expected a port below 1024", 8080)
    assert problem == ConfigProblem("conf.yaml", "server.port", "expected a port below 1024", 8080, 2)
    assert str(problem) == "conf.yaml:2: server.port: 8080: expected a port below 1024"


def test_problem_without_value_or_line_reads_naturally() -> None:
    assert str(ConfigProblem("conf.yaml", "server.port", "required key is missing")) == (
        "conf.yaml: server.port: required key is missing"
    )


def test_long_values_are_shortened_in_messages() -> None:
    text = str(ConfigProblem("f", "k", "too long", "x" * 200, 1))
    assert len(text) < 120
    assert text.endswith("...: too long")


def test_duplicate_key_is_an_error_at_the_second_occurrence() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_yaml("a: 1\nb:\n  c: 2\n  c: 3\n", "conf.yaml")
    (problem,) = caught.value.problems
    assert (problem.key, problem.line, problem.expected) == ("b.c", 4, "this key is given twice")


def test_syntax_error_is_located() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_yaml("a: 1\nb: [1, 2\nc: 3\n", "conf.yaml")
    (problem,) = caught.value.problems
    assert problem.key == "(syntax)"
    assert problem.line == 3
    assert "not valid YAML" in str(problem)


def test_empty_document_has_no_data() -> None:
    assert parse_yaml("# only a comment\n", "conf.yaml") == YamlDocument("conf.yaml", None, {})


def test_read_yaml_names_an_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"missing\.yaml: \(file\): cannot be read"):
        read_yaml(tmp_path / "missing.yaml")


def test_read_yaml_reads_a_file(tmp_path: Path) -> None:
    (tmp_path / "conf.yaml").write_text(TEXT, encoding="utf-8")
    assert read_yaml(tmp_path / "conf.yaml").file == str(tmp_path / "conf.yaml")


def test_config_error_lists_every_problem_one_per_line() -> None:
    error = ConfigError([ConfigProblem("f", "a", "bad", line=1), ConfigProblem("f", "b", "worse", line=2)])
    assert str(error) == "f:1: a: bad\nf:2: b: worse"


class _Job(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    interval_s: int


class _Conf(BaseModel):
    model_config = ConfigDict(extra="forbid")

    jobs: list[_Job]


def test_pydantic_errors_become_located_problems() -> None:
    doc = parse_yaml(
        "jobs:\n  - name: x\n    interval_s: soon\n    extra: 1\n  - interval_s: 5\n", "conf.yaml"
    )
    with pytest.raises(ValidationError) as caught:
        _Conf.model_validate(doc.data)
    problems = {p.key: p for p in problems_from_validation(caught.value, doc)}
    assert problems["jobs[0].interval_s"].line == 3
    assert problems["jobs[0].interval_s"].value == "soon"
    assert problems["jobs[0].extra"].expected.startswith("unknown key")
    assert problems["jobs[0].extra"].line == 4
    assert (problems["jobs[1].name"].expected, problems["jobs[1].name"].line) == (
        "required key is missing",
        5,
    )


def test_pydantic_problems_can_be_placed_under_a_prefix() -> None:
    doc = parse_yaml("outer:\n  jobs: []\n  bogus: 1\n", "conf.yaml")
    section = doc.data["outer"] if isinstance(doc.data, dict) else None
    with pytest.raises(ValidationError) as caught:
        _Conf.model_validate(section)
    (problem,) = problems_from_validation(caught.value, doc, prefix=("outer",))
    assert (problem.key, problem.line) == ("outer.bogus", 3)
