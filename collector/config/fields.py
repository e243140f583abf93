"""Typed reading of one YAML mapping that records a located problem for every bad value instead of raising.

The target file is validated by walking its plain YAML data with :class:`Fields` rather than with a schema
library: Prometheus's rules are cross-field (a timeout bounded by an interval that may come from another
section, fields that one relabel action needs and another forbids) and a user must see every problem of the
file at once, each with its line, so reading never stops at the first bad value.

Strings follow Go's YAML decoder, which Prometheus uses: where a string is expected, an unquoted integer or
boolean is taken as its text (``regex: true`` is the regex ``true``); other scalars such as ``1.5`` or dates
must be quoted, because their text cannot be recovered exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import TypeVar

from collector.config.configfile import ConfigProblem, KeyPath, YamlDocument
from collector.config.relabel import INVALID_LABEL_NAME, is_valid_label_name
from collector.config.units import parse_duration, parse_size

LabelPairs = tuple[tuple[str, str], ...]
"""A label set as (name, value) pairs sorted by name: immutable and hashable."""

UNKNOWN_KEY = "unknown key (check the spelling; see the documented keys)"
_NOT_TEXT = "expected a string (put the value in quotes)"
_NO_VALUE = object()
_T = TypeVar("_T")


def _parse_or_none(parse: Callable[[str], _T], text: str) -> _T | None:
    try:
        return parse(text)
    except ValueError:
        return None


def as_text(value: object) -> str | None:
    """The text Go's YAML decoder would give a string field for ``value``, or None when it is not a scalar."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return None


