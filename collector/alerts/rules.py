"""Alert rules: what condition on a server makes an alert, how long it must hold, and what the alert says.

A :class:`Rule` is one of three kinds:

``threshold``
    a summary metric (``cpu``, ``memory``, ``disk`` in percent, ``network_rx`` / ``network_tx`` in bytes/s,
    ``load1``) compared with ``threshold`` by ``op``. An optional ``clear_threshold`` adds hysteresis: a
    firing alert resolves only once the value is past it (for ``>`` / ``>=``, at or below it; for ``<`` /
    ``<=``, at or above it), so a value wobbling around the threshold does not fire and resolve again and
    again. It must lie on the safe side of ``threshold`` (not above it for ``>``, not below it for ``<``).
``down``
    the server's scrape failed.
``disk_full_prediction``
    a straight line fitted (least squares) through the recent disk percentages (``lookback_s``) reaches
    100 % within ``hours``.

Timing, as in Prometheus: a condition that starts to hold makes the alert ``pending``; held ``for_s`` it
fires; once the condition is false it resolves, but not before ``keep_firing_for_s`` after it last held.
Durations may be given as Prometheus strings (``5m``, ``1h30m``) or seconds.

Scope and overrides: ``matchers`` select the servers a rule applies to, by the server's labels, which
include ``server_id``, ``job`` and ``instance``. For one server, among the *enabled* rules with the same
``name`` whose matchers match it, the most specific one wins and the others are ignored for that server:
a rule with a ``server_id =`` matcher beats any rule without one, then more matchers beat fewer (ties go
to the smaller id, so the choice is stable). A default ``HighCpu`` for every server is thus overridden for
one server by a ``HighCpu`` rule scoped to ``server_id="…"``, or for a group by one scoped to ``env="prod"``.

A rule's ``id`` is given when it is stored through the API; a rule read from a file or the defaults gets
one derived from its name and scope, so reading the same file again updates the same rule.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from collector.alerts.model import ALERTNAME, SERVER_ID, SEVERITY, AlertMatcher, Severity
from collector.alerts.templates import MAX_TEMPLATE_CHARS, check_template
from collector.config.units import parse_duration
from collector.matchers import Matcher, matches_all

RuleKind = Literal["threshold", "down", "disk_full_prediction"]
RuleMetric = Literal["cpu", "memory", "disk", "network_rx", "network_tx", "load1"]
CompareOp = Literal[">", ">=", "<", "<="]
RuleSource = Literal["default", "file", "api"]

RESERVED_LABELS: Final = frozenset({ALERTNAME, SEVERITY, SERVER_ID})
"""Labels the engine sets itself; a rule may not set them in ``labels``."""
MAX_LOOKBACK_S: Final = 7 * 86400.0
MAX_ANNOTATIONS: Final = 32
"""Each annotation is a template checked (rendered once, within its time budget) when the rule is saved."""
_LABEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_UNITS: Final[Mapping[str, str]] = {
    "cpu": "%",
    "memory": "%",
    "disk": "%",
    "network_rx": " B/s",
    "network_tx": " B/s",
    "load1": "",
}


def _seconds(value: object) -> object:
    """Accept ``5m`` as well as 300 for a duration field."""
    if isinstance(value, str):
        return parse_duration(value.strip())
    return value


def compare(value: float, op: CompareOp, threshold: float) -> bool:
    """``value op threshold``."""
    if op == ">":
        return value > threshold
    if op == ">=":
        return value >= threshold
    if op == "<":
        return value < threshold
    return value <= threshold


class Rule(BaseModel):
    """One alert rule (see the module docstring for the kinds and the override order)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(default="", max_length=64, pattern=r"^[A-Za-z0-9_.:-]*$")
    name: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    kind: RuleKind
    metric: RuleMetric | None = None
    op: CompareOp = ">"
    threshold: float | None = None
    clear_threshold: float | None = None
    hours: float | None = Field(default=None, gt=0, le=24 * 365)
    """``disk_full_prediction``: how far ahead to look (default 24)."""
    lookback_s: float = Field(default=6 * 3600.0, gt=0, le=MAX_LOOKBACK_S)
    """``disk_full_prediction``: how much recent disk history the line is fitted to."""
    severity: Severity = "warning"
    for_s: float = Field(default=0.0, ge=0)
    keep_firing_for_s: float = Field(default=0.0, ge=0)
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    matchers: tuple[AlertMatcher, ...] = ()
    enabled: bool = True
    source: RuleSource = "api"
    """Where the rule came from: the built-in defaults, the rules file, or the API."""

    @field_validator("for_s", "keep_firing_for_s", "lookback_s", mode="before")
    @classmethod
    def _parse_durations(cls, value: object) -> object:
        return _seconds(value)

    @field_validator("labels")
    @classmethod
    def _check_labels(cls, labels: dict[str, str]) -> dict[str, str]:
        for name, value in labels.items():
            if not _LABEL_NAME.match(name):
                raise ValueError(f"label name {name!r} is not valid (letters, digits, _; not first a digit)")
            if name in RESERVED_LABELS:
                raise ValueError(f"label {name!r} is set by the engine; use the rule's name or severity")
            if len(value) > 1024:
                raise ValueError(f"label {name!r} is longer than 1024 characters")
        return labels

    @field_validator("annotations")
    @classmethod
    def _check_annotations(cls, annotations: dict[str, str]) -> dict[str, str]:
        if len(annotations) > MAX_ANNOTATIONS:
            raise ValueError(f"a rule has at most {MAX_ANNOTATIONS} annotations")
        for name, text in annotations.items():
            if not _LABEL_NAME.match(name):
                raise ValueError(f"annotation name {name!r} is not valid")
            if len(text) > MAX_TEMPLATE_CHARS:
                raise ValueError(f"annotation {name!r} is longer than {MAX_TEMPLATE_CHARS} characters")
            try:
                check_template(text)
            except ValueError as exc:
                raise ValueError(f"annotation {name!r}: {exc}") from None
        return annotations

    @model_validator(mode="after")
    def _check_kind(self) -> Rule:
        if self.kind == "threshold":
            if self.metric is None or self.threshold is None:
                raise ValueError("a threshold rule needs metric and threshold")
            if self.clear_threshold is not None:
                upward = self.op in (">", ">=")
                if upward and self.clear_threshold > self.threshold:
                    raise ValueError(
                        f"clear_threshold {self.clear_threshold:g} must not be above threshold "
                        f"{self.threshold:g} for op {self.op!r} (it is where a firing alert clears)"
                    )
                if not upward and self.clear_threshold < self.threshold:
                    raise ValueError(
                        f"clear_threshold {self.clear_threshold:g} must not be below threshold "
                        f"{self.threshold:g} for op {self.op!r} (it is where a firing alert clears)"
                    )
            if self.hours is not None:
                raise ValueError("hours applies to disk_full_prediction rules only")
        else:
            extra = [
                key for key in ("metric", "threshold", "clear_threshold") if getattr(self, key) is not None
            ]
            if extra:
                raise ValueError(f"{', '.join(extra)} applies to threshold rules only, not to {self.kind}")
            if self.kind == "down" and self.hours is not None:
                raise ValueError("hours applies to disk_full_prediction rules only")
            if self.kind == "disk_full_prediction" and self.hours is None:
                object.__setattr__(self, "hours", 24.0)
        if not self.id:
            object.__setattr__(self, "id", derived_rule_id(self.name, self.matchers))
        return self

    @property
    def scope(self) -> str:
        """The matchers as one canonical text: with the name, what makes a rule from a file the same rule."""
        return scope_key(self.matchers)

    @property
    def specificity(self) -> tuple[int, int]:
        """How specific the scope is: a ``server_id =`` matcher first, then the number of matchers."""
        by_id = any(m.name == SERVER_ID and m.op == "=" for m in self.matchers)
        return (1 if by_id else 0, len(self.matchers))

    def applies_to(self, server_labels: Mapping[str, str]) -> bool:
        """Whether the rule is enabled and its matchers select the server."""
        return self.enabled and matches_all(self.matchers, server_labels)

    def default_annotations(self) -> dict[str, str]:
        """``title`` and ``message`` templates used where the rule gives none."""
        if self.kind == "threshold":
            unit = _UNITS[self.metric or "cpu"]
            title = f"{self.name} on {{{{ server }}}}"
            message = (
                f"{self.metric} is {{{{ value | round(1) }}}}{unit} "
                f"({self.op} {{{{ threshold }}}}{unit}) on {{{{ server }}}}"
            )
        elif self.kind == "down":
            title = "{{ server }} is down"
            message = "Scraping {{ labels.instance }} (job {{ labels.job }}) fails."
        else:
            title = f"Disk of {{{{ server }}}} predicted full within {self.hours:g} h"
            message = (
                "At the current rate the disk of {{ server }} is full in about {{ value | round(1) }} h."
            )
        return {"title": title, "message": message}

    def annotation_templates(self) -> dict[str, str]:
        """The rule's annotation templates, ``title`` and ``message`` always present."""
        return {**self.default_annotations(), **self.annotations}


def scope_key(matchers: Iterable[Matcher]) -> str:
    """A canonical text of a set of matchers (order does not matter)."""
    return ",".join(sorted(str(m) for m in matchers))


def derived_rule_id(name: str, matchers: Iterable[Matcher]) -> str:
    """A stable id from a rule's name and scope."""
    digest = hashlib.blake2b(f"{name}\x00{scope_key(matchers)}".encode(), digest_size=6).hexdigest()
    return f"{name[:40]}-{digest}"


def select_rules(rules: Iterable[Rule], server_labels: Mapping[str, str]) -> list[Rule]:
    """The rules that apply to one server: per name, the most specific enabled rule that matches it."""
    best: dict[str, Rule] = {}
    for rule in rules:
        if not rule.applies_to(server_labels):
            continue
        current = best.get(rule.name)
        if current is None or (rule.specificity, current.id) > (current.specificity, rule.id):
            best[rule.name] = rule
    return list(best.values())
