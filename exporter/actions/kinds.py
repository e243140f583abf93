"""The two kinds of action an actions file may declare, validated into Action objects.

``command``: a fixed ``argv`` list and optional ``params``. ``systemd``: one ``verb`` over listed ``units``,
with the unit as the parameter ``unit``. Errors name the file, the key (``actions.<name>.<key>``) and the
value.
"""

from __future__ import annotations

import re

from exporter.actions.spec import (
    DEFAULT_OUTPUT_LIMIT_BYTES,
    DEFAULT_TIMEOUT_S,
    PLACEHOLDER_RE,
    Action,
    Param,
)
from exporter.config import UNIT_NAME_RE
from exporter.validation import Reader, show

KINDS = ("command", "systemd")
SYSTEMD_VERBS = ("start", "stop", "restart", "status")
MAX_TIMEOUT_S = 3600.0
MAX_OUTPUT_LIMIT_BYTES = 4 * 1024 * 1024
PARAM_NAME_RE = re.compile(r"[a-z_][a-z0-9_]{0,63}")
_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_DURATION_UNITS_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_COMMON_KEYS = ("kind", "description", "timeout", "output_limit", "destructive")
# Inline flags that would change what "the whole value" means to a pattern.
_REFUSED_FLAGS = re.MULTILINE | re.DOTALL


def parse_duration(reader: Reader, value: object, key: str) -> float:
    """Seconds from a number or a duration like ``500ms``, ``30s``, ``2m``, ``1h``."""
    seconds: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION_RE.fullmatch(value.strip())):
        seconds = float(match.group(1)) * _DURATION_UNITS_S[match.group(2)]
    if seconds is None or not 0.1 <= seconds <= MAX_TIMEOUT_S:
        raise reader.fail(
            key, f"got {show(value)}; expected a duration from 100ms to {MAX_TIMEOUT_S:g}s, e.g. 30s or 2m"
        )
    return seconds


def parse_action(reader: Reader, name: str, raw: object) -> Action:
    """Validate ``actions.<name>``."""
    key = f"actions.{name}"
    kind = reader.choice(raw.get("kind") if isinstance(raw, dict) else None, f"{key}.kind", KINDS)
    if kind == "systemd":
        fields = reader.mapping(raw, key, (*_COMMON_KEYS, "verb", "units", "sudo"))
        verb = reader.choice(fields.get("verb"), f"{key}.verb", SYSTEMD_VERBS)
        units = reader.string_list(fields.get("units"), f"{key}.units")
        if not units:
            raise reader.fail(f"{key}.units", "is empty; expected the units this action may act on")
        for index, unit in enumerate(units):
            if not UNIT_NAME_RE.match(unit):
                raise reader.fail(
                    f"{key}.units[{index}]",
                    f"got {unit!r}; expected a systemd unit name with its type, e.g. nginx.service",
                )
        sudo = reader.boolean(fields["sudo"], f"{key}.sudo") if "sudo" in fields else False
        argv: tuple[str, ...] = ("systemctl", verb, "{unit}")
        if sudo:
            argv = ("sudo", "-n", *argv)
        params: tuple[Param, ...] = (Param("unit", enum=tuple(dict.fromkeys(units))),)
        destructive_default = verb != "status"
    else:
        fields = reader.mapping(raw, key, (*_COMMON_KEYS, "argv", "params"))
        argv = tuple(reader.string_list(fields.get("argv"), f"{key}.argv"))
        if not argv:
            raise reader.fail(f"{key}.argv", "is empty; expected the program and its arguments")
        params = _parse_params(reader, fields.get("params"), f"{key}.params")
        _check_placeholders(reader, argv, params, f"{key}.argv")
        destructive_default = True
    description = (
        reader.string(fields["description"], f"{key}.description") if "description" in fields else ""
    )
    timeout_s = DEFAULT_TIMEOUT_S
    if "timeout" in fields:
        timeout_s = parse_duration(reader, fields["timeout"], f"{key}.timeout")
    output_limit = DEFAULT_OUTPUT_LIMIT_BYTES
    if "output_limit" in fields:
        output_limit = reader.integer(
            fields["output_limit"], f"{key}.output_limit", 1, MAX_OUTPUT_LIMIT_BYTES
        )
    destructive = destructive_default
    if "destructive" in fields:
        destructive = reader.boolean(fields["destructive"], f"{key}.destructive")
    return Action(name, kind, argv, params, description, timeout_s, output_limit, destructive)


def _parse_params(reader: Reader, raw: object, key: str) -> tuple[Param, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        raise reader.fail(key, f"got {show(raw)}; expected a mapping of parameter names to enum or pattern")
    params = []
    for name, spec in raw.items():
        param_key = f"{key}.{name}"
        if not isinstance(name, str) or not PARAM_NAME_RE.fullmatch(name):
            raise reader.fail(param_key, "bad name; expected lower-case letters, digits and '_' (at most 64)")
        fields = reader.mapping(spec, param_key, ("enum", "pattern", "required", "default"))
        if ("enum" in fields) == ("pattern" in fields):
            raise reader.fail(
                param_key, "expected exactly one of enum (a list of values) or pattern (a regex)"
            )
        enum = None
        pattern = None
        if "enum" in fields:
            enum = tuple(reader.string_list(fields["enum"], f"{param_key}.enum"))
            if not enum:
                raise reader.fail(f"{param_key}.enum", "is empty; expected the allowed values")
        else:
            pattern = reader.regex(fields["pattern"], f"{param_key}.pattern")
            if pattern.flags & _REFUSED_FLAGS:
                raise reader.fail(
                    f"{param_key}.pattern",
                    f"got {pattern.pattern!r}; inline (?m) and (?s) flags are refused, the pattern must "
                    "match the whole single-line value",
                )
        required = (
            reader.boolean(fields["required"], f"{param_key}.required") if "required" in fields else True
        )
        param = Param(name, required, enum, pattern)
        if "default" in fields:
            if required:
                raise reader.fail(
                    f"{param_key}.default", "only an optional parameter (required: false) has a default"
                )
            default = reader.string(fields["default"], f"{param_key}.default")
            if not param.accepts(default):
                raise reader.fail(
                    f"{param_key}.default", f"got {default!r}; expected a value the parameter allows"
                )
            param = Param(name, required, enum, pattern, default)
        elif not required:
            raise reader.fail(f"{param_key}.default", "missing; an optional parameter needs a default value")
        for index, value in enumerate(enum or ()):
            if not param.accepts(value):
                raise reader.fail(
                    f"{param_key}.enum[{index}]", f"got {value!r}; a value may not hold \\n, \\r or \\0"
                )
        params.append(param)
    return tuple(params)


def _check_placeholders(reader: Reader, argv: tuple[str, ...], params: tuple[Param, ...], key: str) -> None:
    declared = {param.name for param in params}
    used: set[str] = set()
    for index, part in enumerate(argv):
        for name in PLACEHOLDER_RE.findall(part):
            if index == 0:
                raise reader.fail(f"{key}[0]", f"got {part!r}; the program itself cannot be a parameter")
            if name not in declared:
                raise reader.fail(f"{key}[{index}]", f"got {part!r}; {{{name}}} names no declared parameter")
            used.add(name)
    for name in sorted(declared - used):
        raise reader.fail(f"{key}", f"never uses the parameter {name}; put {{{name}}} in an argv element")
