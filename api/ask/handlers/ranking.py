"""Servers ranked by a metric now (top-N), or filtered by a threshold, from the PromQL engine."""

from __future__ import annotations

from uuid import UUID

from api.ask.format import metric_name, names, rounded, value
from api.ask.metrics import METRIC_DEFS
from api.ask.model import Table
from api.ask.question import Question, Reply
from api.ask.reader import Reader
from api.ask.slots import cue
from api.ask.vocabulary import ASC

DEFAULT_TOP_N = 5


def _rows(q: Question, values: list[tuple[UUID, float]], unit: str) -> list[list[str | float | int | None]]:
    by_id = {s.id: s for s in q.fleet}
    rows: list[list[str | float | int | None]] = []
    for rank, (server_id, amount) in enumerate(values, start=1):
        server = by_id.get(server_id)
        rows.append([rank, server.name if server else str(server_id), rounded(amount), value(unit, amount)])
    return rows


def _columns(q: Question, metric: str, unit: str) -> list[str]:
    shown = metric_name(metric, q.language) + (f" ({unit})" if unit else "")
    return ["#", q.say("server", "서버"), shown, q.say("shown", "표시")]


async def _current(q: Question, reader: Reader, metric: str) -> dict[UUID, float]:
    return await reader.instant(METRIC_DEFS[metric].expr(""), q.now_s)


async def top_n(q: Question, reader: Reader) -> Reply:
    """The N servers highest (or lowest) in the metric now."""
    metric = q.entities.metric or "cpu"
    q.entities.metric = metric
    unit = METRIC_DEFS[metric].unit
    count = q.entities.top_n or DEFAULT_TOP_N
    ascending = cue(q.words, ASC)
    q.entities.top_n, q.entities.order = count, "asc" if ascending else "desc"
    current = await _current(q, reader, metric)
    ranked = sorted(current.items(), key=lambda kv: (kv[1] if ascending else -kv[1], str(kv[0])))[:count]
    name = metric_name(metric, q.language)
    if not ranked:
        return Reply(
            q.say(f"No server reports {name} now.", f"지금 {name} 값을 보내는 서버가 없습니다."),
            suggestions=[q.say("fleet status", "전체 서버 상태")],
        )
    listing = ", ".join(f"{row[1]} {row[3]}" for row in _rows(q, ranked, unit))
    text = q.say(
        f"{'Lowest' if ascending else 'Highest'} {name} now "
        f"({len(ranked)} of {len(current)} servers): {listing}.",
        f"지금 {name} {'낮은' if ascending else '높은'} 서버 {len(ranked)}대 "
        f"(전체 {len(current)}대 중): {listing}.",
    )
    table = Table(
        title=q.say(f"Top {len(ranked)} by {name}", f"{name} 상위 {len(ranked)}대"),
        columns=_columns(q, metric, unit),
        rows=_rows(q, ranked, unit),
    )
    first = _rows(q, ranked[:1], unit)[0][1]
    return Reply(
        text,
        [table],
        [
            q.say(f"{name} of {first} over the last hour", f"{first} 지난 1시간 {name}"),
            q.say(f"why is {first} slow?", f"{first} 왜 느려?"),
        ],
    )


async def threshold(q: Question, reader: Reader) -> Reply:
    """The servers whose metric is above (or below) the threshold now."""
    metric = q.entities.metric or "cpu"
    limit = q.entities.threshold or 0.0
    below = q.entities.comparison == "below"
    unit = METRIC_DEFS[metric].unit
    current = await _current(q, reader, metric)
    hits = sorted(
        ((sid, v) for sid, v in current.items() if (v <= limit if below else v >= limit)),
        key=lambda kv: (kv[1] if below else -kv[1], str(kv[0])),
    )
    name = metric_name(metric, q.language)
    bound = value(unit, limit)
    side_en, side_ko = ("at or below", "이하") if below else ("at or above", "이상")
    if not hits:
        return Reply(
            q.say(
                f"No server has {name} {side_en} {bound} now ({len(current)} servers checked).",
                f"지금 {name} {bound} {side_ko}인 서버가 없습니다 ({len(current)}대 확인).",
            ),
            suggestions=[q.say(f"top 5 servers by {name}", f"{name} 상위 5개")],
        )
    rows = _rows(q, hits, unit)
    listed = [f"{row[1]} {row[3]}" for row in rows]
    text = q.say(
        f"{len(hits)} of {len(current)} servers have {name} {side_en} {bound}: {names(listed, 'en')}.",
        f"{name} {bound} {side_ko}인 서버 {len(hits)}대 (전체 {len(current)}대 중): {names(listed, 'ko')}.",
    )
    table = Table(
        title=q.say(f"{name} {side_en} {bound}", f"{name} {bound} {side_ko}"),
        columns=_columns(q, metric, unit),
        rows=rows,
    )
    return Reply(text, [table], [q.say(f"why is {rows[0][1]} slow?", f"{rows[0][1]} 왜 느려?")])
