"""Applying relabel rules: every Prometheus action and template expansion."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collector.config.relabel import RelabelAction, RelabelRule
from collector.config.relabel_actions import relabel

A = RelabelAction


def prometheus_hashmod(value: str, modulus: int) -> int:
    """Prometheus's definition, written independently: the low 64 bits of the MD5 digest, modulo."""
    return int(hashlib.md5(value.encode("utf-8")).hexdigest()[16:], 16) % modulus


@pytest.mark.parametrize(
    ("labels", "rule", "expected"),
    [
        pytest.param(
            {"a": "foo"},
            RelabelRule(source_labels=("a",), target_label="b"),
            {"a": "foo", "b": "foo"},
            id="defaults-copy-source-to-target",
        ),
        pytest.param(
            {"a": "foo", "b": "bar"},
            RelabelRule(source_labels=("a", "b"), regex="(.*);(.*)", target_label="c", replacement="$2-$1"),
            {"a": "foo", "b": "bar", "c": "bar-foo"},
            id="sources-joined-by-semicolon",
        ),
        pytest.param(
            {"a": "foo", "b": "bar"},
            RelabelRule(source_labels=("a", "b"), separator="/", target_label="c"),
            {"a": "foo", "b": "bar", "c": "foo/bar"},
            id="custom-separator",
        ),
        pytest.param(
            {"b": "bar"},
            RelabelRule(source_labels=("a", "b"), target_label="c"),
            {"b": "bar", "c": ";bar"},
            id="missing-source-is-empty",
        ),
        pytest.param(
            {"a": "foo"},
            RelabelRule(source_labels=("a",), regex="f", target_label="b", replacement="x"),
            {"a": "foo"},
            id="regex-is-anchored-partial-match-does-nothing",
        ),
        pytest.param(
            {"a": "foo", "b": "keep"},
            RelabelRule(source_labels=("a",), regex="(x)?(foo)", target_label="b", replacement="${1}"),
            {"a": "foo"},
            id="empty-replacement-deletes-target",
        ),
        pytest.param(
            {"a": "foo"},
            RelabelRule(
                source_labels=("a",),
                regex="(?P<first>f)(?P<rest>.*)",
                target_label="b",
                replacement="$rest+${first}",
            ),
            {"a": "foo", "b": "oo+f"},
            id="named-groups",
        ),
        pytest.param(
            {"a": "foo"},
            RelabelRule(source_labels=("a",), regex="(f)(.*)", target_label="b", replacement="$1x|${1}x"),
            {"a": "foo", "b": "|fx"},
            id="dollar-1x-is-a-group-named-1x",
        ),
        pytest.param(
            {"a": "foo"},
            RelabelRule(
                source_labels=("a",), regex="(f)oo", target_label="b", replacement="$$1=$1 ${9} $ {1}"
            ),
            {"a": "foo", "b": "$1=f  $ {1}"},
            id="double-dollar-missing-group-and-stray-dollar",
        ),
        pytest.param(
            {"a": "node_cpu"},
            RelabelRule(source_labels=("a",), regex="node_(.*)", target_label="${1}_total", replacement="1"),
            {"a": "node_cpu", "cpu_total": "1"},
            id="target-label-template",
        ),
        pytest.param(
            {"a": "1abc"},
            RelabelRule(source_labels=("a",), regex="(.*)", target_label="$1", replacement="x"),
            {"a": "1abc"},
            id="invalid-expanded-target-is-skipped",
        ),
        pytest.param(
            {},
            RelabelRule(target_label="env", replacement="prod"),
            {"env": "prod"},
            id="no-source-sets-constant",
        ),
        pytest.param(
            {"a": "line1\nline2"},
            RelabelRule(source_labels=("a",), regex="line1.(.*)", target_label="b"),
            {"a": "line1\nline2", "b": "line2"},
            id="dot-matches-newline",
        ),
        pytest.param(
            {"a": "abc\n"},
            RelabelRule(source_labels=("a",), regex="abc", target_label="b", replacement="matched"),
            {"a": "abc\n"},
            id="no-match-before-trailing-newline",
        ),
    ],
)
def test_replace(labels: dict[str, str], rule: RelabelRule, expected: dict[str, str]) -> None:
    assert relabel(labels, [rule]) == expected


@pytest.mark.parametrize(
    ("labels", "rule", "kept"),
    [
        ({"a": "foo"}, RelabelRule(A.KEEP, ("a",), regex="foo|bar"), True),
        ({"a": "foobar"}, RelabelRule(A.KEEP, ("a",), regex="foo|bar"), False),
        ({}, RelabelRule(A.KEEP, ("a",), regex=".+"), False),
        ({}, RelabelRule(A.KEEP, ("a",), regex=""), True),
        ({"a": "TRUE"}, RelabelRule(A.KEEP, ("a",), regex="(?i)true"), True),
        ({"a": "foo"}, RelabelRule(A.DROP, ("a",), regex="f.*"), False),
        ({"a": "bar"}, RelabelRule(A.DROP, ("a",), regex="f.*"), True),
        ({"a": "x", "b": "x"}, RelabelRule(A.KEEPEQUAL, ("a",), target_label="b"), True),
        ({"a": "x", "b": "y"}, RelabelRule(A.KEEPEQUAL, ("a",), target_label="b"), False),
        ({"a": "x"}, RelabelRule(A.KEEPEQUAL, ("a",), target_label="b"), False),
        ({}, RelabelRule(A.KEEPEQUAL, ("a",), target_label="b"), True),
        ({"a": "x", "b": "x"}, RelabelRule(A.DROPEQUAL, ("a",), target_label="b"), False),
        ({"a": "x", "b": "y"}, RelabelRule(A.DROPEQUAL, ("a",), target_label="b"), True),
        ({"a": "1", "b": "2", "c": "1;2"}, RelabelRule(A.KEEPEQUAL, ("a", "b"), target_label="c"), True),
    ],
)
def test_keep_drop_keepequal_dropequal(labels: dict[str, str], rule: RelabelRule, kept: bool) -> None:
    assert (relabel(labels, [rule]) is not None) is kept


