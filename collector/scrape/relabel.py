"""The relabeling engine: Prometheus relabel actions over plain label dictionaries.

A :class:`RelabelRule` is validated and compiled once (anchored regex, pre-parsed ``$1`` templates); then
:func:`relabel` applies a list of rules to a label set. The same engine serves ``relabel_configs`` (once per
discovered target) and ``metric_relabel_configs`` (once per scraped sample), so a call costs one dict copy
plus the work of the rules themselves.

The semantics are those of Prometheus's ``model/relabel`` package:

* the regex must match the whole value: Prometheus compiles ``^(?s:<regex>)$``, so ``.`` also matches a
  newline;
* a missing label and a label with an empty value are the same thing, and setting a label to the empty
  string deletes it (so ``replace`` with an empty result removes ``target_label``);
* ``$1``, ``${1}``, ``$name`` and ``${name}`` in ``target_label`` and ``replacement`` expand as Go's
  ``Regexp.Expand`` does: the name after ``$`` is the longest run of letters, digits and ``_`` (``$1x`` is the
  group named ``1x``, which does not exist, so it expands to nothing; write ``${1}x``), a group that did not
  take part in the match expands to nothing and ``$$`` is a literal ``$``;
* ``hashmod`` takes the MD5 of the joined source values, reads its last 8 bytes as a big-endian unsigned
  integer and keeps the remainder modulo ``modulus``, so sharding agrees with Prometheus's.

Regexes use Python's ``re`` syntax with RE2's ASCII meaning of ``\\d``, ``\\w``, ``\\s`` and ``\\b``. Go-isms
that Prometheus configurations use are translated: flag groups such as ``(?i)`` anywhere in the pattern,
``(?<name>...)`` groups, ``\\z`` and POSIX classes such as ``[[:alpha:]]``. Unicode classes (``\\pL``) are
not supported and are reported as invalid.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
# A label name that may contain $1 / ${name} references (Prometheus's check for templated target labels).
_LABEL_NAME_TEMPLATE = re.compile(r"(?:[A-Za-z_]|\$\{\w+\}|\$\w+)(?:\w|\$\{\w+\}|\$\w+)*", re.ASCII)

DEFAULT_SEPARATOR = ";"
DEFAULT_REGEX = "(.*)"
DEFAULT_REPLACEMENT = "$1"
EXPORTED_PREFIX = "exported_"
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


@dataclass(frozen=True, slots=True)
class _Template:
    """A ``$1``/``${name}`` template split into literal text (str) and match group numbers (int)."""

    parts: tuple[str | int, ...]
    has_references: bool

    def expand(self, match: re.Match[str]) -> str:
        if len(self.parts) == 1:
            only = self.parts[0]
            return only if isinstance(only, str) else match.group(only) or ""
        return "".join(part if isinstance(part, str) else match.group(part) or "" for part in self.parts)


def _is_name_char(char: str) -> bool:
    # Go's Expand takes unicode.IsLetter / unicode.IsDigit (category Nd) / underscore.
    return char.isalpha() or char.isdecimal() or char == "_"


def _compile_template(template: str, pattern: re.Pattern[str]) -> _Template:
    parts: list[str | int] = []
    literal: list[str] = []
    i, end = 0, len(template)
    while i < end:
        dollar = template.find("$", i)
        if dollar < 0:
            literal.append(template[i:])
            break
        literal.append(template[i:dollar])
        i = dollar + 1
        if template.startswith("$", i):
            literal.append("$")
            i += 1
            continue
        braced = template.startswith("{", i)
        start = i + 1 if braced else i
        stop = start
        while stop < end and _is_name_char(template[stop]):
            stop += 1
        if stop == start or (braced and not template.startswith("}", stop)):
            literal.append("$")  # not a reference: Go keeps the "$" as text
            continue
        name = template[start:stop]
        i = stop + 1 if braced else stop
        group = _group_number(name, pattern)
        if group is not None:
            parts.extend(["".join(literal), group])
            literal.clear()
    parts.append("".join(literal))
    kept = tuple(part for part in parts if part != "")
    return _Template(kept or ("",), any(isinstance(part, int) for part in kept))


def _group_number(name: str, pattern: re.Pattern[str]) -> int | None:
    """The group ``name`` refers to, or None when it refers to nothing (and so expands to nothing)."""
    if name.isascii() and name.isdigit():
        number = int(name)
        # Go reads "01" as a group name, not a number; no group can have that name.
        plain = name == "0" or not name.startswith("0")
        return number if plain and number <= pattern.groups else None
    return pattern.groupindex.get(name)


_POSIX_CLASSES = {
    "alnum": "0-9A-Za-z",
    "alpha": "A-Za-z",
    "ascii": "\\x00-\\x7f",
    "blank": "\\t ",
    "cntrl": "\\x00-\\x1f\\x7f",
    "digit": "0-9",
    "graph": "!-~",
    "lower": "a-z",
    "print": " -~",
    "punct": "!-/:-@\\[-`{-~",
    "space": "\\t\\n\\v\\f\\r ",
    "upper": "A-Z",
    "word": "0-9A-Za-z_",
    "xdigit": "0-9A-Fa-f",
}
_POSIX_CLASS = re.compile(r"\[:(\^?)([a-z]*):\]")
_FLAG_GROUP = re.compile(r"\(\?([a-zA-Z]+(?:-[a-zA-Z]*)?|-[a-zA-Z]+)\)")


def _class_end(regex: str, start: int) -> int:
    """The index just past the character class opening at ``start`` (or the end, if unterminated)."""
    i = start + 1
    if regex.startswith("^", i):
        i += 1
    if regex.startswith("]", i):
        i += 1
    while i < len(regex):
        if regex[i] == "\\":
            i += 2
        elif (posix := _POSIX_CLASS.match(regex, i)) is not None:
            i = posix.end()
        elif regex[i] == "]":
            return i + 1
        else:
            i += 1
    return len(regex)


def _translate_class(text: str) -> str:
    def posix(match: re.Match[str]) -> str:
        negated, name = match.groups()
        if negated or name not in _POSIX_CLASSES:
            raise ValueError(f"the character class [:{negated}{name}:] is not supported")
        return _POSIX_CLASSES[name]

    return _POSIX_CLASS.sub(posix, text)


def translate_regex(regex: str) -> str:
    """Rewrite RE2 syntax that Python's ``re`` reads differently or not at all into its ``re`` equivalent.

    Go's ``(?i)`` changes the flags for the rest of the enclosing group, across ``|``; Python only accepts
    such a group at the very start, so each becomes a scoped ``(?i:...)`` closed at every ``|`` and reopened
    after it, and closed again before the enclosing ``)``.
    """
    out: list[str] = []
    scoped: list[list[str]] = [[]]  # per open group: the flag groups opened in it so far
    i = 0
    while i < len(regex):
        char = regex[i]
        if char == "\\":
            pair = regex[i : i + 2]
            out.append("\\Z" if pair == "\\z" else pair)
            i += 2
        elif char == "[":
            end = _class_end(regex, i)
            out.append(_translate_class(regex[i:end]))
            i = end
        elif (flags := _FLAG_GROUP.match(regex, i)) is not None:
            if "U" in flags.group(1):
                raise ValueError("the U (ungreedy) flag is not supported; use lazy quantifiers such as *?")
            out.append(f"(?{flags.group(1)}:")
            scoped[-1].append(flags.group(1))
            i = flags.end()
        elif char == "(":
            named = regex.startswith("(?<", i) and regex[i + 3 : i + 4] not in ("=", "!")
            out.append("(?P<" if named else "(")
            scoped.append([])
            i += 3 if named else 1
        elif char == ")" and len(scoped) > 1:
            out.append(")" * len(scoped.pop()) + ")")
            i += 1
        elif char == "|" and scoped[-1]:
            out.append(")" * len(scoped[-1]) + "|" + "".join(f"(?{f}:" for f in scoped[-1]))
            i += 1
        else:
            out.append(char)
            i += 1
    out.append(")" * len(scoped[0]))
    return "".join(out)


def compile_regex(regex: str) -> re.Pattern[str]:
    """Compile a relabel regex the way Prometheus does: whole-value match, ``.`` matching newlines.

    Use ``fullmatch`` on the result (Go's ``$`` only matches at the very end, unlike Python's). Raises
    ``ValueError`` with the reason when the regex is invalid.
    """
    try:
        return re.compile(f"(?s:{translate_regex(regex)})", re.ASCII)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression: {exc.msg}") from None


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
    target_template: _Template = field(init=False, repr=False, compare=False)
    replacement_template: _Template = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        problems = self._field_problems()
        try:
            pattern = compile_regex(self.regex)
        except ValueError as exc:
            problems.insert(0, RuleProblem(("regex",), self.regex, str(exc)))
        if problems:
            raise InvalidRelabelRuleError(problems)
        object.__setattr__(self, "pattern", pattern)
        object.__setattr__(self, "target_template", _compile_template(self.target_label, pattern))
        object.__setattr__(self, "replacement_template", _compile_template(self.replacement, pattern))

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


def _source_value(rule: RelabelRule, labels: dict[str, str]) -> str:
    names = rule.source_labels
    if len(names) == 1:
        return labels.get(names[0], "")
    return rule.separator.join([labels.get(name, "") for name in names])


def _set(labels: dict[str, str], name: str, value: str) -> None:
    if value:
        labels[name] = value
    else:
        labels.pop(name, None)


def _replace(rule: RelabelRule, labels: dict[str, str]) -> bool:
    match = rule.pattern.fullmatch(_source_value(rule, labels))
    if match is None:
        return True
    target = rule.target_template.expand(match)
    if rule.target_template.has_references and not is_valid_label_name(target):
        return True
    _set(labels, target, rule.replacement_template.expand(match))
    return True


def _keep(rule: RelabelRule, labels: dict[str, str]) -> bool:
    return rule.pattern.fullmatch(_source_value(rule, labels)) is not None


def _drop(rule: RelabelRule, labels: dict[str, str]) -> bool:
    return rule.pattern.fullmatch(_source_value(rule, labels)) is None


def _keepequal(rule: RelabelRule, labels: dict[str, str]) -> bool:
    return labels.get(rule.target_label, "") == _source_value(rule, labels)


def _dropequal(rule: RelabelRule, labels: dict[str, str]) -> bool:
    return labels.get(rule.target_label, "") != _source_value(rule, labels)


def _hashmod(rule: RelabelRule, labels: dict[str, str]) -> bool:
    digest = hashlib.md5(_source_value(rule, labels).encode(), usedforsecurity=False).digest()
    labels[rule.target_label] = str(int.from_bytes(digest[8:], "big") % rule.modulus)
    return True


def _labelmap(rule: RelabelRule, labels: dict[str, str]) -> bool:
    # Iterate over a snapshot so that names written by this rule are not mapped again, as in Prometheus.
    for name, value in sorted(labels.items()):
        match = rule.pattern.fullmatch(name)
        if match is not None:
            new_name = rule.replacement_template.expand(match)
            if is_valid_label_name(new_name):
                _set(labels, new_name, value)
    return True


def _labeldrop(rule: RelabelRule, labels: dict[str, str]) -> bool:
    for name in [name for name in labels if rule.pattern.fullmatch(name) is not None]:
        del labels[name]
    return True


def _labelkeep(rule: RelabelRule, labels: dict[str, str]) -> bool:
    for name in [name for name in labels if rule.pattern.fullmatch(name) is None]:
        del labels[name]
    return True


def _lowercase(rule: RelabelRule, labels: dict[str, str]) -> bool:
    _set(labels, rule.target_label, _source_value(rule, labels).lower())
    return True


def _uppercase(rule: RelabelRule, labels: dict[str, str]) -> bool:
    _set(labels, rule.target_label, _source_value(rule, labels).upper())
    return True


_ACTIONS: dict[RelabelAction, Callable[[RelabelRule, dict[str, str]], bool]] = {
    RelabelAction.REPLACE: _replace,
    RelabelAction.KEEP: _keep,
    RelabelAction.DROP: _drop,
    RelabelAction.KEEPEQUAL: _keepequal,
    RelabelAction.DROPEQUAL: _dropequal,
    RelabelAction.HASHMOD: _hashmod,
    RelabelAction.LABELMAP: _labelmap,
    RelabelAction.LABELDROP: _labeldrop,
    RelabelAction.LABELKEEP: _labelkeep,
    RelabelAction.LOWERCASE: _lowercase,
    RelabelAction.UPPERCASE: _uppercase,
}


def relabel(labels: Mapping[str, str], rules: Sequence[RelabelRule]) -> dict[str, str] | None:
    """Apply ``rules`` in order to a copy of ``labels``; None when a rule drops the label set.

    ``labels`` is not modified. Empty values in the input count as absent labels for the rules, as in
    Prometheus.
    """
    out = dict(labels)
    for rule in rules:
        if not _ACTIONS[rule.action](rule, out):
            return None
    return out


def merge_target_labels(
    sample_labels: Mapping[str, str], target_labels: Iterable[tuple[str, str]], honor_labels: bool
) -> dict[str, str]:
    """Attach a target's labels to a scraped sample's labels, resolving conflicts as Prometheus does.

    With ``honor_labels`` false the target's labels win and a conflicting scraped label is kept as
    ``exported_<name>`` (prefixed again, shortest names first, until the name is free). With ``honor_labels``
    true the scraped labels win, and a scraped label that is present with an empty value removes the target
    label (the way a Pushgateway-style exporter says "no instance label"). Labels with empty values never
    appear in the result; empty target label values count as absent.
    """
    out = {name: value for name, value in sample_labels.items() if value}
    if honor_labels:
        for name, value in target_labels:
            if value and name not in sample_labels:
                out[name] = value
        return out
    conflicts: list[tuple[str, str]] = []
    for name, value in target_labels:
        if not value:
            continue
        scraped = out.get(name)
        if scraped:
            conflicts.append((name, scraped))
        out[name] = value
    for name, value in sorted(conflicts, key=lambda conflict: (len(conflict[0]), conflict[0])):
        exported = EXPORTED_PREFIX + name
        while out.get(exported):
            exported = EXPORTED_PREFIX + exported
        out[exported] = value
    return out
