"""The alert state machine: an observation of a server and its previous states in, new states and changes out.

Pure: no I/O and no clock of its own (the observation carries the time), so every timeline is a table test.

Per (rule, server) the state is one of:

``pending``
    the condition holds, not yet for ``for_s``. If it stops holding, the state just disappears
    (a :data:`dropped <ChangeKind>` change, nothing to notify).
``firing``
    the condition held for ``for_s``. It resolves when the condition is false and has been for
    ``keep_firing_for_s``; a threshold rule with a ``clear_threshold`` keeps holding until the value is past
    that (hysteresis). A value that flaps around the threshold therefore fires once, not on every flap.
``held``
    somebody resolved the alert by hand while the condition still held: it does not fire again until the
    condition has been false once (a :data:`released <ChangeKind>` change).

A condition that cannot be decided (no summary value: the server is down or the exporter lacks the metric)
leaves the state as it was: a firing CPU alert of a server that went down neither resolves nor advances, and
while the server's ``down`` alert fires it is muted by inhibition (:func:`inhibits`).

A rule that no longer applies to a server (deleted, disabled, overridden, scope changed) ends its states
there, as does a change of the alert's labels (a new severity is a new alert): firing ones resolve.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal
from uuid import UUID

from collector.alerts.model import ALERTNAME, SERVER_ID, SEVERITY, Alert, fingerprint
from collector.alerts.rules import Rule, RuleKind, compare, select_rules
from collector.alerts.templates import TemplateContext, render
from collector.summary import ServerSummary

Phase = Literal["pending", "firing", "held"]
ChangeKind = Literal["pending", "firing", "resolved", "dropped", "released"]
"""``pending`` / ``firing`` / ``resolved``: the alert entered that state; ``dropped``: a pending alert whose
condition went away; ``released``: a held alert whose condition went away (it may fire again)."""

MIN_PREDICTION_POINTS = 5
"""Fewer disk values than this give no prediction."""
MIN_PREDICTION_SPAN_S = 600.0
"""Disk values spanning less time than this give no prediction: a short burst is no trend."""


@dataclass(frozen=True, slots=True)
class Observation:
    """What one scrape says about one server."""

    server_id: UUID
    server: str
    """The server's name, for templates."""
    labels: Mapping[str, str]
    """What rule scopes match: the target's labels plus ``job``, ``instance`` and ``server_id``."""
    up: bool
    summary: ServerSummary | None
    time_s: float
    disk_history: Sequence[tuple[float, float]] = ()
    """Recent (Unix s, disk percent) points, oldest first, for disk-full prediction."""


@dataclass(frozen=True, slots=True)
class RuleState:
    """One rule's alert on one server: its phase and the alert as it stands."""

    rule_id: str
    server_id: UUID
    kind: RuleKind
    phase: Phase
    alert: Alert
    last_true_s: float
    """When the condition last held (for ``keep_firing_for_s``)."""


@dataclass(frozen=True, slots=True)
class Change:
    """One state change of one alert."""

    kind: ChangeKind
    alert: Alert


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The server's new states by rule id, and what changed, in order."""

    states: dict[str, RuleState]
    changes: list[Change] = field(default_factory=list)


def hours_until_full(points: Sequence[tuple[float, float]]) -> float | None:
    """Hours until a least-squares line through (time s, percent) points reaches 100, from the last point.

    None when there are too few points, they span too little time, or the line is not rising. 0 when the
    fitted value is already at 100.
    """
    if len(points) < MIN_PREDICTION_POINTS or points[-1][0] - points[0][0] < MIN_PREDICTION_SPAN_S:
        return None
    n = len(points)
    mean_t = math.fsum(t for t, _ in points) / n
    mean_v = math.fsum(v for _, v in points) / n
    var_t = math.fsum((t - mean_t) ** 2 for t, _ in points)
    if var_t <= 0:
        return None
    slope = math.fsum((t - mean_t) * (v - mean_v) for t, v in points) / var_t
    if slope <= 0:
        return None
    fitted_now = mean_v + slope * (points[-1][0] - mean_t)
    return max(0.0, (100.0 - fitted_now) / slope / 3600.0)


def condition(rule: Rule, obs: Observation, firing: bool) -> tuple[bool | None, float | None]:
    """Whether ``rule``'s condition holds for ``obs`` (None: cannot tell), and the value that decided it."""
    if rule.kind == "down":
        return (not obs.up, None)
    if not obs.up or obs.summary is None:
        return (None, None)
    if rule.kind == "disk_full_prediction":
        cutoff = obs.time_s - rule.lookback_s
        hours = hours_until_full([p for p in obs.disk_history if p[0] >= cutoff])
        if hours is None:
            return (False, None)
        return (hours <= (rule.hours or 0.0), round(hours, 3))
    assert rule.metric is not None and rule.threshold is not None  # a validated threshold rule
    value = getattr(obs.summary, rule.metric)
    if value is None:
        return (None, None)
    if firing and rule.clear_threshold is not None:
        # Hysteresis: a firing alert holds until the value is at or past the clearing threshold.
        upward = rule.op in (">", ">=")
        return ((value > rule.clear_threshold) if upward else (value < rule.clear_threshold), value)
    return (compare(value, rule.op, rule.threshold), value)


