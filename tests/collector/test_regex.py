"""User-supplied regular expressions: RE2 (Go's syntax), anchored, linear in time."""

from __future__ import annotations

import pytest

from collector.regex import RegexError, compile_anchored


@pytest.mark.parametrize(
    ("pattern", "text", "matches"),
    [
        ("node_.*", "node_load1", True),
        ("node", "node_load1", False),  # the whole text
        ("a|b", "b", True),  # the alternation stays inside the anchors
        ("a.c", "a\nc", True),  # (?s): a dot matches a newline
        ("\\d+", "123", True),
        ("\\d", "\u0663", False),  # ASCII digits only, as in Go
        ("(?i)WEB-1", "web-1", True),
        ("\\pL+", "서버", True),
        ("[[:upper:]]+", "ABC", True),
        ("a{2,3}", "aaaa", False),
    ],
)
def test_patterns_match_whole_texts_as_go_does(pattern: str, text: str, matches: bool) -> None:
    assert (compile_anchored(pattern).fullmatch(text) is not None) is matches


def test_groups_by_number_and_name() -> None:
    regex = compile_anchored("(?P<host>[^:]+):(\\d+)(x)?")
    match = regex.fullmatch("web-1:9100")
    assert match is not None
    assert (match.group(1), match.group("host"), match.group(2), match.group(3)) == (
        "web-1",
        "web-1",
        "9100",
        None,
    )
    assert regex.groups == 3 and regex.groupindex == {"host": 1}


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("(", "missing )"),
        ("a(?=b)", "invalid perl operator"),
        ("a(?<!b)", "invalid"),
        ("(a)\\1", "invalid escape sequence"),
        ("a{1001}", "invalid repetition size"),
    ],
)
def test_what_go_refuses_is_an_error_naming_the_pattern(pattern: str, reason: str) -> None:
    with pytest.raises(RegexError) as refused:
        compile_anchored(pattern)
    assert repr(pattern) in str(refused.value) and reason in str(refused.value)


def test_a_refused_pattern_prints_nothing(capfd: pytest.CaptureFixture[str]) -> None:
    """RE2 logs parse errors to standard error unless told not to: the caller's error is answered only."""
    with pytest.raises(RegexError):
        compile_anchored("a(?=b)")
    out, err = capfd.readouterr()
    assert out == "" and err == ""
