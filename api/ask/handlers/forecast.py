"""When the root filesystem fills up: ``predict_linear`` and ``deriv`` over recent hours of free bytes."""

from __future__ import annotations

from uuid import UUID

from api.ask.format import duration, names, rounded, size
from api.ask.metrics import disk_bytes, disk_forecast, disk_trend, server_matchers
from api.ask.model import Table
from api.ask.question import Question, Reply
from api.ask.reader import Reader

LOOKBACK = "6h"
HORIZON_S = 86400
MAX_ROWS = 20


def _eta_s(free: float, per_s: float) -> float | None:
    return free / -per_s if per_s < 0 and free > 0 else None


async def disk_forecast_answer(q: Question, reader: Reader) -> Reply:
    """Free space, its trend per day, the free space predicted a day ahead and the time left until full."""
    q.entities.metric = "disk"
    m = server_matchers(q.named)
    free = await reader.instant(disk_bytes(m, "avail"), q.now_s)
    total = await reader.instant(disk_bytes(m, "size"), q.now_s)
    trend = await reader.instant(disk_trend(m, LOOKBACK), q.now_s)
    ahead = await reader.instant(disk_forecast(m, LOOKBACK, HORIZON_S), q.now_s)
    if not free:
        return Reply(
            q.say(
                "No server reports free space of / (node_filesystem_avail_bytes).",
                "/ 파일시스템 여유 공간(node_filesystem_avail_bytes)을 보내는 서버가 없습니다.",
            ),
            suggestions=[q.say("top 5 servers by disk", "디스크 상위 5개")],
        )
    by_id = {s.id: s for s in q.fleet}

    def eta(sid: UUID) -> float:
        found = _eta_s(free[sid], trend.get(sid, 0.0))
        return found if found is not None else float("inf")

    ordered = sorted(free, key=lambda sid: (eta(sid), str(sid)))[:MAX_ROWS]
    rows: list[list[str | float | int | None]] = []
    filling: list[str] = []
    for sid in ordered:
        server = by_id.get(sid)
        label = server.name if server else str(sid)
        left = _eta_s(free[sid], trend.get(sid, 0.0))
        used = 100 * (1 - free[sid] / total[sid]) if total.get(sid) else None
        rows.append(
            [
                label,
                size(free[sid]),
                rounded(used),
                size(trend[sid] * 86400) if sid in trend else None,
                size(max(ahead[sid], 0.0)) if sid in ahead else None,
                duration(round(left / 3600) * 3600 or 60, q.language) if left is not None else None,
            ]
        )
        if left is not None:
            filling.append(f"{label} ({rows[-1][5]})")
    if filling:
        text = q.say(
            f"At the trend of the last {LOOKBACK}, / fills up on: {names(filling, 'en')}.",
            f"최근 {LOOKBACK} 추세라면 / 가 가득 차는 서버: {names(filling, 'ko')}.",
        )
    else:
        text = q.say(
            f"No root filesystem is filling up over the last {LOOKBACK} ({len(free)} servers checked).",
            f"최근 {LOOKBACK} 동안 / 사용량이 늘고 있는 서버가 없습니다 ({len(free)}대 확인).",
        )
    columns = q.say(
        "server|free|used %|change per day|free in 24h|full in",
        "서버|여유|사용 %|하루 변화|24시간 후 여유|가득 참까지",
    ).split("|")
    table = Table(title=q.say("Disk forecast (/)", "디스크 예측 (/)"), columns=columns, rows=rows)
    return Reply(text, [table], [q.say("top 5 servers by disk", "디스크 상위 5개")])
