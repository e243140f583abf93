"""The pure alert state machine: timelines of observations in, state changes out."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence

import pytest

from collector.alerts.evaluator import (
    ChangeKind,
    Observation,
    RuleState,
    evaluate,
    firing_down_alerts,
    hold,
    hours_until_full,
    inhibits,
)
from collector.alerts.rules import Rule
from collector.matchers import Matcher
from collector.summary import ServerSummary

SERVER = uuid.UUID("00000000-0000-4000-8000-000000000001")
LABELS = {"job": "node", "instance": "web-1:9100", "server_id": str(SERVER), "env": "prod"}

CPU = Rule(name="HighCpu", kind="threshold", metric="cpu", threshold=90, clear_threshold=80, for_s=300)
CPU_NO_HYSTERESIS = Rule(name="HighCpu", kind="threshold", metric="cpu", threshold=90, for_s=60)
CPU_KEEP = Rule(name="HighCpu", kind="threshold", metric="cpu", threshold=90, keep_firing_for_s=120)
LOW_LOAD = Rule(name="LowLoad", kind="threshold", metric="load1", op="<", threshold=0.1, clear_threshold=0.5)
DOWN = Rule(name="ServerDown", kind="down", for_s=60, severity="critical")

Step = tuple[float, float | None]
"""(time s, cpu percent); None cpu means the scrape failed."""


def observation(
    t: float, cpu: float | None = 50.0, *, up: bool = True, load1: float | None = None
) -> Observation:
    summary = ServerSummary(cpu=cpu, load1=load1) if up else None
    return Observation(SERVER, "web-1", LABELS, up, summary, t)


def run(rules: Sequence[Rule], steps: Sequence[Step]) -> list[tuple[float, ChangeKind, str]]:
    """Feed a timeline through the evaluator; the changes as (time, kind, alertname)."""
    states: Mapping[str, RuleState] = {}
    out: list[tuple[float, ChangeKind, str]] = []
    for t, cpu in steps:
        evaluation = evaluate(rules, observation(t, cpu, up=cpu is not None), states)
        states = evaluation.states
        out.extend((t, change.kind, change.alert.name) for change in evaluation.changes)
    return out


def every(step_s: float, values: Sequence[float | None], start: float = 1000.0) -> list[Step]:
    return [(start + i * step_s, value) for i, value in enumerate(values)]


@pytest.mark.parametrize(
    ("rules", "steps", "expected"),
    [
        pytest.param(
            [CPU],
            every(60, [95, 95, 95, 95, 50]),
            [(1000, "pending", "HighCpu"), (1240, "dropped", "HighCpu")],
            id="condition-shorter-than-for-fires-nothing",
        ),
        pytest.param(
            [CPU],
            every(60, [95] * 10),
            [(1000, "pending", "HighCpu"), (1300, "firing", "HighCpu")],
            id="condition-longer-than-for-fires-exactly-once",
        ),
        pytest.param(
            [CPU],
            every(60, [95] * 6 + [85, 92, 81, 95, 82, 79, 95]),
            [
                (1000, "pending", "HighCpu"),
                (1300, "firing", "HighCpu"),
                (1660, "resolved", "HighCpu"),
                (1720, "pending", "HighCpu"),
            ],
            id="hysteresis-a-flapping-value-fires-once-and-clears-only-past-clear-threshold",
        ),
        pytest.param(
            [CPU_KEEP],
            every(30, [95, 50, 50, 50, 95, 50, 50, 50, 50, 50]),
            [(1000, "firing", "HighCpu"), (1240, "resolved", "HighCpu")],
            id="keep-firing-for-bridges-short-gaps-then-resolves",
        ),
        pytest.param(
            [CPU],
            every(60, [95] * 6 + [None, None, 50]),
            [(1000, "pending", "HighCpu"), (1300, "firing", "HighCpu"), (1480, "resolved", "HighCpu")],
            id="no-value-while-down-neither-resolves-nor-advances",
        ),
        pytest.param(
            [DOWN],
            every(30, [50, None, None, None, 50]),
            [
                (1030, "pending", "ServerDown"),
                (1090, "firing", "ServerDown"),
                (1120, "resolved", "ServerDown"),
            ],
            id="down-fires-after-for",
        ),
        pytest.param(
            [DOWN],
            every(15, [None, None, None, 50]),
            [(1000, "pending", "ServerDown"), (1045, "dropped", "ServerDown")],
            id="a-short-outage-is-no-down-alert",
        ),
    ],
)
def test_timeline(rules: list[Rule], steps: list[Step], expected: list[tuple[float, str, str]]) -> None:
    assert run(rules, steps) == expected


def test_flapping_faster_than_for_makes_pending_that_each_disappear_and_never_fire() -> None:
    changes = run([CPU_NO_HYSTERESIS], every(30, [95, 85] * 10))
    assert {kind for _, kind, _ in changes} == {"pending", "dropped"}


def test_hysteresis_works_downwards_for_less_than_rules() -> None:
    states: Mapping[str, RuleState] = {}
    kinds = []
    for i, load in enumerate([0.05, 0.3, 0.05, 0.6]):
        obs = Observation(SERVER, "web-1", LABELS, True, ServerSummary(load1=load), 1000.0 + i)
        evaluation = evaluate([LOW_LOAD], obs, states)
        states = evaluation.states
        kinds.append([c.kind for c in evaluation.changes])
    assert kinds == [["firing"], [], [], ["resolved"]]


def test_firing_alert_carries_labels_annotations_and_value() -> None:
    evaluation = evaluate([CPU_KEEP], observation(1000.0, 97.25), {})
    alert = evaluation.changes[0].alert
    assert alert.state == "firing" and alert.fired_at == 1000.0 and alert.value == 97.25
    assert alert.labels == {**LABELS, "alertname": "HighCpu", "severity": "warning"}
    assert alert.title == "HighCpu on web-1"
    assert alert.message == "cpu is 97.2% (> 90.0%) on web-1"


def test_pending_for_timer_counts_from_the_first_true_observation() -> None:
    first = evaluate([CPU], observation(1000.0, 95), {})
    assert first.changes[0].alert.active_since == 1000.0
    later = evaluate([CPU], observation(1299.0, 95), first.states)
    assert later.changes == []
    fired = evaluate([CPU], observation(1300.0, 95), later.states)
    assert [c.kind for c in fired.changes] == ["firing"]
    assert fired.changes[0].alert.active_since == 1000.0


def test_held_alert_does_not_fire_again_until_the_condition_cleared_once() -> None:
    states = evaluate([CPU_KEEP], observation(1000.0, 95), {}).states
    held = {rule_id: hold(state, 1010.0) for rule_id, state in states.items()}
    still = evaluate([CPU_KEEP], observation(1020.0, 95), held)
    assert still.changes == [] and still.states[CPU_KEEP.id].phase == "held"
    cleared = evaluate([CPU_KEEP], observation(1030.0, 50), still.states)
    assert [c.kind for c in cleared.changes] == ["released"] and cleared.states == {}
    again = evaluate([CPU_KEEP], observation(1040.0, 95), cleared.states)
    assert [c.kind for c in again.changes] == ["firing"]


def test_rule_that_no_longer_applies_resolves_its_alert() -> None:
    states = evaluate([CPU_KEEP], observation(1000.0, 95), {}).states
    gone = evaluate([], observation(1010.0, 95), states)
    assert [c.kind for c in gone.changes] == ["resolved"] and gone.changes[0].alert.resolved_at == 1010.0


def test_changed_severity_resolves_the_old_alert_and_starts_a_new_one() -> None:
    states = evaluate([CPU_KEEP], observation(1000.0, 95), {}).states
    critical = CPU_KEEP.model_copy(update={"severity": "critical"})
    evaluation = evaluate([critical], observation(1010.0, 95), states)
    kinds = [(c.kind, c.alert.severity) for c in evaluation.changes]
    assert kinds == [("resolved", "warning"), ("firing", "critical")]


def test_per_server_override_replaces_the_default_rule_of_the_same_name() -> None:
    strict = Rule(
        name="HighCpu",
        kind="threshold",
        metric="cpu",
        threshold=99,
        matchers=(Matcher(name="server_id", value=str(SERVER)),),
    )
    evaluation = evaluate([CPU_KEEP, strict], observation(1000.0, 95), {})
    assert evaluation.changes == [] and evaluation.states == {}
    evaluation = evaluate([CPU_KEEP, strict], observation(1000.0, 99.5), {})
    assert [c.alert.rule_id for c in evaluation.changes] == [strict.id]


def test_inhibition_mutes_other_alerts_of_a_down_server_but_not_the_down_alert() -> None:
    cpu = evaluate([CPU_KEEP], observation(1000.0, 95), {}).states
    down = evaluate([Rule(name="ServerDown", kind="down")], observation(1010.0, up=False), {}).states
    states = [*cpu.values(), *down.values()]
    down_alerts = firing_down_alerts(states)
    assert set(down_alerts) == {SERVER}
    cpu_alert = next(iter(cpu.values())).alert
    down_alert = next(iter(down.values())).alert
    assert inhibits(down_alerts, cpu_alert) and not inhibits(down_alerts, down_alert)
    assert not inhibits({}, cpu_alert)


def _line(start_pct: float, pct_per_hour: float, hours: float, points: int) -> list[tuple[float, float]]:
    step_s = hours * 3600 / (points - 1)
    return [(i * step_s, start_pct + pct_per_hour * i * step_s / 3600) for i in range(points)]


@pytest.mark.parametrize(
    ("points", "expected"),
    [
        (_line(50, 5, 2, 20), 8.0),  # 60 % after 2 h, +5 %/h: full in 8 h
        (_line(99, 1, 2, 20), 0.0),  # past 100 already
        (_line(50, 0, 2, 20), None),  # flat
        (_line(80, -1, 2, 20), None),  # shrinking
        (_line(50, 5, 2, 4), None),  # too few points
        (_line(50, 5, 0.1, 20), None),  # too short a span
    ],
)
def test_hours_until_full(points: list[tuple[float, float]], expected: float | None) -> None:
    result = hours_until_full(points)
    assert result == (None if expected is None else pytest.approx(expected))


def test_disk_full_prediction_fires_when_full_within_hours() -> None:
    rule = Rule(name="DiskFullSoon", kind="disk_full_prediction", hours=24)
    rising = [(1000.0 + t, v) for t, v in _line(50, 5, 2, 20)]
    quiet = [(1000.0 + t, v) for t, v in _line(50, 0.5, 2, 20)]
    now = rising[-1][0]

    def with_history(history: list[tuple[float, float]]) -> Observation:
        return Observation(
            SERVER, "web-1", LABELS, True, ServerSummary(disk=history[-1][1]), now, tuple(history)
        )

    fired = evaluate([rule], with_history(rising), {})
    assert [c.kind for c in fired.changes] == ["firing"] and fired.changes[0].alert.value == pytest.approx(
        8.0
    )
    assert "full in about 8.0 h" in fired.changes[0].alert.message
    assert evaluate([rule], with_history(quiet), {}).changes == []  # 99 h away
