"""A metric over a period for the named servers (or the fleet's top five): min, max, average, now, a chart."""

from __future__ import annotations

import math

from api.ask.format import duration, metric_name, rounded, value
from api.ask.metrics import METRIC_DEFS, server_matchers
from api.ask.model import Chart, SeriesLine, Table
from api.ask.question import Question, Reply
from api.ask.reader import Reader

DEFAULT_PERIOD_S = 3600
CHART_POINTS = 60
MAX_LINES = 5


async def metric_history(q: Question, reader: Reader) -> Reply:
    """Min, max, average and latest of the metric over the period, from one range query."""
    metric = q.entities.metric or "cpu"
    q.entities.metric = metric
    length_s = q.period.length_s if q.period else DEFAULT_PERIOD_S
    end_s = q.period.end_s if q.period and q.period.end_s is not None else q.now_s
    q.entities.period_s = length_s
    unit = METRIC_DEFS[metric].unit
    step_s = max(length_s / CHART_POINTS, 15.0)
    lines = await reader.range(
        METRIC_DEFS[metric].expr(server_matchers(q.named)), end_s - length_s, end_s, step_s
    )
    by_id = {s.id: s for s in q.fleet}
    name = metric_name(metric, q.language)
    span = duration(length_s, q.language)
    lines = [line for line in lines if line.values]
    if not lines:
        who = ", ".join(s.name for s in q.named) or q.say("any server", "어느 서버")
        return Reply(
            q.say(
                f"No {name} data for {who} in the last {span}.",
                f"{who}의 최근 {span} {name} 데이터가 없습니다.",
            ),
            suggestions=[q.say("fleet status", "전체 서버 상태")],
        )
    # Without a named server, the five highest on average stand for the fleet.
    lines.sort(key=lambda line: -sum(line.values) / len(line.values))
    lines = lines[:MAX_LINES]
    rows: list[list[str | float | int | None]] = []
    sentences = []
    for line in lines:
        server = by_id.get(line.server_id)
        label = server.name if server else str(line.server_id)
        low, high = min(line.values), max(line.values)
        mean, last = sum(line.values) / len(line.values), line.values[-1]
        rows.append([label, rounded(low), rounded(high), rounded(mean), rounded(last)])
        sentences.append(
            q.say(
                f"{label}: now {value(unit, last)}, min {value(unit, low)}, max {value(unit, high)}, "
                f"avg {value(unit, mean)}",
                f"{label}: 현재 {value(unit, last)}, 최소 {value(unit, low)}, 최대 {value(unit, high)}, "
                f"평균 {value(unit, mean)}",
            )
        )
    text = q.say(f"{name} over the last {span} — ", f"최근 {span} {name} — ") + "; ".join(sentences) + "."
    table = Table(
        title=q.say(f"{name}, last {span}", f"{name}, 최근 {span}"),
        columns=q.say("server|min|max|avg|now", "서버|최소|최대|평균|현재").split("|"),
        rows=rows,
    )
    chart = _chart(q, lines, by_id, f"{name} ({unit})" if unit else name, unit)
    first = rows[0][0]
    return Reply(
        text,
        [table, chart],
        [
            q.say(f"why is {first} slow?", f"{first} 왜 느려?"),
            q.say(f"{name} last 24h", f"{name} 지난 24시간"),
        ],
    )


def _chart(q: Question, lines: list, by_id: dict, title: str, unit: str) -> Chart:  # type: ignore[type-arg]
    stamps = sorted({t for line in lines for t in line.timestamps})
    index = {t: i for i, t in enumerate(stamps)}
    out = []
    for line in lines:
        points: list[float | None] = [None] * len(stamps)
        for t, x in zip(line.timestamps, line.values, strict=True):
            points[index[t]] = None if math.isnan(x) else round(x, 3)
        server = by_id.get(line.server_id)
        out.append(SeriesLine(label=server.name if server else str(line.server_id), values=points))
    return Chart(title=title, unit=unit, timestamps=stamps, lines=out)
