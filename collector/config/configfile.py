"""Reading YAML configuration files with line numbers, and reporting their problems.

Every configuration error in OpenManager names the file, the line where it is known, the key (a dotted path
such as ``scrape_configs[0].scrape_interval``), the bad value and what is expected. This module keeps the line
of every key while the file is read, so validators working on plain data can still point at the line.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import ValidationError

KeyPath = tuple[str | int, ...]

_MISSING = object()


def format_key(path: KeyPath) -> str:
    """Render a key path as ``a.b[0].c``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out or "(top level)"


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with a configuration file."""

    file: str
    key: str
    expected: str
    value: object = _MISSING
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        if self.value is _MISSING:
            return f"{where}: {self.key}: {self.expected}"
        return f"{where}: {self.key}: {_show(self.value)}: {self.expected}"


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class ConfigError(Exception):
    """A configuration file (or the environment) is invalid; carries every problem found."""

    def __init__(self, problems: Iterable[ConfigProblem]) -> None:
        self.problems: tuple[ConfigProblem, ...] = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


@dataclass(frozen=True)
class YamlDocument:
    """A parsed YAML document and the line (1-based) of every key and list item in it."""

    file: str
    data: object
    lines: Mapping[KeyPath, int] = field(default_factory=dict)

    def line_of(self, path: Sequence[str | int]) -> int | None:
        """The line of ``path`` or, when it is absent (a missing key), of its nearest parent."""
        key = tuple(path)
        while key:
            if key in self.lines:
                return self.lines[key]
            key = key[:-1]
        return self.lines.get((), None)

    def problem(self, path: Sequence[str | int], expected: str, value: object = _MISSING) -> ConfigProblem:
        """Build a problem located at ``path`` in this document."""
        return ConfigProblem(
            file=self.file,
            key=format_key(tuple(path)),
            expected=expected,
            value=value,
            line=self.line_of(path),
        )


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader; duplicate keys are reported by the node walk below."""


def _walk(
    node: yaml.Node, path: KeyPath, lines: dict[KeyPath, int], dupes: list[tuple[KeyPath, int]]
) -> None:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: set[object] = set()
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.start_mark)
            child = (*path, key)
            if key in seen:
                dupes.append((child, key_node.start_mark.line + 1))
            seen.add(key)
            _walk(value_node, child, lines, dupes)
            lines[child] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*path, index), lines, dupes)


def parse_yaml(text: str, file: str) -> YamlDocument:
    """Parse YAML text; syntax errors and duplicate keys raise :class:`ConfigError`."""
    try:
        node = yaml.compose(text, Loader=_StrictLoader)
        data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(
            [ConfigProblem(file, "(syntax)", f"not valid YAML: {exc.problem or exc}", line=line)]
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError([ConfigProblem(file, "(syntax)", f"not valid YAML: {exc}")]) from None
    lines: dict[KeyPath, int] = {}
    dupes: list[tuple[KeyPath, int]] = []
    if node is not None:
        _walk(node, (), lines, dupes)
    if dupes:
        raise ConfigError(
            ConfigProblem(file, format_key(path), "this key is given twice", line=line)
            for path, line in dupes
        )
    return YamlDocument(file=file, data=data, lines=lines)


def read_yaml(path: Path) -> YamlDocument:
    """Read and parse a YAML file; an unreadable file raises :class:`ConfigError`."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([ConfigProblem(str(path), "(file)", f"cannot be read: {exc}")]) from None
    return parse_yaml(text, str(path))


SECRET_KEYS = frozenset({"password", "dsn", "url", "jwt_secret", "credentials", "bearer_token", "token"})
"""Keys whose values are never repeated in an error message (a URL or DSN may carry a password)."""


def problems_from_validation(
    exc: ValidationError, doc: YamlDocument, prefix: KeyPath = ()
) -> list[ConfigProblem]:
    """Turn a pydantic validation error on ``doc``'s data into located problems.

    The bad value is shown unless it is a whole section (the message then says what is wrong with it) or
    the key holds a secret.
    """
    problems = []
    for error in exc.errors(include_url=False):
        loc: KeyPath = (*prefix, *(part for part in error["loc"] if isinstance(part, str | int)))
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key (check the spelling; see the documented keys)"
        value = error.get("input", _MISSING)
        if isinstance(value, dict | list):
            value = _MISSING
        elif loc and loc[-1] in SECRET_KEYS and value is not _MISSING:
            value = "[redacted]"
        if error["type"] == "missing":
            problems.append(doc.problem(loc, "required key is missing"))
        else:
            problems.append(doc.problem(loc, message, value))
    return problems
