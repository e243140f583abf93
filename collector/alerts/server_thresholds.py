"""Alert thresholds of one server: overrides through the rule scopes of :mod:`collector.alerts.rules`.

A server's threshold is not a setting of its own. Overriding ``HighCpu`` for one server stores a copy of the
threshold rule that applies to it now (its *base*: the most specific enabled ``HighCpu`` rule matching the
server's labels, this override left aside), scoped to ``server_id = "<id>"``, with the new threshold.
:func:`~collector.alerts.rules.select_rules` prefers a ``server_id`` scope over any rule without one, so the
engine evaluates the copy for that server and the base for every other, and the rules API lists it like any
rule. Removing the override deletes the copy; the base applies again.

Given without a ``clear_threshold``, the copy keeps the base's hysteresis: its clear threshold lies as far
from the new threshold as the base's lies from the base's threshold.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from uuid import UUID

import asyncpg
from pydantic import ValidationError

from collector.alerts import rule_store
from collector.alerts.model import SERVER_ID
from collector.alerts.rules import Rule, derived_rule_id, scope_key, select_rules
from collector.matchers import Matcher

PERCENT_METRICS = frozenset({"cpu", "memory", "disk"})


class ThresholdError(ValueError):
    """An override that cannot be made; ``field`` is the rule name, or ``<name>.<key>``."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Override:
    """A threshold (and optionally where a firing alert clears) for one rule on one server."""

    threshold: float
    clear_threshold: float | None = None


@dataclass(frozen=True)
class ServerThreshold:
    """One threshold rule as it applies to a server: the value in force and the one it overrides."""

    rule: str
    metric: str
    op: str
    threshold: float
    clear_threshold: float | None
    default_threshold: float
    default_clear_threshold: float | None
    overridden: bool


def server_scope(server_id: UUID) -> tuple[Matcher, ...]:
    """The matchers of a server's overrides."""
    return (Matcher(name=SERVER_ID, op="=", value=str(server_id)),)


def _is_override(rule: Rule, scope: str) -> bool:
    return rule.scope == scope


def _bases(rules: Iterable[Rule], server_id: UUID, labels: Mapping[str, str]) -> dict[str, Rule]:
    """Per name, the threshold rule that applies to the server with its overrides left aside."""
    scope = scope_key(server_scope(server_id))
    others = [rule for rule in rules if not _is_override(rule, scope)]
    return {rule.name: rule for rule in select_rules(others, labels) if rule.kind == "threshold"}


def thresholds_of(rules: Iterable[Rule], server_id: UUID, labels: Mapping[str, str]) -> list[ServerThreshold]:
    """Every threshold rule that applies to the server, by name: in force, and what it would be without the
    server's override."""
    rules = list(rules)
    labels = {**labels, SERVER_ID: str(server_id)}
    in_force = {rule.name: rule for rule in select_rules(rules, labels)}
    scope = scope_key(server_scope(server_id))
    out = []
    for name, base in sorted(_bases(rules, server_id, labels).items()):
        rule = in_force.get(name, base)
        assert base.threshold is not None and rule.threshold is not None, "threshold rules have one"
        out.append(
            ServerThreshold(
                rule=name,
                metric=str(rule.metric),
                op=rule.op,
                threshold=rule.threshold,
                clear_threshold=rule.clear_threshold,
                default_threshold=base.threshold,
                default_clear_threshold=base.clear_threshold,
                overridden=_is_override(rule, scope),
            )
        )
    return out


def override_rule(base: Rule, server_id: UUID, override: Override) -> Rule:
    """The copy of ``base`` scoped to the server with the override's threshold; :class:`ThresholdError`
    when the values do not make a valid rule."""
    name = base.name
    for key, value in (("threshold", override.threshold), ("clear_threshold", override.clear_threshold)):
        if value is None:
            continue
        if not math.isfinite(value) or value < 0:
            raise ThresholdError(f"{name}.{key}", f"{key} of {name} must be a finite number, 0 or more")
        if base.metric in PERCENT_METRICS and value > 100:
            raise ThresholdError(f"{name}.{key}", f"{key} of {name} is a percentage: at most 100")
    clear = override.clear_threshold
    if clear is None and base.clear_threshold is not None and base.threshold is not None:
        clear = override.threshold - (base.threshold - base.clear_threshold)
        clear = max(0.0, clear) if base.op in (">", ">=") else clear
    matchers = server_scope(server_id)
    definition = base.model_dump(exclude={"id", "source", "matchers", "threshold", "clear_threshold"})
    try:
        return Rule.model_validate(
            {
                **definition,
                "id": derived_rule_id(name, matchers),
                "matchers": matchers,
                "threshold": override.threshold,
                "clear_threshold": clear,
                "enabled": True,
                "source": "api",
            }
        )
    except ValidationError as exc:
        message = "; ".join(error["msg"].removeprefix("Value error, ") for error in exc.errors())
        raise ThresholdError(f"{name}.clear_threshold", f"{name}: {message}") from None


async def set_thresholds(
    pool: asyncpg.Pool,
    server_id: UUID,
    labels: Mapping[str, str],
    changes: Mapping[str, Override | None],
) -> list[ServerThreshold]:
    """Store the server's overrides (None removes one) and answer its thresholds after the change.

    Every change is checked before any is stored; :class:`ThresholdError` names the first bad one.
    """
    labels = {**labels, SERVER_ID: str(server_id)}
    bases = _bases(await rule_store.list_rules(pool), server_id, labels)
    made: dict[str, Rule | None] = {}
    for name, override in changes.items():
        base = bases.get(name)
        if base is None:
            raise ThresholdError(
                name, f"no threshold rule named {name!r} applies to this server; known: {', '.join(bases)}"
            )
        made[name] = None if override is None else override_rule(base, server_id, override)
    for name, rule in made.items():
        if rule is None:
            await rule_store.delete_rule(pool, derived_rule_id(name, server_scope(server_id)))
            continue
        try:
            if await rule_store.update_rule(pool, rule) is None:
                await rule_store.create_rule(pool, rule)
        except rule_store.RuleConflictError as exc:
            # An administrator stored a rule of this name and scope under another id through the rules API.
            raise ThresholdError(name, f"{exc}; change it through the alert rules instead") from None
    return thresholds_of(await rule_store.list_rules(pool), server_id, labels)


async def server_thresholds(
    pool: asyncpg.Pool, server_id: UUID, labels: Mapping[str, str]
) -> list[ServerThreshold]:
    """The server's thresholds as they apply now."""
    return thresholds_of(await rule_store.list_rules(pool), server_id, labels)


async def delete_overrides(pool: asyncpg.Pool, server_id: UUID) -> int:
    """Remove every override of a server (when the server goes); how many there were."""
    result: str = await pool.execute(
        "DELETE FROM alert_rules WHERE scope = $1", scope_key(server_scope(server_id))
    )
    return int(result.rsplit(" ", 1)[-1])
