"""Rules files and the shipped defaults: located errors, duplicates, sources."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.alerts.rulefile import default_rules, load_rules_file
from collector.config.configfile import ConfigError


def test_default_rules_are_the_documented_set() -> None:
    rules = {rule.name: rule for rule in default_rules()}
    assert set(rules) == {
        "HighCpu",
        "HighMemory",
        "DiskSpaceLow",
        "DiskSpaceCritical",
        "ServerDown",
        "DiskFullSoon",
    }
    cpu = rules["HighCpu"]
    assert (cpu.threshold, cpu.clear_threshold, cpu.for_s) == (90, 80, 300)
    assert rules["DiskSpaceLow"].threshold == 85 and rules["DiskSpaceLow"].severity == "warning"
    assert rules["DiskSpaceCritical"].threshold == 95 and rules["DiskSpaceCritical"].severity == "critical"
    assert rules["ServerDown"].for_s == 60 and rules["ServerDown"].severity == "critical"
    assert rules["DiskFullSoon"].hours == 24 and rules["DiskFullSoon"].severity == "warning"
    assert {rule.source for rule in rules.values()} == {"default"}


def test_rules_file_rules_are_marked_as_from_the_file(tmp_path: Path) -> None:
    path = tmp_path / "rules.yml"
    path.write_text(
        "- name: HighCpu\n  kind: threshold\n  metric: cpu\n  threshold: 95\n  for_s: 10m\n"
        "  matchers: [{name: env, value: prod}]\n"
    )
    (rule,) = load_rules_file(path)
    assert rule.source == "file" and rule.for_s == 600 and rule.matchers[0].value == "prod"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "- name: A\n  kind: threshold\n  metric: cpu\n  threshold: 1\n  for_s: 5x\n",
            "rules.yml:5: [0].for_s: '5x': not a duration",
        ),
        (
            "- name: A\n  kind: threshold\n  metric: cpuu\n  threshold: 1\n",
            "rules.yml:3: [0].metric: 'cpuu': Input should be",
        ),
        ("- name: A\n  kind: down\n  colour: red\n", "rules.yml:3: [0].colour: 'red': unknown key"),
        (
            "- name: A\n  kind: down\n- name: A\n  kind: down\n",
            "rules.yml:3: [1].name: 'A': rule [0] has the same name",
        ),
        ("- name: A\n  kind: down\n  id: x\n", "rules.yml:3: [0].id: not allowed in a rules file"),
        ("name: A\n", "expected a list of rules"),
        ("- [1]\n", "rules.yml:1: [0]: [1]: expected a rule"),
    ],
)
def test_rules_file_errors_name_file_line_key_and_value(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "rules.yml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_rules_file(path)
    assert expected in str(caught.value).replace(str(tmp_path) + "/", "")


def test_every_problem_of_a_file_is_reported_at_once(tmp_path: Path) -> None:
    path = tmp_path / "rules.yml"
    path.write_text("- name: A\n  kind: nope\n- name: B\n  kind: down\n  for_s: soon\n")
    with pytest.raises(ConfigError) as caught:
        load_rules_file(path)
    assert len(caught.value.problems) == 2


def test_empty_rules_file_has_no_rules(tmp_path: Path) -> None:
    path = tmp_path / "rules.yml"
    path.write_text("# nothing yet\n")
    assert load_rules_file(path) == []