class Fields:
    """Reads the keys of one mapping in a YAML document; every bad value becomes a :class:`ConfigProblem`.

    Readers return a usable default after reporting a problem, so validation goes on; :meth:`failed` tells
    whether a key was bad, so that checks across keys do not repeat an error already reported.
    """

    def __init__(
        self, doc: YamlDocument, path: KeyPath, data: Mapping[object, object], problems: list[ConfigProblem]
    ) -> None:
        self.doc = doc
        self.path = path
        self.data = data
        self.problems = problems
        self._failed: set[str] = set()

    @classmethod
    def of(
        cls, doc: YamlDocument, path: KeyPath, value: object, problems: list[ConfigProblem], what: str
    ) -> Fields | None:
        """A reader for ``value`` at ``path``: empty for null, None (and a problem) when not a mapping."""
        if value is None:
            return cls(doc, path, {}, problems)
        if not isinstance(value, Mapping):
            problems.append(doc.problem(path, f"expected {what} (a mapping of keys to values)", value))
            return None
        return cls(doc, path, value, problems)

    def problem(self, key: str | int | KeyPath, expected: str, value: object = _NO_VALUE) -> None:
        """Record a problem at ``key`` (a key of this mapping or a path below it)."""
        path = (*self.path, *(key if isinstance(key, tuple) else (key,)))
        if isinstance(key, str):
            self._failed.add(key)
        elif isinstance(key, tuple) and key and isinstance(key[0], str):
            self._failed.add(key[0])
        if value is _NO_VALUE:
            self.problems.append(self.doc.problem(path, expected))
        else:
            self.problems.append(self.doc.problem(path, expected, value))

    def failed(self, *keys: str) -> bool:
        """Whether a problem was recorded for any of ``keys``."""
        return any(key in self._failed for key in keys)

    def present(self, key: str) -> bool:
        """Whether ``key`` is given with a non-null value."""
        return self.data.get(key) is not None

    def check_keys(self, known: Collection[str], explain: Callable[[str], str | None] | None = None) -> None:
        """Report every key not in ``known``; ``explain`` may give a better message for a key it knows."""
        for key in self.data:
            if not isinstance(key, str):
                self.problem(str(key), "keys must be strings", key)
            elif key not in known:
                self.problem(key, (explain(key) if explain else None) or UNKNOWN_KEY)

    def text(self, key: str, default: str) -> str:
        """A string value (integers and booleans read as their text), ``default`` when absent."""
        value = self.data.get(key)
        if value is None:
            return default
        text = as_text(value)
        if text is None:
            self.problem(key, _NOT_TEXT, value)
            return default
        return text

    def required_text(self, key: str) -> str:
        """A non-empty string value; a problem when absent or empty."""
        text = self.text(key, "")
        if not text and not self.failed(key):
            self.problem(key, "required key is missing or empty")
        return text

    def choice(self, key: str, options: Collection[str], default: str) -> str:
        """One of ``options``, ``default`` when absent."""
        if not self.present(key):
            return default
        text = self.text(key, default)
        if self.failed(key):
            return default
        if text not in options:
            self.problem(key, f"expected one of: {', '.join(options)}", text)
            return default
        return text

    def boolean(self, key: str, default: bool) -> bool:
        """A true/false value, ``default`` when absent."""
        value = self.data.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.problem(key, "expected true or false", value)
            return default
        return value

    def count(self, key: str) -> int:
        """A non-negative integer, 0 when absent."""
        value = self.data.get(key)
        if value is None:
            return 0
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            self.problem(key, "expected a whole number, 0 or more", value)
            return 0
        return value

    def duration_s(self, key: str) -> float | None:
        """Seconds in a duration such as ``15s`` or ``1m30s`` (greater than zero); None when absent or bad."""
        value = self.data.get(key)
        if value is None:
            return None
        seconds = _parse_or_none(parse_duration, value) if isinstance(value, str) else None
        if seconds is None:
            self.problem(key, "expected a duration with a unit, such as 15s, 1m30s or 500ms", value)
            return None
        if seconds <= 0:
            self.problem(key, "must be longer than zero", value)
            return None
        return float(seconds)

    def size_bytes(self, key: str) -> int:
        """Bytes in a size such as ``10MB`` or ``512KiB`` (powers of 1024); 0 when absent."""
        value = self.data.get(key)
        if value is None:
            return 0
        text = as_text(value) if not isinstance(value, bool) else None
        size = _parse_or_none(parse_size, text) if text is not None else None
        if size is None:
            self.problem(key, "expected a size such as 0 (no limit), 512KB, 10MB or 1GiB", value)
            return 0
        return size

    def text_list(self, key: str) -> tuple[str, ...]:
        """A list of strings, empty when absent."""
        value = self.data.get(key)
        if value is None:
            return ()
        if not isinstance(value, list):
            self.problem(key, "expected a list of strings, such as [a, b]", value)
            return ()
        out = []
        for index, item in enumerate(value):
            text = as_text(item)
            if text is None:
                self.problem((key, index), _NOT_TEXT, item)
            else:
                out.append(text)
        return tuple(out)

    def labels(self, key: str) -> LabelPairs:
        """A mapping of label names to values, as sorted pairs; empty when absent."""
        section = self.section(key, "labels")
        if section is None:
            return ()
        before = len(self.problems)
        pairs = []
        for name, value in section.data.items():
            if not isinstance(name, str) or not is_valid_label_name(name):
                section.problem(str(name), INVALID_LABEL_NAME, name)
                continue
            text = as_text(value) if value is not None else ""
            if text is None:
                section.problem(name, _NOT_TEXT, value)
            else:
                pairs.append((name, text))
        if len(self.problems) > before:
            self._failed.add(key)
        return tuple(sorted(pairs))

    def section(self, key: str, what: str) -> Fields | None:
        """A reader for the nested mapping at ``key``; None when absent, null or not a mapping."""
        value = self.data.get(key)
        if value is None:
            return None
        section = Fields.of(self.doc, (*self.path, key), value, self.problems, what)
        if section is None:
            self._failed.add(key)
        return section

    def sections(self, key: str, what: str) -> list[Fields]:
        """Readers for a list of mappings at ``key``; an entry that is null or not a mapping is a problem."""
        value = self.data.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            self.problem(key, f"expected a list of {what}", value)
            return []
        out = []
        for index, item in enumerate(value):
            if item is None:
                self.problem((key, index), "empty entry: fill it in or remove it")
                continue
            section = Fields.of(self.doc, (*self.path, key, index), item, self.problems, what)
            if section is None:
                self._failed.add(key)
            else:
                out.append(section)
        return out

    def file(self, key: str, base_dir: Path) -> Path | None:
        """A path to a readable file, relative to ``base_dir`` unless absolute; None when absent or bad."""
        text = self.text(key, "")
        if not text:
            return None
        path = base_dir / text
        try:
            with path.open("rb"):
                pass
        except OSError as exc:
            self.problem(key, f"cannot read the file: {exc.strerror or exc}", text)
            return None
        return path

    def secret(self, key: str, file_key: str, base_dir: Path) -> str | None:
        """A secret given inline at ``key`` or in the file named at ``file_key`` (never both).

        A file is read now, relative to ``base_dir``, with surrounding whitespace removed as Prometheus does.
        None when neither is given.
        """
        if self.present(key) and self.present(file_key):
            self.problem(file_key, f"give either {key} or {file_key}, not both")
            return None
        if self.present(file_key):
            path = self.file(file_key, base_dir)
            if path is None:
                return None
            try:
                return path.read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError) as exc:
                self.problem(file_key, f"cannot read the file: {exc}", str(path))
                return None
        return self.text(key, "") if self.present(key) else None
