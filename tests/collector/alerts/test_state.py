"""The engine's memory of rule states, without a store: evaluation, inhibition, restore, holds, forgetting."""

from __future__ import annotations

import uuid
from dataclasses import replace

import pytest

from collector.alerts.evaluator import Observation
from collector.alerts.model import Alert
from collector.alerts.rules import Rule
from collector.alerts.state import AlertStates
from collector.summary import ServerSummary
from tests.collector.alerts.test_alert_store import make_alert

T0 = 1_800_000_000.0
WEB = uuid.UUID("00000000-0000-4000-8000-000000000001")
DB = uuid.UUID("00000000-0000-4000-8000-000000000002")
CPU = Rule(name="HotCpu", kind="threshold", metric="cpu", threshold=90)
SLOW_CPU = Rule(name="HighCpu", kind="threshold", metric="cpu", threshold=90, for_s=300)
DOWN = Rule(name="ServerDown", kind="down", severity="critical")
RULES = [CPU, SLOW_CPU, DOWN]


def observation(server: uuid.UUID, t: float, cpu: float | None) -> Observation:
    """A scrape of ``server`` at ``t``: up with ``cpu`` percent, or down when ``cpu`` is None."""
    labels = {"job": "node", "instance": f"{server.hex[-4:]}:9100", "server_id": str(server)}
    up = cpu is not None
    return Observation(server, server.hex[-4:], labels, up, ServerSummary(cpu=cpu) if up else None, t)


def names(alerts: list[Alert]) -> list[tuple[str, str]]:
    return [(a.name, a.state) for a in alerts]


def test_evaluate_returns_the_changes_and_keeps_the_states() -> None:
    states = AlertStates()
    changes = states.evaluate(RULES, observation(WEB, T0, 95.0))
    assert [(c.kind, c.alert.name) for c in changes] == [("firing", "HotCpu"), ("pending", "HighCpu")]
    assert names(states.active()) == [("HotCpu", "firing"), ("HighCpu", "pending")], "firing first"
    assert states.active_count() == 2
    assert states.active_fingerprints() == {c.alert.fingerprint for c in changes}
    assert states.evaluate(RULES, observation(WEB, T0 + 30, 96.0)) == [], "steady: no change"


@pytest.mark.parametrize(
    ("web_cpu", "inhibited"),
    [(None, True), (95.0, False)],
)
def test_a_firing_down_alert_inhibits_its_servers_other_alerts_only(
    web_cpu: float | None, inhibited: bool
) -> None:
    states = AlertStates()
    states.evaluate(RULES, observation(WEB, T0, 95.0))
    states.evaluate(RULES, observation(DB, T0, 95.0))
    cpu_alerts = {a.server_id: a for a in states.active() if a.name == "HotCpu"}
    web_cpu_alert, db_cpu_alert = cpu_alerts[WEB], cpu_alerts[DB]
    states.evaluate(RULES, observation(WEB, T0 + 30, web_cpu))
    assert states.inhibited(web_cpu_alert) is inhibited
    assert not states.inhibited(db_cpu_alert), "another server's alert"
    down_alerts = [a for a in states.active() if a.name == "ServerDown"]
    assert len(down_alerts) == (1 if inhibited else 0)
    assert not any(states.inhibited(a) for a in down_alerts), "the down alert itself is never inhibited"


def test_restore_takes_back_active_alerts_and_a_hold_only_where_no_other_state_is() -> None:
    before = AlertStates()
    before.evaluate(RULES, observation(WEB, T0, 95.0))
    before.evaluate(RULES, observation(DB, T0, 95.0))
    web = [a for a in before.active() if a.server_id == WEB]
    (db_cpu,) = (a for a in before.active() if a.server_id == DB and a.name == "HotCpu")
    held = [replace(a, state="resolved") for a in web] + [replace(db_cpu, state="resolved")]
    no_server = replace(make_alert("Global"), server_id=None)
    states = AlertStates()
    states.restore([*web, no_server], held, {rule.id: rule.kind for rule in RULES}, T0)
    assert names(states.active()) == [("HotCpu", "firing"), ("HighCpu", "pending")], "the active ones win"
    assert states.active_count() == 2
    changes = states.evaluate(RULES, observation(WEB, T0 + 300, 95.0))
    assert [(c.kind, c.alert.name) for c in changes] == [("firing", "HighCpu")], "the for timer went on"
    db_changes = states.evaluate(RULES, observation(DB, T0 + 300, 95.0))
    assert [(c.kind, c.alert.name) for c in db_changes] == [("pending", "HighCpu")], "HotCpu is held"
    assert states.unseen_since(T0 + 1) == [], "restored servers count as seen at restore"


def test_hold_returns_the_alerts_that_fired_and_leaves_them_inactive() -> None:
    states = AlertStates()
    changes = states.evaluate(RULES, observation(WEB, T0, 95.0))
    everything = {c.alert.fingerprint for c in changes}
    resolved = states.hold(everything, T0 + 60)
    assert names(resolved) == [("HotCpu", "resolved")], "the pending one is held without a word"
    assert resolved[0].resolved_at == T0 + 60
    assert states.active() == [] and states.active_fingerprints() == set()
    assert states.evaluate(RULES, observation(WEB, T0 + 120, 96.0)) == [], "held while the condition holds"
    states.evaluate(RULES, observation(WEB, T0 + 180, 50.0))
    again = states.evaluate(RULES, observation(WEB, T0 + 240, 97.0))
    assert ("firing", "HotCpu") in [(c.kind, c.alert.name) for c in again], "fires after clearing once"


def test_hold_of_a_down_alert_ends_its_inhibition() -> None:
    states = AlertStates()
    states.evaluate(RULES, observation(WEB, T0, 95.0))
    (cpu_alert,) = (a for a in states.active() if a.name == "HotCpu")
    states.evaluate(RULES, observation(WEB, T0 + 30, None))
    (down_alert,) = (a for a in states.active() if a.name == "ServerDown")
    assert states.inhibited(cpu_alert)
    states.hold({down_alert.fingerprint}, T0 + 60)
    assert not states.inhibited(cpu_alert)


def test_a_server_unseen_is_ended_then_forgotten() -> None:
    states = AlertStates()
    states.evaluate(RULES, observation(WEB, T0, 95.0))
    states.evaluate(RULES, observation(DB, T0 + 600, 50.0))
    assert states.unseen_since(T0 + 300) == [WEB]
    ending = states.ending(WEB, T0 + 900)
    assert sorted((c.kind, c.alert.name) for c in ending) == [("dropped", "HighCpu"), ("resolved", "HotCpu")]
    assert states.active_count() == 2, "ending changes nothing by itself"
    states.forget(WEB)
    assert states.active() == [] and states.unseen_since(T0 + 900) == [DB]
