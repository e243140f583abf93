"""A server's alert thresholds as rules scoped to its id: made, listed, removed, and evaluated."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from collector.alerts import rule_store
from collector.alerts.evaluator import Observation, evaluate
from collector.alerts.rules import Rule
from collector.alerts.server_thresholds import (
    Override,
    ThresholdError,
    delete_overrides,
    override_rule,
    server_thresholds,
    set_thresholds,
    thresholds_of,
)
from collector.matchers import Matcher
from collector.summary import ServerSummary

WEB = uuid.UUID("00000000-0000-4000-8000-0000000000a1")
DB = uuid.UUID("00000000-0000-4000-8000-0000000000b2")
LABELS = {"job": "servers", "instance": "h:9100", "env": "prod"}

CPU = Rule(name="HighCpu", kind="threshold", metric="cpu", threshold=90, clear_threshold=80, source="default")
CPU_PROD = Rule(
    name="HighCpu",
    kind="threshold",
    metric="cpu",
    threshold=85,
    clear_threshold=75,
    matchers=(Matcher(name="env", value="prod"),),
)
LOAD = Rule(name="LowLoad", kind="threshold", metric="load1", op="<", threshold=0.1, clear_threshold=0.5)
DOWN = Rule(name="ServerDown", kind="down")


def fires(rules: list[Rule], server: uuid.UUID, cpu: float) -> bool:
    """Whether a HighCpu alert fires for ``server`` at ``cpu`` percent (the rules have no ``for``)."""
    labels = {**LABELS, "server_id": str(server)}
    observation = Observation(server, "h", labels, True, ServerSummary(cpu=cpu), 1000.0)
    return any(change.kind == "firing" for change in evaluate(rules, observation, {}).changes)


def test_an_override_copies_the_rule_that_applies_scoped_to_the_server() -> None:
    rule = override_rule(CPU_PROD, WEB, Override(50.0))
    assert (rule.threshold, rule.clear_threshold) == (50.0, 40.0), "the base's hysteresis is kept"
    assert rule.matchers == (Matcher(name="server_id", value=str(WEB)),)
    assert (rule.name, rule.kind, rule.metric, rule.severity) == ("HighCpu", "threshold", "cpu", "warning")
    assert rule.id != CPU_PROD.id and rule.source == "api"


def test_a_threshold_override_changes_the_evaluation_for_that_server_only() -> None:
    rules = [CPU, DOWN, override_rule(CPU, WEB, Override(60.0, 50.0))]
    assert fires(rules, WEB, 70.0)
    assert not fires(rules, DB, 70.0), "other servers keep the default threshold"
    assert not fires([CPU, DOWN], WEB, 70.0)


def test_thresholds_list_the_value_in_force_and_the_default() -> None:
    rules = [CPU, CPU_PROD, LOAD, DOWN, override_rule(CPU_PROD, WEB, Override(60.0, 55.0))]
    listed = {t.rule: t for t in thresholds_of(rules, WEB, LABELS)}
    assert set(listed) == {"HighCpu", "LowLoad"}, "only threshold rules"
    cpu = listed["HighCpu"]
    assert (cpu.threshold, cpu.clear_threshold, cpu.default_threshold, cpu.overridden) == (60, 55, 85, True)
    assert not listed["LowLoad"].overridden and listed["LowLoad"].op == "<"
    (other,) = [t for t in thresholds_of(rules, DB, {"job": "servers"}) if t.rule == "HighCpu"]
    assert (other.threshold, other.overridden) == (90, False)


@pytest.mark.parametrize(
    ("base", "override", "field"),
    [
        (CPU, Override(150.0), "HighCpu.threshold"),
        (CPU, Override(-1.0), "HighCpu.threshold"),
        (CPU, Override(float("nan")), "HighCpu.threshold"),
        (CPU, Override(50.0, 70.0), "HighCpu.clear_threshold"),
        (LOAD, Override(0.5, 0.2), "LowLoad.clear_threshold"),
    ],
)
def test_bad_values_are_refused_naming_the_field(base: Rule, override: Override, field: str) -> None:
    with pytest.raises(ThresholdError) as raised:
        override_rule(base, WEB, override)
    assert raised.value.field == field


async def test_overrides_are_stored_as_scoped_rules_and_removed(pool: asyncpg.Pool) -> None:
    await rule_store.create_rule(pool, CPU)
    await rule_store.create_rule(pool, DOWN)
    after = await set_thresholds(pool, WEB, LABELS, {"HighCpu": Override(70.0)})
    assert [(t.rule, t.threshold, t.overridden) for t in after] == [("HighCpu", 70.0, True)]
    stored = await rule_store.list_rules(pool)
    assert fires(stored, WEB, 75.0) and not fires(stored, DB, 75.0)
    again = await set_thresholds(pool, WEB, LABELS, {"HighCpu": Override(72.0, 60.0)})
    assert (again[0].threshold, again[0].clear_threshold) == (72.0, 60.0)
    assert len(await rule_store.list_rules(pool)) == 3, "changed in place, not added"
    with pytest.raises(ThresholdError) as raised:
        await set_thresholds(pool, WEB, LABELS, {"HighCpu": None, "NoSuchRule": Override(1.0)})
    assert raised.value.field == "NoSuchRule"
    assert (await server_thresholds(pool, WEB, LABELS))[0].overridden, "nothing stored when one is bad"
    removed = await set_thresholds(pool, WEB, LABELS, {"HighCpu": None})
    assert (removed[0].threshold, removed[0].overridden) == (90.0, False)
    await set_thresholds(pool, WEB, LABELS, {"HighCpu": Override(70.0)})
    assert await delete_overrides(pool, WEB) == 1
    assert len(await rule_store.list_rules(pool)) == 2