def alert_labels(rule: Rule, obs: Observation) -> dict[str, str]:
    """The labels of ``rule``'s alert on the observed server."""
    return {
        **obs.labels,
        **rule.labels,
        ALERTNAME: rule.name,
        SEVERITY: rule.severity,
        SERVER_ID: str(obs.server_id),
    }


def _annotations(
    rule: Rule, obs: Observation, labels: Mapping[str, str], value: float | None
) -> dict[str, str]:
    context = TemplateContext(labels=labels, value=value, threshold=rule.threshold, server=obs.server)
    return {name: render(text, context) for name, text in rule.annotation_templates().items()}


def _new_alert(rule: Rule, obs: Observation, labels: dict[str, str], value: float | None) -> Alert:
    return Alert(
        fingerprint=fingerprint(labels),
        rule_id=rule.id,
        server_id=obs.server_id,
        severity=rule.severity,
        state="pending",
        labels=labels,
        annotations=_annotations(rule, obs, labels, value),
        value=value,
        active_since=obs.time_s,
    )


def end(state: RuleState, t: float) -> Change:
    """The change that ends ``state`` at ``t``: resolved when firing, dropped when pending, else released."""
    if state.phase == "firing":
        return Change("resolved", replace(state.alert, state="resolved", resolved_at=t))
    return Change("dropped" if state.phase == "pending" else "released", state.alert)


def _fire(rule: Rule, obs: Observation, alert: Alert, value: float | None) -> Alert:
    labels = dict(alert.labels)
    return replace(
        alert,
        state="firing",
        fired_at=obs.time_s,
        value=value,
        annotations=_annotations(rule, obs, labels, value),
    )


def step(rule: Rule, obs: Observation, prev: RuleState | None) -> tuple[RuleState | None, list[Change]]:
    """Advance one rule's state on one server by one observation."""
    t = obs.time_s
    changes: list[Change] = []
    labels = alert_labels(rule, obs)
    if prev is not None and prev.alert.fingerprint != fingerprint(labels):
        changes.append(end(prev, t))
        prev = None
    holds, value = condition(rule, obs, prev is not None and prev.phase == "firing")
    if holds is None:
        return prev, changes
    if prev is None:
        if not holds:
            return None, changes
        alert = _new_alert(rule, obs, labels, value)
        if rule.for_s <= 0:
            alert = _fire(rule, obs, alert, value)
            changes.append(Change("firing", alert))
            return RuleState(rule.id, obs.server_id, rule.kind, "firing", alert, t), changes
        changes.append(Change("pending", alert))
        return RuleState(rule.id, obs.server_id, rule.kind, "pending", alert, t), changes
    if prev.phase == "held":
        return (prev, changes) if holds else (None, [*changes, end(prev, t)])
    if prev.phase == "pending":
        if not holds:
            return None, [*changes, end(prev, t)]
        if t - prev.alert.active_since >= rule.for_s:
            alert = _fire(rule, obs, prev.alert, value)
            changes.append(Change("firing", alert))
            return replace(prev, phase="firing", alert=alert, last_true_s=t), changes
        return replace(prev, alert=replace(prev.alert, value=value), last_true_s=t), changes
    if holds:
        return replace(prev, alert=replace(prev.alert, value=value), last_true_s=t), changes
    if t - prev.last_true_s < rule.keep_firing_for_s:
        return prev, changes
    return None, [*changes, end(prev, t)]


def evaluate(rules: Iterable[Rule], obs: Observation, previous: Mapping[str, RuleState]) -> Evaluation:
    """New states (by rule id) of one server and the changes, given its previous states by rule id."""
    states: dict[str, RuleState] = {}
    changes: list[Change] = []
    selected = select_rules(rules, obs.labels)
    selected_ids = {rule.id for rule in selected}
    for rule_id, state in previous.items():
        if rule_id not in selected_ids:
            changes.append(end(state, obs.time_s))
    for rule in selected:
        new, rule_changes = step(rule, obs, previous.get(rule.id))
        changes.extend(rule_changes)
        if new is not None:
            states[rule.id] = new
    return Evaluation(states, changes)


def hold(state: RuleState, t: float) -> RuleState:
    """``state`` after a manual resolve at ``t``: held until its condition has been false once."""
    return replace(state, phase="held", alert=replace(state.alert, state="resolved", resolved_at=t))


def inhibits(down_alerts: Mapping[UUID, str], alert: Alert) -> bool:
    """Whether ``alert`` is muted because its server's ``down`` alert fires.

    ``down_alerts`` maps each server with a firing ``down`` alert to that alert's fingerprint; the down
    alert itself is never muted by this.
    """
    if alert.server_id is None:
        return False
    down = down_alerts.get(alert.server_id)
    return down is not None and down != alert.fingerprint


def firing_down_alerts(states: Iterable[RuleState]) -> dict[UUID, str]:
    """The fingerprint of every firing ``down`` alert, by server."""
    return {s.server_id: s.alert.fingerprint for s in states if s.kind == "down" and s.phase == "firing"}