@pytest.mark.parametrize(
    ("value", "modulus", "prometheus_result"),
    [
        ("baz", 1000, 976),  # from Prometheus's own relabel tests
        ("foo\nbar", 1000, 734),  # ditto
        ("10.0.0.11:9100", 2, None),
        ("10.0.0.12:9100", 7, None),
        ("", 3, None),
        ("ünïcödé", 1 << 63, None),
    ],
)
def test_hashmod_matches_prometheus(value: str, modulus: int, prometheus_result: int | None) -> None:
    rule = RelabelRule(A.HASHMOD, ("a",), target_label="shard", modulus=modulus)
    out = relabel({"a": value} if value else {}, [rule])
    assert out is not None
    expected = prometheus_hashmod(value, modulus)
    assert out["shard"] == str(expected)
    if prometheus_result is not None:
        assert expected == prometheus_result


@given(st.text(), st.integers(min_value=1, max_value=2**64 - 1))
def test_hashmod_is_md5_low_64_bits_modulo(value: str, modulus: int) -> None:
    rule = RelabelRule(A.HASHMOD, ("a",), target_label="shard", modulus=modulus)
    out = relabel({"a": value}, [rule])
    assert out is not None
    assert out["shard"] == str(prometheus_hashmod(value, modulus))


@pytest.mark.parametrize(
    ("labels", "rule", "expected"),
    [
        pytest.param(
            {"__meta_inventory_team": "web", "__meta_inventory_rack": "r1", "job": "node"},
            RelabelRule(A.LABELMAP, regex="__meta_inventory_(.+)"),
            {
                "__meta_inventory_team": "web",
                "__meta_inventory_rack": "r1",
                "job": "node",
                "team": "web",
                "rack": "r1",
            },
            id="meta-labels-to-plain-labels",
        ),
        pytest.param(
            {"a": "foo", "b1": "bar", "b2": "baz"},
            RelabelRule(A.LABELMAP, regex="(b.*)", replacement="bar_${1}"),
            {"a": "foo", "b1": "bar", "b2": "baz", "bar_b1": "bar", "bar_b2": "baz"},
            id="replacement-template",
        ),
        pytest.param(
            {"x_a": "1"},
            RelabelRule(A.LABELMAP, regex="x_(.*)", replacement="x_x_$1"),
            {"x_a": "1", "x_x_a": "1"},
            id="names-written-are-not-mapped-again",
        ),
        pytest.param(
            {"a": "1", "b": "2"},
            RelabelRule(A.LABELDROP, regex="a|c"),
            {"b": "2"},
            id="labeldrop",
        ),
        pytest.param(
            {"a": "1", "ab": "2", "b": "3"},
            RelabelRule(A.LABELKEEP, regex="a.*"),
            {"a": "1", "ab": "2"},
            id="labelkeep",
        ),
        pytest.param(
            {"a": "MiXeD"},
            RelabelRule(A.LOWERCASE, ("a",), target_label="b"),
            {"a": "MiXeD", "b": "mixed"},
            id="lowercase",
        ),
        pytest.param(
            {"a": "x", "b": "y"},
            RelabelRule(A.UPPERCASE, ("a", "b"), target_label="c"),
            {"a": "x", "b": "y", "c": "X;Y"},
            id="uppercase-joined-sources",
        ),
        pytest.param(
            {"b": "old"},
            RelabelRule(A.LOWERCASE, ("a",), target_label="b"),
            {},
            id="lowercase-of-empty-deletes-target",
        ),
    ],
)
def test_label_name_and_case_actions(
    labels: dict[str, str], rule: RelabelRule, expected: dict[str, str]
) -> None:
    assert relabel(labels, [rule]) == expected


def test_rules_apply_in_order_and_stop_at_a_drop() -> None:
    rules = [
        RelabelRule(source_labels=("a",), target_label="b", replacement="drop-me"),
        RelabelRule(A.DROP, ("b",), regex="drop-me"),
        RelabelRule(target_label="never", replacement="set"),
    ]
    assert relabel({"a": "x"}, rules) is None


def test_relabel_leaves_its_input_unchanged() -> None:
    labels = {"a": "x", "b": "y"}
    out = relabel(
        labels, [RelabelRule(A.LABELDROP, regex="a"), RelabelRule(target_label="c", replacement="z")]
    )
    assert labels == {"a": "x", "b": "y"}
    assert out == {"b": "y", "c": "z"}


@given(st.dictionaries(st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True), st.text(min_size=1)))
def test_no_rules_returns_an_equal_copy(labels: dict[str, str]) -> None:
    out = relabel(labels, [])
    assert out == labels
    assert out is not labels
