"""What an actions file declares, as frozen objects: actions, their parameters, and the listener's settings.

loader.py reads and validates the file into these; kinds.py builds the two kinds of action. A ``systemd``
action is one verb (start, stop, restart or status) over a list of units; the unit is the action's one
parameter, ``unit``, whose enum is that list, and the argv is ``systemctl <verb> <unit>`` (``sudo -n
systemctl <verb> <unit>`` with ``sudo: true``). A ``command`` action is a fixed argv. A parameter value only
ever becomes one argv element or part of one, through a ``{name}`` placeholder; nothing is joined into a
command line and no shell is involved.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from exporter.config import ListenAddress
from exporter.web_config import TLSConfig

DEFAULT_TIMEOUT_S = 30.0
DEFAULT_OUTPUT_LIMIT_BYTES = 64 * 1024
DEFAULT_MAX_CONCURRENT = 2
# Values may never contain these, whatever the pattern says (line-based parsers downstream, C strings).
FORBIDDEN_CHARS = ("\n", "\r", "\0")

PLACEHOLDER_RE = re.compile(r"\{([^{}]*)\}")


@dataclass(frozen=True)
class Param:
    """A declared parameter: an enum of allowed values or a pattern the whole value must match."""

    name: str
    required: bool = True
    enum: tuple[str, ...] | None = None
    pattern: re.Pattern[str] | None = None
    default: str | None = None

    def accepts(self, value: str) -> bool:
        """True when `value` is allowed: no newline, CR or NUL, and an enum member or a full pattern match."""
        if any(char in value for char in FORBIDDEN_CHARS):
            return False
        if self.enum is not None:
            return value in self.enum
        return self.pattern is not None and self.pattern.fullmatch(value) is not None


@dataclass(frozen=True)
class Action:
    """One action the host offers: a fixed argv template and what its parameters may be."""

    name: str
    kind: str
    argv: tuple[str, ...]
    params: tuple[Param, ...] = ()
    description: str = ""
    timeout_s: float = DEFAULT_TIMEOUT_S
    output_limit_bytes: int = DEFAULT_OUTPUT_LIMIT_BYTES
    destructive: bool = True

    def check_params(self, values: Mapping[str, object]) -> str | None:
        """Why `values` are not acceptable for this action, or None when they are."""
        declared = {param.name: param for param in self.params}
        unknown = sorted(set(values) - set(declared))
        if unknown:
            return f"unknown parameters: {', '.join(unknown)}"
        for param in self.params:
            if param.name not in values:
                if param.required:
                    return f"missing required parameter {param.name}"
                continue
            value = values[param.name]
            if not isinstance(value, str) or not param.accepts(value):
                return f"parameter {param.name} has a value this action does not allow"
        return None

    def build_argv(self, values: Mapping[str, str]) -> list[str]:
        """The argv with placeholders replaced; call only with values check_params accepted."""
        chosen = {param.name: values.get(param.name, param.default or "") for param in self.params}
        # re.sub with a function: a substituted value is never scanned again for placeholders.
        return [PLACEHOLDER_RE.sub(lambda match: chosen[match.group(1)], part) for part in self.argv]

    def describe(self) -> dict[str, Any]:
        """The protocol's listing entry for this action."""
        return {
            "name": self.name,
            "description": self.description,
            "kind": self.kind,
            "destructive": self.destructive,
            "timeout_s": self.timeout_s,
            "params": [
                {
                    "name": param.name,
                    "required": param.required,
                    "enum": list(param.enum) if param.enum is not None else None,
                    "pattern": param.pattern.pattern if param.pattern is not None else None,
                }
                for param in self.params
            ],
        }


@dataclass(frozen=True)
class ActionsConfig:
    """The whole validated actions file."""

    server_id: str
    public_keys: tuple[Ed25519PublicKey, ...]
    actions: Mapping[str, Action]
    listen: ListenAddress
    tls: TLSConfig | None
    log_file: Path
    max_concurrent: int = DEFAULT_MAX_CONCURRENT
    source: str = "<defaults>"
