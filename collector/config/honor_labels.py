"""``honor_labels``: attaching a target's labels to the labels of a sample scraped from it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

EXPORTED_PREFIX = "exported_"


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
