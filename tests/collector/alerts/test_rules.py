"""Alert rules: validation per kind, durations, hysteresis on the safe side, overrides by specificity."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from collector.alerts.rules import Rule, compare, derived_rule_id, select_rules
from collector.matchers import Matcher

SERVER_ID = "00000000-0000-4000-8000-000000000001"
LABELS = {"job": "node", "instance": "web-1:9100", "server_id": SERVER_ID, "env": "prod"}


def cpu(**fields: object) -> Rule:
    return Rule.model_validate(
        {"name": "HighCpu", "kind": "threshold", "metric": "cpu", "threshold": 90, **fields}
    )


@pytest.mark.parametrize(("text", "seconds"), [("5m", 300.0), ("1h30m", 5400.0), (45, 45.0), ("0", 0.0)])
def test_durations_take_prometheus_strings_or_seconds(text: object, seconds: float) -> None:
    assert cpu(for_s=text, keep_firing_for_s=text).for_s == seconds


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"for_s": "5 minutes"}, "not a duration"),
        ({"clear_threshold": 95}, "must not be above threshold 90"),
        ({"op": "<", "threshold": 10, "clear_threshold": 5}, "must not be below threshold 10"),
        ({"metric": None}, "needs metric and threshold"),
        ({"metric": "swap"}, "Input should be"),
        ({"op": "=="}, "Input should be"),
        ({"name": "high-cpu"}, "should match pattern"),
        ({"labels": {"severity": "page"}}, "set by the engine"),
        ({"labels": {"1x": "y"}}, "not valid"),
        ({"annotations": {"title": "{{ value"}}, "annotation 'title': template does not render"),
        ({"annotations": {"title": "{{ value | nosuchfilter }}"}}, "template does not render"),
        (
            {
                "annotations": {
                    "title": "{% for i in range(10**5) %}{% for j in range(10**5) %}{% endfor %}{% endfor %}"
                }
            },
            "annotation 'title': template goes past a rendering limit",
        ),
        ({"annotations": {f"a{i}": "x" for i in range(33)}}, "at most 32 annotations"),
        ({"hours": 5}, "disk_full_prediction rules only"),
        ({"severity": "fatal"}, "Input should be"),
        ({"for_s": -1}, "greater than or equal to 0"),
        ({"unknown": 1}, "Extra inputs are not permitted"),
    ],
)
def test_bad_rule_is_a_validation_error_saying_what_is_wrong(
    fields: dict[str, object], fragment: str
) -> None:
    with pytest.raises(ValidationError, match=fragment):
        cpu(**fields)


def test_non_threshold_rules_refuse_threshold_fields() -> None:
    with pytest.raises(ValidationError, match="threshold rules only, not to down"):
        Rule(name="Down", kind="down", threshold=1)


def test_disk_full_prediction_defaults_to_24_hours() -> None:
    assert Rule(name="DiskFullSoon", kind="disk_full_prediction").hours == 24.0


def test_clear_threshold_equal_to_threshold_is_allowed() -> None:
    assert cpu(clear_threshold=90).clear_threshold == 90


@pytest.mark.parametrize(
    ("value", "op", "threshold", "expected"),
    [
        (91, ">", 90, True),
        (90, ">", 90, False),
        (90, ">=", 90, True),
        (5, "<", 10, True),
        (10, "<=", 10, True),
    ],
)
def test_compare(value: float, op: str, threshold: float, expected: bool) -> None:
    assert compare(value, op, threshold) is expected  # type: ignore[arg-type]


def test_rule_id_is_derived_from_name_and_scope_and_stable() -> None:
    env = (Matcher(name="env", value="prod"), Matcher(name="job", value="node"))
    assert cpu(matchers=env).id == cpu(matchers=tuple(reversed(env))).id == derived_rule_id("HighCpu", env)
    assert cpu().id != cpu(matchers=env).id
    assert cpu(id="my-rule").id == "my-rule"


def test_most_specific_rule_of_a_name_wins_and_server_id_beats_any_label_set() -> None:
    default = cpu()
    prod = cpu(threshold=95, matchers=(Matcher(name="env", value="prod"),))
    prod_node = cpu(
        threshold=96, matchers=(Matcher(name="env", value="prod"), Matcher(name="job", value="node"))
    )
    by_server = cpu(threshold=99, matchers=(Matcher(name="server_id", value=SERVER_ID),))
    other_server = cpu(threshold=50, matchers=(Matcher(name="server_id", value="other"),))
    memory = Rule(name="HighMemory", kind="threshold", metric="memory", threshold=90)
    rules = [default, prod, prod_node, by_server, other_server, memory]
    assert {r.id for r in select_rules(rules, LABELS)} == {by_server.id, memory.id}
    assert select_rules([default, prod, prod_node], LABELS) == [prod_node]
    assert select_rules([default, prod], {**LABELS, "env": "dev"}) == [default]


def test_disabled_rule_does_not_override() -> None:
    default = cpu()
    off = cpu(enabled=False, matchers=(Matcher(name="server_id", value=SERVER_ID),))
    assert select_rules([default, off], LABELS) == [default]


def test_default_annotations_are_filled_in_and_rule_annotations_win() -> None:
    templates = cpu(annotations={"title": "CPU!"}).annotation_templates()
    assert templates["title"] == "CPU!" and "{{ value" in templates["message"]
