"""Alert rules files: the shipped defaults (``default_rules.yaml``) and the optional ``alerts.rules_file``.

A rules file is a YAML list of rules with the fields of :class:`~collector.alerts.rules.Rule` (``id`` and
``source`` excepted: a file rule's id comes from its name and scope, and its source is ``file``), for
example::

    - name: HighCpu
      kind: threshold
      metric: cpu
      threshold: 95
      for_s: 10m
      matchers: [{name: env, value: prod}]

Every problem is reported at once, each with the file, line, key (``[0].threshold``) and bad value. Two
rules of one file with the same name and scope are an error: they would be the same stored rule.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from pydantic import ValidationError

from collector.alerts.rules import Rule
from collector.config.configfile import (
    ConfigError,
    ConfigProblem,
    YamlDocument,
    parse_yaml,
    problems_from_validation,
    read_yaml,
)

DEFAULT_RULES_FILE = "default_rules.yaml"
_FILE_ONLY_FORBIDDEN = ("id", "source")


def rules_from_document(doc: YamlDocument, source: str) -> list[Rule]:
    """Validate a parsed rules file; raises :class:`ConfigError` with every problem."""
    data = doc.data
    if data is None:
        return []
    if not isinstance(data, list):
        raise ConfigError([doc.problem((), "expected a list of rules", data)])
    rules: list[Rule] = []
    problems: list[ConfigProblem] = []
    seen: dict[tuple[str, str], int] = {}
    for index, item in enumerate(data):
        if not isinstance(item, dict):
            problems.append(doc.problem((index,), "expected a rule (a mapping of keys to values)", item))
            continue
        forbidden = [key for key in _FILE_ONLY_FORBIDDEN if key in item]
        for key in forbidden:
            problems.append(
                doc.problem((index, key), "not allowed in a rules file (set from name and scope)")
            )
        if forbidden:
            continue
        try:
            rule = Rule.model_validate({**item, "source": source})
        except ValidationError as exc:
            problems.extend(problems_from_validation(exc, doc, (index,)))
            continue
        identity = (rule.name, rule.scope)
        if identity in seen:
            problems.append(
                doc.problem(
                    (index, "name"), f"rule [{seen[identity]}] has the same name and matchers", rule.name
                )
            )
            continue
        seen[identity] = index
        rules.append(rule)
    if problems:
        raise ConfigError(problems)
    return rules


def load_rules_file(path: Path) -> list[Rule]:
    """The rules of a rules file, marked as coming from the file; raises :class:`ConfigError`."""
    return rules_from_document(read_yaml(path), "file")


def default_rules() -> list[Rule]:
    """The shipped default rules."""
    text = resources.files("collector.alerts").joinpath(DEFAULT_RULES_FILE).read_text(encoding="utf-8")
    return rules_from_document(parse_yaml(text, DEFAULT_RULES_FILE), "default")
