"""Slots read from a question's words: the metric (typos of one letter allowed), thresholds, top-N."""

from __future__ import annotations

import pytest

from api.ask.slots import find_metric, find_threshold, find_top_n
from api.ask.text import words


@pytest.mark.parametrize(
    ("question", "metric"),
    [
        ("메모리 많이 쓰는 서버", "memory"),
        ("메머리 많이 쓰는 서버", "memory"),  # one letter of one syllable off
        ("메모니가 높은 서버", "memory"),
        ("디스그 꽉 찬 서버", "disk"),
        ("씨피유 상위 3개", "cpu"),
        ("트레픽 많은 서버", "network"),
        ("top 3 by memroy", "memory"),
        ("top 3 by cpus", "cpu"),
        ("메시지 보여줘", None),  # two letters from 메모리
        ("서버 목록", None),
    ],
)
def test_the_metric_a_question_names(question: str, metric: str | None) -> None:
    assert find_metric(words(question)) == metric


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("cpu가 80% 이상인 서버", (80.0, "above")),
        ("디스크 50% 이하", (50.0, "below")),
        ("above 90% memory", (90.0, "above")),
        ("서버 상태", None),
    ],
)
def test_thresholds(question: str, expected: tuple[float, str] | None) -> None:
    assert find_threshold(question) == expected


@pytest.mark.parametrize(("question", "n"), [("상위 5개", 5), ("top 3 by cpu", 3), ("cpu 높은 서버", None)])
def test_top_n(question: str, n: int | None) -> None:
    assert find_top_n(question) == n
