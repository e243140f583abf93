"""The alert engine's memory: every server's rule states, its firing ``down`` alert, when it was last seen.

Plain synchronous data over the pure state machine of :mod:`collector.alerts.evaluator`; the engine
(:mod:`collector.alerts.engine`) feeds it each server's observation and turns the changes it returns into
writes and notifications. A held state (an alert resolved by hand, not fired again until its condition has
cleared once) is kept, but is not active.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from uuid import UUID

from collector.alerts.evaluator import (
    Change,
    Observation,
    RuleState,
    end,
    evaluate,
    firing_down_alerts,
    hold,
    inhibits,
)
from collector.alerts.model import Alert
from collector.alerts.rules import Rule, RuleKind


class AlertStates:
    """Rule states by server and rule id; see the module docstring."""

    def __init__(self) -> None:
        self._states: dict[UUID, dict[str, RuleState]] = {}
        self._down: dict[UUID, str] = {}
        self._last_seen: dict[UUID, float] = {}

    def evaluate(self, rules: Sequence[Rule], observation: Observation) -> list[Change]:
        """Step every rule for one server's observation; the server counts as seen at its time."""
        server_id = observation.server_id
        self._last_seen[server_id] = observation.time_s
        evaluation = evaluate(rules, observation, self._states.get(server_id, {}))
        self._set(server_id, evaluation.states)
        return evaluation.changes

    def inhibited(self, alert: Alert) -> bool:
        """Whether ``alert`` is muted because its server's ``down`` alert fires."""
        return inhibits(self._down, alert)

    def active(self) -> list[Alert]:
        """Every pending and firing alert, firing first, then by start."""
        alerts = [s.alert for s in self._all() if s.phase != "held"]
        return sorted(alerts, key=lambda a: (a.state != "firing", a.active_since, a.fingerprint))

    def active_count(self) -> int:
        """How many alerts are pending or firing."""
        return sum(1 for s in self._all() if s.phase != "held")

    def active_fingerprints(self) -> set[str]:
        """The fingerprints of the pending and firing alerts."""
        return {s.alert.fingerprint for s in self._all() if s.phase != "held"}

    def restore(
        self, active: Iterable[Alert], held: Iterable[Alert], kinds: Mapping[str, RuleKind], now: float
    ) -> None:
        """Take back the alerts PostgreSQL kept: pending and firing ones, and held ones where no other state
        of the rule is; ``kinds`` gives each rule's kind by id. Every restored server counts as seen."""
        for alert, phase in [*((a, a.state) for a in active), *((a, "held") for a in held)]:
            if alert.server_id is None or phase == "resolved":
                continue
            state = RuleState(
                rule_id=alert.rule_id,
                server_id=alert.server_id,
                kind=kinds.get(alert.rule_id, "threshold"),
                phase=phase,  # type: ignore[arg-type]  # pending, firing or held, filtered above
                alert=alert,
                last_true_s=now,
            )
            server = self._states.setdefault(alert.server_id, {})
            if alert.rule_id not in server or phase != "held":
                server[alert.rule_id] = state
            self._last_seen[alert.server_id] = now
        for server_id, states in list(self._states.items()):
            self._set(server_id, states)

    def hold(self, fingerprints: set[str], now: float) -> list[Alert]:
        """Hold the active alerts among ``fingerprints`` (resolved by hand); returns the ones that fired."""
        was_firing: list[Alert] = []
        for server_id, states in self._states.items():
            for rule_id, state in list(states.items()):
                if state.phase != "held" and state.alert.fingerprint in fingerprints:
                    held = states[rule_id] = hold(state, now)
                    if state.phase == "firing":
                        was_firing.append(held.alert)
            self._set(server_id, states)
        return was_firing

    def unseen_since(self, cutoff_s: float) -> list[UUID]:
        """The servers last seen before ``cutoff_s``."""
        return [server_id for server_id, seen in self._last_seen.items() if seen < cutoff_s]

    def ending(self, server_id: UUID, now: float) -> list[Change]:
        """The changes that end every state of a server at ``now`` (see :meth:`forget`)."""
        return [end(state, now) for state in self._states.get(server_id, {}).values()]

    def forget(self, server_id: UUID) -> None:
        """Drop everything kept of a server."""
        self._last_seen.pop(server_id, None)
        self._set(server_id, {})

    def _all(self) -> Iterable[RuleState]:
        return (s for states in self._states.values() for s in states.values())

    def _set(self, server_id: UUID, states: dict[str, RuleState]) -> None:
        if states:
            self._states[server_id] = states
        else:
            self._states.pop(server_id, None)
        down = firing_down_alerts(states.values())
        if server_id in down:
            self._down[server_id] = down[server_id]
        else:
            self._down.pop(server_id, None)
