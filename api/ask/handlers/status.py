"""Status questions, answered from the live layer: the fleet, one server, the servers down or in warning."""

from __future__ import annotations

from api.ask.format import names, rounded, status_name, timestamp
from api.ask.model import Table
from api.ask.question import Question, Reply
from api.ask.reader import Reader
from api.ask.registry import LIVE_READ, SERVERS_SQL, FleetServer
from api.ask.slots import cue
from api.ask.vocabulary import DOWN, WARNING

_ORDER = {"down": 0, "warning": 1, "unknown": 2, "up": 3}


def status_table(q: Question, servers: list[FleetServer], title: str) -> Table:
    """Servers with their status, headline numbers and last scrape."""
    columns = q.say(
        "server|status|CPU %|memory %|disk %|load|last scrape|error",
        "서버|상태|CPU %|메모리 %|디스크 %|부하|마지막 수집|오류",
    ).split("|")
    rows: list[list[str | float | int | None]] = [
        [
            s.name,
            status_name(s.status, q.language),
            rounded(s.summary.cpu),
            rounded(s.summary.memory),
            rounded(s.summary.disk),
            rounded(s.summary.load1),
            timestamp(s.last_scrape),
            s.last_error,
        ]
        for s in servers
    ]
    return Table(title=title, columns=columns, rows=rows)


def _read(reader: Reader) -> None:
    reader.note(SERVERS_SQL)
    reader.note(LIVE_READ)


async def fleet_status(q: Question, reader: Reader) -> Reply:
    """How many servers are up, in warning, down; the ones not up listed first."""
    _read(reader)
    if not q.fleet:
        return Reply(q.say("You can see no servers yet.", "조회할 수 있는 서버가 없습니다."))
    counts = {status: sum(1 for s in q.fleet if s.status == status) for status in _ORDER}
    ordered = sorted(q.fleet, key=lambda s: (_ORDER.get(s.status, 9), s.name))
    troubled = [s.name for s in ordered if s.status in ("down", "warning")]
    text = q.say(
        f"{len(q.fleet)} servers: {counts['up']} up, {counts['warning']} warning, {counts['down']} down"
        + (f", {counts['unknown']} not scraped yet" if counts["unknown"] else "")
        + "."
        + (f" Needing attention: {names(troubled, 'en')}." if troubled else " All fine."),
        f"서버 {len(q.fleet)}대: 정상 {counts['up']}대, 경고 {counts['warning']}대, 다운 {counts['down']}대"
        + (f", 미수집 {counts['unknown']}대" if counts["unknown"] else "")
        + "."
        + (f" 확인 필요: {names(troubled, 'ko')}." if troubled else " 모두 정상입니다."),
    )
    table = status_table(q, ordered[:100], q.say("Fleet status", "전체 서버 상태"))
    return Reply(text, [table], _next(q, troubled))


async def server_status(q: Question, reader: Reader) -> Reply:
    """The named servers' status; a yes or no first when asked whether one is down or in warning."""
    _read(reader)
    servers = q.named
    asked_down = cue(q.words, DOWN)
    asked_warning = cue(q.words, WARNING)
    sentences = []
    for s in servers:
        state = status_name(s.status, q.language)
        if asked_down or asked_warning:
            hit = s.status == "down" if asked_down else s.status == "warning"
            sentences.append(
                q.say(
                    f"{'Yes' if hit else 'No'}: {s.name} is {state}",
                    f"{'네' if hit else '아니요'}, {s.name}: {state}",
                )
            )
        else:
            sentences.append(q.say(f"{s.name} is {state}", f"{s.name}: {state}"))
        if s.status == "down" and s.last_error:
            sentences[-1] += q.say(
                f" (last scrape failed: {s.last_error})", f" (마지막 수집 실패: {s.last_error})"
            )
        elif s.status == "unknown":
            sentences[-1] += q.say(" (not scraped yet)", " (아직 수집되지 않음)")
    text = ". ".join(sentences) + "."
    table = status_table(q, servers, q.say("Server status", "서버 상태"))
    return Reply(text, [table], _next(q, [s.name for s in servers]))


async def down_servers(q: Question, reader: Reader) -> Reply:
    """The servers whose last scrape failed."""
    return _with_status(q, reader, "down")


async def warning_servers(q: Question, reader: Reader) -> Reply:
    """The servers up but past a usage threshold."""
    return _with_status(q, reader, "warning")


def _with_status(q: Question, reader: Reader, status: str) -> Reply:
    _read(reader)
    hits = [s for s in q.fleet if s.status == status]
    label = status_name(status, q.language)
    if not hits:
        text = q.say(
            f"No server is {status} ({len(q.fleet)} servers checked).",
            f"{label} 상태인 서버가 없습니다 ({len(q.fleet)}대 확인).",
        )
        return Reply(text, [], _next(q, []))
    listed = [s.name for s in hits]
    text = q.say(
        f"{len(hits)} of {len(q.fleet)} servers are {status}: {names(listed, 'en')}.",
        f"{len(q.fleet)}대 중 {len(hits)}대가 {label} 상태입니다: {names(listed, 'ko')}.",
    )
    table = status_table(q, hits, q.say(f"Servers {status}", f"{label} 서버"))
    return Reply(text, [table], _next(q, listed))


def _next(q: Question, servers: list[str]) -> list[str]:
    if servers:
        first = servers[0]
        return [
            q.say(f"why is {first} slow?", f"{first} 왜 느려?"),
            q.say(f"top processes on {first}", f"{first} 프로세스 상위 5개"),
            q.say("active alerts", "현재 알림"),
        ]
    return [q.say("top 5 servers by CPU", "CPU 제일 높은 서버 5개"), q.say("active alerts", "현재 알림")]
