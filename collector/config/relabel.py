"""A relabel rule: Prometheus's ``relabel_config``, validated and compiled once.

A :class:`RelabelRule` has the fields and defaults of Prometheus's ``relabel_config``; building one checks
every field the way Prometheus does for the rule's action and compiles the regex (see
:mod:`collector.config.goregex`) and the ``$1`` templates, so that applying it
(:mod:`collector.config.relabel_actions`) does no parsing. Label names follow Prometheus
(``[a-zA-Z_][a-zA-Z0-9_]*``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from collector.config.goregex import Template, compile_regex, compile_template

_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
# A label name that may contain $1 / ${name} references (Prometheus's check for templated target labels).
_LABEL_NAME_TEMPLATE = re.compile(r"(?:[A-Za-z_]|\$\{\w+\}|\$\w+)(?:\w|\$\{\w+\}|\$\w+)*", re.ASCII)

DEFAULT_SEPARATOR = ";"
DEFAULT_REGEX = "(.*)"
DEFAULT_REPLACEMENT = "$1"
INVALID_LABEL_NAME = "not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*)"


def is_valid_label_name(name: str) -> bool:
    """Whether ``name`` is a Prometheus label name (``[a-zA-Z_][a-zA-Z0-9_]*``)."""
    return _LABEL_NAME.fullmatch(name) is not None


class RelabelAction(StrEnum):
    """What a relabel rule does; the values are the names used in configuration files."""

    REPLACE = "replace"
    KEEP = "keep"
    DROP = "drop"
    KEEPEQUAL = "keepequal"
    DROPEQUAL = "dropequal"
    HASHMOD = "hashmod"
    LABELMAP = "labelmap"
    LABELDROP = "labeldrop"
    LABELKEEP = "labelkeep"
    LOWERCASE = "lowercase"
    UPPERCASE = "uppercase"


_NEEDS_TARGET = frozenset(
    {
        RelabelAction.REPLACE,
        RelabelAction.HASHMOD,
        RelabelAction.LOWERCASE,
        RelabelAction.UPPERCASE,
        RelabelAction.KEEPEQUAL,
        RelabelAction.DROPEQUAL,
    }
)
_NO_REPLACEMENT = frozenset(
    {RelabelAction.LOWERCASE, RelabelAction.UPPERCASE, RelabelAction.KEEPEQUAL, RelabelAction.DROPEQUAL}
)


@dataclass(frozen=True)
class RuleProblem:
    """One reason a relabel rule is invalid: the field (and list index) at fault, its value and why."""

    key: tuple[str | int, ...]
    value: object
    expected: str


class InvalidRelabelRuleError(ValueError):
    """A :class:`RelabelRule` was built from fields Prometheus would reject; carries every problem."""

    def __init__(self, problems: Sequence[RuleProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(f"{'.'.join(map(str, p.key))}: {p.expected}" for p in self.problems))


@dataclass(frozen=True)
class RelabelRule:
    """One relabel rule, validated and compiled; the fields and defaults are Prometheus's ``relabel_config``.

    Construction raises :class:`InvalidRelabelRuleError` listing every field Prometheus would reject for the
    action (a missing or invalid ``target_label``, ``hashmod`` without a ``modulus``, fields an action
    forbids, a bad regex, an invalid source label name).
    """

    action: RelabelAction = RelabelAction.REPLACE
    source_labels: tuple[str, ...] = ()
    separator: str = DEFAULT_SEPARATOR
    regex: str = DEFAULT_REGEX
    target_label: str = ""
    replacement: str = DEFAULT_REPLACEMENT
    modulus: int = 0
    pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)
    target_template: Template = field(init=False, repr=False, compare=False)
    replacement_template: Template = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        problems = self._field_problems()
        try:
            pattern = compile_regex(self.regex)
        except ValueError as exc:
            problems.insert(0, RuleProblem(("regex",), self.regex, str(exc)))
        if problems:
            raise InvalidRelabelRuleError(problems)
        object.__setattr__(self, "pattern", pattern)
        object.__setattr__(self, "target_template", compile_template(self.target_label, pattern))
        object.__setattr__(self, "replacement_template", compile_template(self.replacement, pattern))

    def _field_problems(self) -> list[RuleProblem]:
        action = self.action
        problems: list[RuleProblem] = []

        def add(key: str, value: object, expected: str) -> None:
            problems.append(RuleProblem((key,), value, expected))

        def forbid(key: str, value: object, default: object, allowed: str) -> None:
            if value != default:
                add(key, value, f"the {action} action takes only {allowed}")

        for index, name in enumerate(self.source_labels):
            if not is_valid_label_name(name):
                problems.append(RuleProblem(("source_labels", index), name, INVALID_LABEL_NAME))
        if self.modulus < 0:
            add("modulus", self.modulus, "must not be negative")
        if action is RelabelAction.HASHMOD and self.modulus == 0:
            add("modulus", self.modulus, "hashmod needs a modulus greater than 0")
        target = self.target_label
        if action in _NEEDS_TARGET and not target:
            add("target_label", target, f"{action} needs a target_label")
        elif action is RelabelAction.REPLACE and "$" in target:
            if _LABEL_NAME_TEMPLATE.fullmatch(target) is None:
                add("target_label", target, "not a label name or a label name template such as foo_$1")
        elif action in _NEEDS_TARGET and not is_valid_label_name(target):
            add("target_label", target, INVALID_LABEL_NAME)
        if action in _NO_REPLACEMENT and self.replacement != DEFAULT_REPLACEMENT:
            add("replacement", self.replacement, f"{action} takes no replacement")
        if action is RelabelAction.LABELMAP and _LABEL_NAME_TEMPLATE.fullmatch(self.replacement) is None:
            add("replacement", self.replacement, "labelmap needs a label name or a template such as $1")
        if action in (RelabelAction.KEEPEQUAL, RelabelAction.DROPEQUAL):
            allowed = "source_labels and target_label"
            forbid("regex", self.regex, DEFAULT_REGEX, allowed)
            forbid("modulus", self.modulus, 0, allowed)
            forbid("separator", self.separator, DEFAULT_SEPARATOR, allowed)
        if action in (RelabelAction.LABELDROP, RelabelAction.LABELKEEP):
            forbid("source_labels", self.source_labels, (), "regex")
            forbid("target_label", target, "", "regex")
            forbid("modulus", self.modulus, 0, "regex")
            forbid("separator", self.separator, DEFAULT_SEPARATOR, "regex")
            forbid("replacement", self.replacement, DEFAULT_REPLACEMENT, "regex")
        return problems
