"""The question table: at least 30 Korean and 30 English questions, phrased as operators type them
(typos, mixed language, particles), asked about the fixture fleet. Each row checks the intent, the entities,
and the numbers of the answer against the fleet's definition in :mod:`tests.api.ask.fleet`."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from api.ask import AskAnswer, Table, ask
from tests.api.ask.conftest import Seeded
from tests.api.ask.fleet import ALERTS, BY_NAME, HOSTS, NOW_S, SCRAPES, Host, status_of, time_at

pytestmark = pytest.mark.asyncio(loop_scope="module")

UP = [h for h in HOSTS if h.down_after is None]


def current(host: Host, metric: str) -> float:
    """The metric's value at the last scrape, as the fixture defines it."""
    values = {
        "cpu": host.cpu,
        "memory": host.memory,
        "disk": host.disk,
        "load": host.load,
        "network": host.rx_per_s + host.tx_per_s,
    }
    return values[metric]


def table(answer: AskAnswer, index: int = 0) -> Table:
    block = answer.data[index]
    assert isinstance(block, Table)
    return block


def top(metric: str, n: int, ascending: bool = False) -> Callable[[AskAnswer], None]:
    def check(answer: AskAnswer) -> None:
        ranked = sorted(UP, key=lambda h: current(h, metric) if ascending else -current(h, metric))[:n]
        rows = table(answer).rows
        assert [row[1] for row in rows] == [h.name for h in ranked]
        assert [row[2] for row in rows] == [pytest.approx(current(h, metric), abs=0.01) for h in ranked]
        assert ranked[0].name in answer.answer and str(rows[0][3]) in answer.answer

    return check


def over(metric: str, limit: float, below: bool = False) -> Callable[[AskAnswer], None]:
    def check(answer: AskAnswer) -> None:
        hits = [h for h in UP if (current(h, metric) <= limit if below else current(h, metric) >= limit)]
        names = [str(row[1]) for row in table(answer).rows] if answer.data else []
        assert sorted(names) == sorted(h.name for h in hits)
        assert f"{len(hits)}" in answer.answer

    return check


def status(*names: str, yes: bool | None = None) -> Callable[[AskAnswer], None]:
    def check(answer: AskAnswer) -> None:
        rows = table(answer).rows
        assert [row[0] for row in rows] == list(names)
        for row, name in zip(rows, names, strict=True):
            host = BY_NAME[name]
            if host.down_after is None:
                assert row[2] == host.cpu and row[3] == host.memory
        if yes is not None:
            assert answer.answer.startswith(("Yes", "네") if yes else ("No", "아니요"))

    return check


def with_status(wanted: str) -> Callable[[AskAnswer], None]:
    def check(answer: AskAnswer) -> None:
        expected = sorted(h.name for h in HOSTS if status_of(h) == wanted)
        assert sorted(str(row[0]) for row in table(answer).rows) == expected
        assert all(name in answer.answer for name in expected)

    return check


def fleet(answer: AskAnswer) -> None:
    counts = {s: sum(1 for h in HOSTS if status_of(h) == s) for s in ("up", "warning", "down")}
    assert str(len(HOSTS)) in answer.answer
    assert all(f"{n}" in answer.answer for n in counts.values())
    assert len(table(answer).rows) == len(HOSTS)
    assert table(answer).rows[0][0] == "web-3", "the server down comes first"


def history(name: str, metric: str, period_s: int) -> Callable[[AskAnswer], None]:
    def check(answer: AskAnswer) -> None:
        host = BY_NAME[name]
        step = max(period_s / 60, 15.0)
        steps = [NOW_S - period_s + i * step for i in range(round(period_s / step) + 1)]
        values = []
        for t in steps:
            taken = [k for k in range(SCRAPES) if time_at(k) <= t and t - time_at(k) <= 300]
            if taken:
                k = max(taken)
                values.append(host.cpu_at(k) if metric == "cpu" else current(host, metric))
        row = table(answer).rows[0]
        assert row[0] == name
        assert row[1:] == pytest.approx(
            [min(values), max(values), sum(values) / len(values), values[-1]], abs=0.01
        )
        assert answer.data[1].kind == "series"

    return check


