"""Go regex syntax translated to Python's ``re`` and compiled with RE2's meaning."""

from __future__ import annotations

import pytest

from collector.config.goregex import compile_regex, compile_template, translate_regex


@pytest.mark.parametrize(
    ("regex", "python"),
    [
        ("(?i)true", "(?i:true)"),
        ("a(?i)b|c", "a(?i:b)|(?i:c)"),
        ("x((?i)y|z)w", "x((?i:y)|(?i:z))w"),
        ("(?<host>[^:]+):(\\d+)", "(?P<host>[^:]+):(\\d+)"),
        ("end\\z", "end\\Z"),
        ("[[:alpha:]_][[:word:]]*", "[A-Za-z_][0-9A-Za-z_]*"),
        ("[(?i)]", "[(?i)]"),
        ("\\(?i\\)", "\\(?i\\)"),
        ("(?=x)(?<=y)(?<!z)", "(?=x)(?<=y)(?<!z)"),
    ],
)
def test_go_regex_syntax_is_translated(regex: str, python: str) -> None:
    assert translate_regex(regex) == python


@pytest.mark.parametrize(
    ("regex", "value", "matches"),
    [
        ("\\d+", "١٢٣", False),  # RE2's \d is ASCII only
        ("\\w+", "abc_123", True),
        ("(?i)ab(?-i)c", "ABc", True),
        ("(?i)ab(?-i)c", "ABC", False),
        ("[[:xdigit:]]+", "c0ffee", True),
    ],
)
def test_compiled_regex_follows_re2_meaning(regex: str, value: str, matches: bool) -> None:
    assert (compile_regex(regex).fullmatch(value) is not None) is matches


@pytest.mark.parametrize(
    ("regex", "template", "value", "expanded"),
    [
        pytest.param("(f)(.*)", "$1x|${1}x", "foo", "|fx", id="dollar-1x-is-a-group-named-1x"),
        pytest.param("(?P<first>f)(?P<rest>.*)", "$rest+${first}", "foo", "oo+f", id="named-groups"),
        pytest.param("(f)oo", "$$1=$1 ${9} $ {1}", "foo", "$1=f  $ {1}", id="dollar-dollar-and-stray-dollar"),
        pytest.param("(x)?(foo)", "<${1}>", "foo", "<>", id="group-outside-the-match-is-empty"),
        pytest.param("(f)(o)", "$01|$0", "fo", "|fo", id="leading-zero-is-a-name-not-a-number"),
    ],
)
def test_template_expands_as_go_expand(regex: str, template: str, value: str, expanded: str) -> None:
    pattern = compile_regex(regex)
    match = pattern.fullmatch(value)
    assert match is not None
    assert compile_template(template, pattern).expand(match) == expanded


@pytest.mark.parametrize(("template", "references"), [("env", False), ("$$1", False), ("${1}_x", True)])
def test_template_knows_whether_it_references_a_group(template: str, references: bool) -> None:
    assert compile_template(template, compile_regex("(.*)")).has_references is references
