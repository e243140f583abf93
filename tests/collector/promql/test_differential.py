"""Our engine against Debian's Prometheus on identical samples: every construct, once instant, once range.

The full set (every query at several times and steps) is `tests/bench/promql_diff.py`.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from collector.promql import Engine
from tests.collector.promql.differential import Case, Oracle, compare, engine, fast_cases

pytestmark = pytest.mark.slow

CASES = fast_cases()


@pytest.fixture(scope="module")
def oracle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Oracle]:
    if shutil.which("prometheus") is None or shutil.which("promtool") is None:
        pytest.skip("prometheus and promtool are not installed (Debian package 'prometheus')")
    running = Oracle(Path(tmp_path_factory.mktemp("prometheus")))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def ours() -> Engine:
    return engine()


def test_the_fast_set_covers_every_query_as_instant_and_range() -> None:
    assert len(CASES) >= 150
    assert {case.step_ms == 0 for case in CASES} == {True, False}


@pytest.mark.parametrize("case", CASES, ids=[case.describe() for case in CASES])
def test_query_agrees_with_prometheus(oracle: Oracle, ours: Engine, case: Case) -> None:
    difference = compare(oracle, ours, case)
    assert difference is None, difference
