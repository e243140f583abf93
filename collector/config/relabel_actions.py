"""Applying relabel rules: every Prometheus relabel action over a plain label dictionary.

:func:`relabel` applies a list of validated :class:`~collector.config.relabel.RelabelRule` to a label set.
The same function serves ``relabel_configs`` (once per discovered target) and ``metric_relabel_configs``
(once per scraped sample), so a call costs one dict copy plus the work of the rules themselves.

The semantics are those of Prometheus's ``model/relabel`` package:

* the regex must match the whole value (see :mod:`collector.config.goregex`), so ``.`` also matches a
  newline;
* a missing label and a label with an empty value are the same thing, and setting a label to the empty
  string deletes it (so ``replace`` with an empty result removes ``target_label``);
* ``$1``, ``${1}``, ``$name`` and ``${name}`` in ``target_label`` and ``replacement`` expand as Go's
  ``Regexp.Expand`` does; a ``target_label`` that expands to an invalid label name sets nothing;
* ``hashmod`` takes the MD5 of the joined source values, reads its last 8 bytes as a big-endian unsigned
  integer and keeps the remainder modulo ``modulus``, so sharding agrees with Prometheus's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence

from collector.config.relabel import RelabelAction, RelabelRule, is_valid_label_name


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
