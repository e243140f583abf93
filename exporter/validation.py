"""Checked access to values read from YAML, and the error that names file, key, value and expectation.

Every configuration error the exporter reports is a ConfigError built here, so messages share one shape:
``FILE: KEY.PATH: got VALUE; expected WHAT``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import yaml


class ConfigError(Exception):
    """A configuration problem, phrased for the operator: file, key path, bad value, what is expected."""

    def __init__(self, file: str, key: str, problem: str) -> None:
        self.file = file
        self.key = key
        self.problem = problem
        super().__init__(f"{file}: {key}: {problem}" if key else f"{file}: {problem}")


class Reader:
    """Typed access to raw YAML values, raising ConfigError with the file and key path."""

    def __init__(self, file: str) -> None:
        self.file = file

    def fail(self, key: str, problem: str) -> ConfigError:
        """An error about `key` in this reader's file."""
        return ConfigError(self.file, key, problem)

    def mapping(self, value: object, key: str, allowed: tuple[str, ...]) -> dict[str, object]:
        """A mapping whose keys are all in `allowed`; None (an empty section) is an empty mapping."""
        where = key or "the top level"
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(key, f"got {show(value)}; expected a mapping of keys to values at {where}")
        result: dict[str, object] = {}
        for name, item in value.items():
            path = f"{key}.{name}" if key else str(name)
            if not isinstance(name, str) or name not in allowed:
                raise self.fail(path, f"unknown key; expected one of: {', '.join(allowed)}")
            result[name] = item
        return result

    def string(self, value: object, key: str) -> str:
        """A non-empty string."""
        if not isinstance(value, str) or not value:
            raise self.fail(key, f"got {show(value)}; expected a non-empty string")
        return value

    def choice(self, value: object, key: str, choices: tuple[str, ...]) -> str:
        """One of `choices`."""
        if value not in choices:
            raise self.fail(key, f"got {show(value)}; expected one of: {', '.join(choices)}")
        return str(value)

    def boolean(self, value: object, key: str) -> bool:
        """true or false (YAML booleans only, so "no" in quotes is not taken for false)."""
        if not isinstance(value, bool):
            raise self.fail(key, f"got {show(value)}; expected true or false")
        return value

    def integer(self, value: object, key: str, low: int, high: int) -> int:
        """An integer (not a boolean) from `low` to `high`."""
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.fail(key, f"got {show(value)}; expected an integer from {low} to {high}")
        return value

    def seconds(self, value: object, key: str, low: float, high: float) -> float:
        """A number of seconds from `low` to `high`."""
        if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
            raise self.fail(key, f"got {show(value)}; expected a number of seconds from {low:g} to {high:g}")
        return float(value)

    def regex(self, value: object, key: str) -> re.Pattern[str]:
        """A regular expression that compiles."""
        text = self.string(value, key)
        try:
            return re.compile(text)
        except re.error as exc:
            raise self.fail(key, f"got {text!r}; expected a valid regular expression ({exc})") from None

    def string_list(self, value: object, key: str) -> list[str]:
        """A list of non-empty strings."""
        if not isinstance(value, list):
            raise self.fail(key, f"got {show(value)}; expected a list of strings")
        return [self.string(item, f"{key}[{index}]") for index, item in enumerate(value)]

    def readable_file(self, value: object, key: str, base: Path) -> Path:
        """A path, relative to `base` unless absolute, that can be opened for reading now."""
        path = base / self.string(value, key)
        try:
            with path.open("rb"):
                pass
        except OSError as exc:
            raise self.fail(key, f"got {str(path)!r}; expected a readable file ({exc.strerror})") from None
        return path


def show(value: object) -> str:
    """Render a bad value for an error message: short, and typed when it is not a string."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def load_yaml(path: Path) -> object:
    """Parse a YAML file; unreadable files and syntax errors are ConfigErrors with line and column."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(str(path), "", f"cannot read the file ({exc.strerror})") from None
    return parse_yaml(data, str(path))


def read_trusted_file(path: Path, file: str, key: str) -> bytes:
    """Read a file that decides what this host runs or trusts, refusing one others could have changed.

    The file must be owned by root or by the user this process runs as, and writable by neither its group
    nor the world. The checks use fstat of the descriptor that is read, so the file checked is the file
    read.
    """
    try:
        with path.open("rb") as handle:
            stat = os.fstat(handle.fileno())
            data = handle.read()
    except OSError as exc:
        raise ConfigError(file, key, f"cannot read {str(path)!r} ({exc.strerror})") from None
    if stat.st_uid not in (0, os.geteuid()):
        raise ConfigError(
            file,
            key,
            f"{str(path)!r} is owned by uid {stat.st_uid}; expected root or this exporter's user "
            f"(uid {os.geteuid()}), e.g. chown root:root {path}",
        )
    if stat.st_mode & 0o022:
        raise ConfigError(
            file,
            key,
            f"{str(path)!r} has mode {stat.st_mode & 0o777:04o}, writable by its group or everyone; "
            f"expected it writable by its owner only, e.g. chmod 0644 {path}",
        )
    return data


def parse_yaml(data: bytes, file: str) -> object:
    """Parse YAML bytes read from `file`; bad UTF-8 and syntax errors are ConfigErrors (with line, column)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(file, "", "the file is not UTF-8 text") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid syntax"
        raise ConfigError(file, "", f"not valid YAML{where}: {problem}") from None
