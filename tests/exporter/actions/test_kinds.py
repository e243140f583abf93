"""The two kinds of action: what a valid declaration becomes; each mistake names its key and value."""

from __future__ import annotations

import pytest
import yaml

from exporter.actions.kinds import parse_action, parse_duration
from exporter.validation import ConfigError, Reader


def _parse(text: str, name: str = "a") -> object:
    return parse_action(Reader("actions.yaml"), name, yaml.safe_load(text))


def test_a_systemd_action_makes_the_unit_an_enum_parameter() -> None:
    action = parse_action(
        Reader("f"), "restart", {"kind": "systemd", "verb": "restart", "units": ["a.service", "b.timer"]}
    )
    assert action.argv == ("systemctl", "restart", "{unit}")
    assert [(p.name, p.enum, p.required) for p in action.params] == [("unit", ("a.service", "b.timer"), True)]
    assert action.destructive is True
    assert action.build_argv({"unit": "b.timer"}) == ["systemctl", "restart", "b.timer"]


def test_a_systemd_status_is_not_destructive_and_sudo_prefixes_the_argv() -> None:
    action = parse_action(
        Reader("f"), "status", {"kind": "systemd", "verb": "status", "units": ["a.service"], "sudo": True}
    )
    assert action.argv == ("sudo", "-n", "systemctl", "status", "{unit}")
    assert action.destructive is False


def test_a_command_action_keeps_its_settings() -> None:
    action = parse_action(
        Reader("f"),
        "tail",
        yaml.safe_load(
            """
kind: command
argv: [/usr/bin/journalctl, "--unit={unit}", -n, "{lines}"]
params:
  unit: {enum: [nginx.service]}
  lines: {pattern: "[0-9]{1,4}", required: false, default: "50"}
timeout: 2m
output_limit: 1000
destructive: false
description: Recent log lines
"""
        ),
    )
    assert (action.timeout_s, action.output_limit_bytes, action.destructive, action.description) == (
        120.0,
        1000,
        False,
        "Recent log lines",
    )
    assert action.build_argv({"unit": "nginx.service"}) == [
        "/usr/bin/journalctl",
        "--unit=nginx.service",
        "-n",
        "50",
    ]


INVALID: list[tuple[str, str, str]] = [
    (
        "kind: systemd\nverb: reload\nunits: [a.service]",
        "actions.a.verb",
        "got 'reload'; expected one of: start",
    ),
    ("kind: systemd\nverb: stop\nunits: []", "actions.a.units", "is empty"),
    (
        "kind: systemd\nverb: stop\nunits: [nginx]",
        "actions.a.units[0]",
        "got 'nginx'; expected a systemd unit",
    ),
    ("kind: systemd\nverb: stop\nunits: [-x.service]", "actions.a.units[0]", "expected a systemd unit"),
    ("kind: systemd\nverb: stop\nunits: [a.service]\nargv: [x]", "actions.a.argv", "unknown key"),
    ("kind: command\nargv: rm -rf /", "actions.a.argv", "expected a list of strings"),
    ("kind: command\nargv: []", "actions.a.argv", "is empty"),
    ("kind: command\nargv: ['{p}']\nparams: {p: {enum: [x]}}", "actions.a.argv[0]", "the program itself"),
    ("kind: command\nargv: [x, '{q}']", "actions.a.argv[1]", "{q} names no declared parameter"),
    ("kind: command\nargv: [x]\nparams: {p: {enum: [y]}}", "actions.a.argv", "never uses the parameter p"),
    ("kind: command\nargv: [x, '{p}']\nparams: {p: {}}", "actions.a.params.p", "exactly one of enum"),
    (
        "kind: command\nargv: [x, '{p}']\nparams: {p: {enum: [a], pattern: a}}",
        "actions.a.params.p",
        "exactly one",
    ),
    (
        "kind: command\nargv: [x, '{p}']\nparams: {p: {pattern: '('}}",
        "actions.a.params.p.pattern",
        "valid regular",
    ),
    (
        "kind: command\nargv: [x, '{p}']\nparams: {p: {pattern: '(?m)^a$'}}",
        "actions.a.params.p.pattern",
        "(?m)",
    ),
    (
        "kind: command\nargv: [x, '{p}']\nparams: {p: {pattern: '(?s).+'}}",
        "actions.a.params.p.pattern",
        "(?s)",
    ),
    ("kind: command\nargv: [x, '{p}']\nparams: {p: {enum: []}}", "actions.a.params.p.enum", "is empty"),
    (
        "kind: command\nargv: [x, '{p}']\nparams: {p: {enum: [\"a\\nb\"]}}",
        "actions.a.params.p.enum[0]",
        "\\n",
    ),
    ("kind: command\nargv: [x, '{P}']\nparams: {P: {enum: [a]}}", "actions.a.params.P", "bad name"),
    (
        "kind: command\nargv: [x, '{p}']\nparams: {p: {enum: [a], required: false}}",
        "actions.a.params.p.default",
        "needs a default",
    ),
    (
        "kind: command\nargv: [x, '{p}']\nparams: {p: {enum: [a], default: a}}",
        "actions.a.params.p.default",
        "only an optional",
    ),
    (
        "kind: command\nargv: [x, '{p}']\nparams: {p: {enum: [a], required: false, default: b}}",
        "actions.a.params.p.default",
        "got 'b'",
    ),
    ("kind: command\nargv: [x]\ntimeout: 10 minutes", "actions.a.timeout", "expected a duration"),
    ("kind: command\nargv: [x]\ntimeout: 2h", "actions.a.timeout", "expected a duration"),
    ("kind: command\nargv: [x]\noutput_limit: 0", "actions.a.output_limit", "from 1 to"),
    ("kind: command\nargv: [x]\ndestructive: 'no'", "actions.a.destructive", "expected true or false"),
    ("kind: command\nargv: [x]\ndescription: ''", "actions.a.description", "non-empty string"),
    ("kind: command\nargv: [x]\nshell: true", "actions.a.shell", "unknown key"),
]


@pytest.mark.parametrize(
    ("text", "key", "problem"), INVALID, ids=[f"{case[1]}: {case[2]}" for case in INVALID]
)
def test_an_invalid_action_names_key_and_problem(text: str, key: str, problem: str) -> None:
    with pytest.raises(ConfigError) as error:
        _parse(text)
    assert (error.value.file, error.value.key) == ("actions.yaml", key)
    assert problem in error.value.problem


@pytest.mark.parametrize(
    ("value", "seconds"), [(5, 5.0), (0.5, 0.5), ("500ms", 0.5), ("30s", 30.0), ("2m", 120.0), ("1h", 3600.0)]
)
def test_durations_read_as_seconds(value: object, seconds: float) -> None:
    assert parse_duration(Reader("f"), value, "k") == seconds


@pytest.mark.parametrize("value", [True, 0, "0.05s", "1d", "", None, 3601])
def test_bad_durations_are_refused(value: object) -> None:
    with pytest.raises(ConfigError, match="expected a duration"):
        parse_duration(Reader("f"), value, "k")
