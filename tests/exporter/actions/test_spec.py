"""Actions and parameters: what a value may be, and how it becomes exactly one argv element."""

from __future__ import annotations

import re

import pytest

from exporter.actions.spec import Action, Param

WORD = Param("word", pattern=re.compile(r"[^/]+"))
LEVEL = Param("level", enum=("info", "debug"), required=False, default="info")
GREP = Action(
    "grep", "command", ("/bin/grep", "--regexp={word}", "--", "/var/log/{level}.log"), (WORD, LEVEL)
)


@pytest.mark.parametrize(
    ("param", "value", "accepted"),
    [
        (WORD, "hello world", True),
        (WORD, "a/b", False),
        (WORD, "", False),
        # [^/]+ matches a newline, CR or NUL: they are refused whatever the pattern says.
        (WORD, "ok\nroot", False),
        (WORD, "ok\r", False),
        (WORD, "ok\0", False),
        (LEVEL, "info", True),
        (LEVEL, "info ", False),
        (LEVEL, "warning", False),
        (Param("n", pattern=re.compile(r"[0-9]+")), "12abc", False),
        (Param("n", pattern=re.compile(r"[0-9]+$")), "12\n", False),
    ],
)
def test_a_value_is_accepted_only_as_declared(param: Param, value: str, accepted: bool) -> None:
    assert param.accepts(value) is accepted


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({"word": "x"}, None),
        ({"word": "x", "level": "debug"}, None),
        ({}, "missing required parameter word"),
        ({"word": "x", "user": "root"}, "unknown parameters: user"),
        ({"word": 1}, "parameter word has a value this action does not allow"),
        ({"word": "x", "level": "trace"}, "parameter level has a value this action does not allow"),
    ],
)
def test_check_params_says_what_is_wrong(values: dict[str, object], problem: str | None) -> None:
    assert GREP.check_params(values) == problem


def test_a_value_stays_one_argv_element_and_is_never_expanded_again() -> None:
    argv = GREP.build_argv({"word": "a b; rm -rf {level} $(id)"})
    assert argv == ["/bin/grep", "--regexp=a b; rm -rf {level} $(id)", "--", "/var/log/info.log"]


def test_describe_is_the_protocols_listing_entry() -> None:
    assert GREP.describe() == {
        "name": "grep",
        "description": "",
        "kind": "command",
        "destructive": True,
        "timeout_s": 30.0,
        "params": [
            {"name": "word", "required": True, "enum": None, "pattern": "[^/]+"},
            {"name": "level", "required": False, "enum": ["info", "debug"], "pattern": None},
        ],
    }
