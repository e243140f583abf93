"""Binary operators, vector matching and its errors, set operators."""

from __future__ import annotations

import pytest

from collector.promql.errors import ExecutionError
from tests.collector.promql.helpers import instant, series, vector_values

LOAD = [
    series({"__name__": "load", "job": "a", "instance": "1"}, [(0, 2)]),
    series({"__name__": "load", "job": "a", "instance": "2"}, [(0, 6)]),
]
CPUS = [series({"__name__": "cpus", "job": "a", "instance": "1"}, [(0, 4)])]
INFO = [series({"__name__": "info", "job": "a", "version": "1.0"}, [(0, 1)])]
DATA = [*LOAD, *CPUS, *INFO]
I1 = (("instance", "1"), ("job", "a"))


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("load / cpus", {I1: 0.5}),
        ("load > bool cpus", {I1: 0.0}),
        ("load < cpus", {(("__name__", "load"), *I1): 2.0}),
        ("load * 2 > 5", {(("instance", "2"), ("job", "a")): 12.0}),
        ("5 > load", {(("__name__", "load"), *I1): 2.0}),
        ("load / on(instance) cpus", {(("instance", "1"),): 0.5}),
        (
            "load * on(job) group_left(version) info",
            {(*I1, ("version", "1.0")): 2.0, (("instance", "2"), ("job", "a"), ("version", "1.0")): 6.0},
        ),
        ("info + on(job) group_right load", {I1: 3.0, (("instance", "2"), ("job", "a")): 7.0}),
        ("load and cpus", {(("__name__", "load"), *I1): 2.0}),
        ("load unless cpus", {(("__name__", "load"), ("instance", "2"), ("job", "a")): 6.0}),
        (
            "cpus or load",
            {(("__name__", "cpus"), *I1): 4.0, (("__name__", "load"), ("instance", "2"), ("job", "a")): 6.0},
        ),
        (
            "load and on() vector(1)",
            {(("__name__", "load"), *I1): 2.0, (("__name__", "load"), ("instance", "2"), ("job", "a")): 6.0},
        ),
    ],
)
def test_binary_operation(query: str, expected: dict[tuple[tuple[str, str], ...], float]) -> None:
    assert vector_values(instant(DATA, query, 0)) == expected


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            "cpus + on(job) load",
            'found duplicate series for the match group {job="a"} on the right hand-side',
        ),
        ("load + on(job) cpus", "many-to-one matching must be explicit"),
        ("load + on(job) group_left info", None),
        ("load + on(job) group_left cpus", None),
    ],
)
def test_matching_errors(query: str, message: str | None) -> None:
    if message is None:
        instant(DATA, query, 0)
        return
    with pytest.raises(ExecutionError, match=message.replace("{", r"\{").replace("}", r"\}")):
        instant(DATA, query, 0)


def test_grouping_labels_must_make_results_unique() -> None:
    twin = series({"__name__": "load2", "job": "a", "instance": "1"}, [(0, 1)])
    with pytest.raises(ExecutionError, match="grouping labels must ensure unique matches"):
        instant([*DATA, twin], '{__name__=~"load|load2"} * on(job) group_left info', 0)


def test_scalar_arithmetic_and_bool_comparison() -> None:
    assert instant([], "2 ^ 3 ^ 2", 0).value == 512.0  # type: ignore[union-attr]
    assert instant([], "1 == bool 1", 0).value == 1.0  # type: ignore[union-attr]
    assert instant([], "-7 % 3", 0).value == -1.0  # type: ignore[union-attr]
