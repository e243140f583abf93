"""The exporter's answers, read strictly: the listing of a host's actions and the result of a run.

An answer that does not have the protocol's shape raises :class:`BadAnswerError` rather than reaching the
API half-understood.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

Kind = Literal["systemd", "command"]


class BadAnswerError(ValueError):
    """The exporter answered something that is not the protocol's JSON."""


@dataclass(frozen=True)
class ActionParam:
    """One parameter an action takes: an enum, a pattern, or neither."""

    name: str
    required: bool
    enum: tuple[str, ...] | None
    pattern: str | None


@dataclass(frozen=True)
class ActionSpec:
    """One action a host offers."""

    name: str
    description: str
    kind: Kind
    destructive: bool
    timeout_s: float
    params: tuple[ActionParam, ...]


@dataclass(frozen=True)
class ActionList:
    """What a host offers, as its exporter says."""

    server_id: str
    actions: tuple[ActionSpec, ...]

    def get(self, name: str) -> ActionSpec | None:
        """The action called ``name``, if the host offers it."""
        return next((action for action in self.actions if action.name == name), None)


@dataclass(frozen=True)
class RunResult:
    """What running an action gave: ``exit_code`` None when it was killed on its timeout."""

    action: str
    exit_code: int | None
    duration_s: float
    stdout: str
    stderr: str
    truncated: bool
    timed_out: bool


def _field(data: Mapping[str, object], name: str, kind: type | tuple[type, ...]) -> object:
    value = data.get(name)
    # bool is an int in Python: a number field must not take true/false.
    if not isinstance(value, kind) or (kind in (int, float, (int, float)) and isinstance(value, bool)):
        raise BadAnswerError(f"the exporter's answer has no valid {name!r}")
    return value


def _strings(value: object, name: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise BadAnswerError(f"the exporter's answer has no valid {name!r}")
    return tuple(value)


def _param(data: object) -> ActionParam:
    if not isinstance(data, dict):
        raise BadAnswerError("the exporter's answer lists a parameter that is not an object")
    pattern = data.get("pattern")
    if pattern is not None and not isinstance(pattern, str):
        raise BadAnswerError("the exporter's answer has no valid 'pattern'")
    return ActionParam(
        name=str(_field(data, "name", str)),
        required=bool(_field(data, "required", bool)),
        enum=_strings(data.get("enum"), "enum"),
        pattern=pattern,
    )


def _spec(data: object) -> ActionSpec:
    if not isinstance(data, dict):
        raise BadAnswerError("the exporter's answer lists an action that is not an object")
    kind = _field(data, "kind", str)
    if kind not in ("systemd", "command"):
        raise BadAnswerError(f"the exporter's answer has an unknown kind {kind!r}")
    params = _field(data, "params", list)
    assert isinstance(params, list)
    return ActionSpec(
        name=str(_field(data, "name", str)),
        description=str(_field(data, "description", str)),
        kind="systemd" if kind == "systemd" else "command",
        destructive=bool(_field(data, "destructive", bool)),
        timeout_s=float(_field(data, "timeout_s", (int, float))),  # type: ignore[arg-type]
        params=tuple(_param(item) for item in params),
    )


def parse_list(data: object) -> ActionList:
    """The listing of ``GET /actions``."""
    if not isinstance(data, dict):
        raise BadAnswerError("the exporter's answer is not a JSON object")
    actions = _field(data, "actions", list)
    assert isinstance(actions, list)
    return ActionList(server_id=str(_field(data, "server_id", str)), actions=tuple(_spec(a) for a in actions))


def parse_run(data: object) -> RunResult:
    """The result of ``POST /actions/<name>``."""
    if not isinstance(data, dict):
        raise BadAnswerError("the exporter's answer is not a JSON object")
    exit_code = data.get("exit_code")
    if exit_code is not None and (not isinstance(exit_code, int) or isinstance(exit_code, bool)):
        raise BadAnswerError("the exporter's answer has no valid 'exit_code'")
    return RunResult(
        action=str(_field(data, "action", str)),
        exit_code=exit_code,
        duration_s=float(_field(data, "duration_s", (int, float))),  # type: ignore[arg-type]
        stdout=str(_field(data, "stdout", str)),
        stderr=str(_field(data, "stderr", str)),
        truncated=bool(_field(data, "truncated", bool)),
        timed_out=bool(_field(data, "timed_out", bool)),
    )
