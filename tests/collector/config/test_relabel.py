"""Relabel rules: validation of every field for each action, and the action names."""

from __future__ import annotations

import pytest

from collector.config.relabel import InvalidRelabelRuleError, RelabelAction, RelabelRule

A = RelabelAction


@pytest.mark.parametrize(
    ("fields", "key", "fragment"),
    [
        ({"action": A.HASHMOD, "target_label": "t"}, ("modulus",), "modulus greater than 0"),
        ({"action": A.HASHMOD, "modulus": 2}, ("target_label",), "needs a target_label"),
        ({"action": A.REPLACE}, ("target_label",), "needs a target_label"),
        ({"target_label": "1bad"}, ("target_label",), "not a valid label name"),
        ({"target_label": "bad-$1"}, ("target_label",), "template"),
        ({"action": A.LOWERCASE}, ("target_label",), "needs a target_label"),
        (
            {"action": A.UPPERCASE, "target_label": "t", "replacement": "x"},
            ("replacement",),
            "no replacement",
        ),
        ({"action": A.KEEPEQUAL, "target_label": "t", "regex": "a.*"}, ("regex",), "only source_labels"),
        (
            {"action": A.DROPEQUAL, "target_label": "t", "separator": ","},
            ("separator",),
            "only source_labels",
        ),
        ({"action": A.DROPEQUAL}, ("target_label",), "needs a target_label"),
        ({"action": A.LABELMAP, "replacement": "not valid"}, ("replacement",), "labelmap needs"),
        ({"action": A.LABELDROP, "source_labels": ("a",)}, ("source_labels",), "takes only regex"),
        ({"action": A.LABELKEEP, "target_label": "t"}, ("target_label",), "takes only regex"),
        ({"source_labels": ("ok", "not-ok"), "target_label": "t"}, ("source_labels", 1), "label name"),
        ({"regex": "(unclosed", "target_label": "t"}, ("regex",), "not a valid regular expression"),
        ({"regex": "\\pL", "target_label": "t"}, ("regex",), "not a valid regular expression"),
        ({"regex": "(?U)a*", "target_label": "t"}, ("regex",), "ungreedy"),
        ({"regex": "[[:^alpha:]]", "target_label": "t"}, ("regex",), "not supported"),
    ],
)
def test_invalid_rule_names_the_field(
    fields: dict[str, object], key: tuple[str | int, ...], fragment: str
) -> None:
    with pytest.raises(InvalidRelabelRuleError) as caught:
        RelabelRule(**fields)  # type: ignore[arg-type]
    assert any(problem.key == key and fragment in problem.expected for problem in caught.value.problems)


def test_invalid_rule_reports_every_problem_at_once() -> None:
    with pytest.raises(InvalidRelabelRuleError) as caught:
        RelabelRule(A.HASHMOD, ("bad name",), regex="(")
    assert {problem.key for problem in caught.value.problems} == {
        ("regex",),
        ("source_labels", 0),
        ("modulus",),
        ("target_label",),
    }


def test_action_names_are_the_configuration_names() -> None:
    assert sorted(A) == sorted(
        [
            "replace",
            "keep",
            "drop",
            "keepequal",
            "dropequal",
            "hashmod",
            "labelmap",
            "labeldrop",
            "labelkeep",
            "lowercase",
            "uppercase",
        ]
    )