def alerts(*titles: str) -> Callable[[AskAnswer], None]:
    def check(answer: AskAnswer) -> None:
        got = [str(row[1]) for row in table(answer).rows] if answer.data else []
        assert sorted(got) == sorted(titles)
        assert str(len(titles)) in answer.answer

    return check


ACTIVE = [a[2] for a in ALERTS if a[4] != "resolved"]
YESTERDAY = [a[2] for a in ALERTS if a[5] < NOW_S // 86400 * 86400]
LAST_DAY = [a[2] for a in ALERTS if a[5] >= NOW_S - 86400]


def forecast(name: str) -> Callable[[AskAnswer], None]:
    def check(answer: AskAnswer) -> None:
        host = BY_NAME[name]
        hours = round(host.free_at(SCRAPES - 1) / host.disk_free_drop_per_s / 3600)
        row = next(r for r in table(answer).rows if r[0] == name)
        assert str(hours) in str(row[5]) and name in answer.answer
        others = [r for r in table(answer).rows if r[0] != name]
        assert all(r[5] is None for r in others), "only the filling disk gets a time"

    return check


def processes(name: str) -> Callable[[AskAnswer], None]:
    def check(answer: AskAnswer) -> None:
        expected = sorted(BY_NAME[name].processes, key=lambda p: -p[2])
        rows = table(answer).rows
        assert [(row[0], row[1], row[2]) for row in rows] == [(p[0], p[1], p[2]) for p in expected]
        assert expected[0][1] in answer.answer

    return check


def diagnosis(name: str) -> Callable[[AskAnswer], None]:
    def check(answer: AskAnswer) -> None:
        host = BY_NAME[name]
        now = [row[1] for row in table(answer).rows]
        expected = [
            host.cpu,
            host.iowait * 100,
            host.load,
            host.memory,
            25.0,
            host.disk,
            host.net_errors_per_s,
        ]
        assert now == pytest.approx(expected, abs=0.01)
        assert "95%" in answer.answer and "7" in answer.answer
        assert table(answer, 1).rows[0][1] == "nginx"
        assert "HighCpu" not in answer.answer and ACTIVE[0] in answer.answer

    return check


def which_server(answer: AskAnswer) -> None:
    troubled = sorted(h.name for h in HOSTS if status_of(h) != "up")
    assert not answer.data and "?" in answer.answer
    assert answer.suggestions == [f"{name} 왜 느려?" for name in troubled]


def helpful(answer: AskAnswer) -> None:
    assert not answer.data and len(answer.suggestions) >= 4


def nothing(answer: AskAnswer) -> None:
    assert not answer.data and answer.suggestions
    assert not any(ch.isdigit() for ch in answer.answer), "no number is made up"


@dataclass(frozen=True)
class Case:
    question: str
    intent: str
    servers: tuple[str, ...] = ()
    metric: str | None = None
    check: Callable[[AskAnswer], None] | None = None
    entities: dict[str, Any] | None = None


KO = [
    Case("CPU 제일 높은 서버 5개", "top_n", metric="cpu", check=top("cpu", 5), entities={"top_n": 5}),
    Case("씨피유 사용률 상위 3개 보여줘", "top_n", metric="cpu", check=top("cpu", 3), entities={"top_n": 3}),
    Case("메모리 많이 쓰는 서버 top 5", "top_n", metric="memory", check=top("memory", 5)),
    Case("램 사용량 가장 높은 서버 3대", "top_n", metric="memory", check=top("memory", 3)),
    Case("디스크 용량 제일 많이 쓰는 서버", "top_n", metric="disk", check=top("disk", 5)),
    Case("트래픽 많은 서버 상위 2개", "top_n", metric="network", check=top("network", 2)),
    Case("부하 낮은 서버 3개", "top_n", metric="load", check=top("load", 3, ascending=True)),
    Case(
        "cpu가 80% 이상인 서버",
        "threshold",
        metric="cpu",
        check=over("cpu", 80),
        entities={"threshold": 80.0, "comparison": "above"},
    ),
    Case("메모리 사용률 90% 넘는 서버 있어?", "threshold", metric="memory", check=over("memory", 90)),
    Case(
        "디스크 50% 이하인 서버들",
        "threshold",
        metric="disk",
        check=over("disk", 50, below=True),
        entities={"comparison": "below"},
    ),
    Case("web-1 상태 어때?", "server_status", ("web-1",), check=status("web-1")),
    Case("web-3 죽었어?", "server_status", ("web-3",), check=status("web-3", yes=True)),
    Case("캐시서버 괜찮아?", "server_status", ("cache-1",), check=status("cache-1")),
    Case("db1 서버 상태", "server_status", ("db-1",), check=status("db-1")),
    Case("메머리 많이 쓰는 서버 top 5", "top_n", metric="memory", check=top("memory", 5)),  # 메모리
    Case("wbe-1 상태 어때", "server_status", ("web-1",), check=status("web-1")),
    Case("다운된 서버 잇어?", "down_servers", check=with_status("down")),  # 있어
    Case("다운된 서버 있어?", "down_servers", check=with_status("down")),
    Case("죽은 서버 알려줘", "down_servers", check=with_status("down")),
    Case("경고 상태인 서버들", "warning_servers", check=with_status("warning")),
    Case("전체 서버 상태 요약", "fleet_status", check=fleet),
    Case(
        "web-1 지난 1시간 CPU 추이",
        "metric_history",
        ("web-1",),
        "cpu",
        history("web-1", "cpu", 3600),
        {"period_s": 3600},
    ),
    Case(
        "db-2의 메모리 최근 30분",
        "metric_history",
        ("db-2",),
        "memory",
        history("db-2", "memory", 1800),
        {"period_s": 1800},
    ),
    Case("api-1 부하 평균 지난 2시간", "metric_history", ("api-1",), "load", history("api-1", "load", 7200)),
    Case("지금 알림 뭐 떠 있어?", "active_alerts", check=alerts(*ACTIVE)),
    Case("어제 알림 이력", "alert_history", check=alerts(*YESTERDAY), entities={"period_s": 86400}),
    Case("최근 24시간 알람 기록", "alert_history", check=alerts(*LAST_DAY)),
    Case("db-1 디스크 언제 가득 차?", "disk_forecast", ("db-1",), "disk", forecast("db-1")),
    Case("디스크 꽉 찰 서버 예측해줘", "disk_forecast", metric="disk", check=forecast("db-1")),
    Case("web-1에서 cpu 먹는 프로세스", "top_processes", ("web-1",), "cpu", processes("web-1")),
    Case("web-1 왜 이렇게 느려?", "diagnose", ("web-1",), check=diagnosis("web-1")),
    Case("서버 느린 이유 진단해줘", "diagnose", check=which_server),
    Case("도움말", "help", check=helpful),
]
EN = [
    Case("top 5 servers by cpu", "top_n", metric="cpu", check=top("cpu", 5), entities={"top_n": 5}),
    Case("which server has the highest CPU?", "top_n", metric="cpu", check=top("cpu", 5)),
    Case("top 3 by memroy", "top_n", metric="memory", check=top("memory", 3), entities={"top_n": 3}),
    Case("busiest 4 hosts by load", "top_n", metric="load", check=top("load", 4)),
    Case("top 2 servers by network traffic", "top_n", metric="network", check=top("network", 2)),
    Case("lowest disk usage top 3", "top_n", metric="disk", check=top("disk", 3, ascending=True)),
    Case("servers with cpu above 80%", "threshold", metric="cpu", check=over("cpu", 80)),
    Case("memory over 85 percent", "threshold", metric="memory", check=over("memory", 85)),
    Case("disk usage > 60%", "threshold", metric="disk", check=over("disk", 60)),
    Case("hosts where load is below 1", "threshold", metric="load", check=over("load", 1, below=True)),
    Case("is web-1 down?", "server_status", ("web-1",), check=status("web-1", yes=False)),
    Case("is web-3 down", "server_status", ("web-3",), check=status("web-3", yes=True)),
    Case("how is db-1 doing", "server_status", ("db-1",), check=status("db-1")),
    Case("status of wbe-2", "server_status", ("web-2",), check=status("web-2")),
    Case("web 1 and db-2 status", "server_status", ("web-1", "db-2"), check=status("web-1", "db-2")),
    Case("which servers are down?", "down_servers", check=with_status("down")),
    Case("any servers offline right now", "down_servers", check=with_status("down")),
    Case("show servers in warning", "warning_servers", check=with_status("warning")),
    Case("fleet status", "fleet_status", check=fleet),
    Case(
        "cpu of web-1 over the last hour", "metric_history", ("web-1",), "cpu", history("web-1", "cpu", 3600)
    ),
    Case(
        "web-2 memory last 24h",
        "metric_history",
        ("web-2",),
        "memory",
        history("web-2", "memory", 86400),
        {"period_s": 86400},
    ),
    Case(
        "batch-1 load history past 15 minutes",
        "metric_history",
        ("batch-1",),
        "load",
        history("batch-1", "load", 900),
    ),
    Case("active alerts", "active_alerts", check=alerts(*ACTIVE)),
    Case("any alerts firing?", "active_alerts", check=alerts(*ACTIVE)),
    Case("alerts yesterday", "alert_history", check=alerts(*YESTERDAY)),
    Case("when will the disk on db-1 be full?", "disk_forecast", ("db-1",), "disk", forecast("db-1")),
    Case("top processes on web-1", "top_processes", ("web-1",), check=processes("web-1")),
    Case("why is web-1 so slow", "diagnose", ("web-1",), check=diagnosis("web-1")),
    Case("web-1 왜 slow 해?", "diagnose", ("web-1",), check=diagnosis("web-1")),
    Case("what is the meaning of life", "unknown", check=nothing),
    Case("help", "help", check=helpful),
]


@pytest.mark.parametrize("case", KO + EN, ids=[c.question for c in KO + EN])
async def test_the_question_is_understood_and_answered_from_the_fleet(seeded: Seeded, case: Case) -> None:
    answer = await ask(seeded.app, seeded.admin, case.question)
    assert answer.intent == case.intent, answer.answer
    assert [ref.name for ref in answer.entities.servers] == list(case.servers)
    if case.metric is not None:
        assert answer.entities.metric == case.metric
    elif case.intent not in ("top_n", "threshold", "metric_history", "disk_forecast"):
        assert answer.entities.metric is None, answer.entities.metric
    for name, value in (case.entities or {}).items():
        assert getattr(answer.entities, name) == value, name
    if case.check is not None:
        case.check(answer)


async def test_the_table_has_thirty_questions_in_each_language() -> None:
    hangul = [c for c in KO + EN if any("가" <= ch <= "힣" for ch in c.question)]
    assert len(KO) >= 30 and len(EN) >= 30 and len(hangul) >= 30


async def test_a_viewer_s_answers_hold_only_its_granted_servers(seeded: Seeded) -> None:
    answer = await ask(seeded.app, seeded.viewer, "fleet status")
    assert sorted(str(row[0]) for row in table(answer).rows) == ["db-1", "web-1"]
    answer = await ask(seeded.app, seeded.viewer, "status of batch-1")
    assert answer.entities.servers == [] and "batch-1" not in str(answer.data)


async def test_a_follow_up_keeps_the_previous_answer_s_server(seeded: Seeded) -> None:
    first = await ask(seeded.app, seeded.admin, "web-1 상태")
    follow = await ask(
        seeded.app, seeded.admin, "프로세스는?", context={"entities": first.entities.model_dump()}
    )
    assert follow.intent == "top_processes"
    processes("web-1")(follow)


async def test_yesterday_follows_the_caller_s_utc_offset(seeded: Seeded) -> None:
    # At UTC+9 it is 19:10 on 2 March; yesterday is 1 March, 15:00 UTC on 28 Feb to 15:00 UTC on 1 March.
    answer = await ask(seeded.app, seeded.admin, "어제 알림", context={"utc_offset_minutes": 540})
    assert answer.entities.period_end_s == NOW_S // 86400 * 86400 - 9 * 3600
    assert math.isclose(answer.entities.period_s or 0, 86400)
