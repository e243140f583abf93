"""Alerts from the alert store: the active ones, or the history of a period."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from api.ask.format import duration, names, timestamp
from api.ask.model import Table
from api.ask.question import Question, Reply
from api.ask.reader import Reader
from collector.alerts.alert_store import AlertRecord, list_alerts

MAX_ROWS = 50
DEFAULT_HISTORY_S = 86400
_SEVERITY_KO = {"critical": "심각", "warning": "경고", "info": "정보"}
_STATE_KO = {"firing": "발생 중", "pending": "대기", "resolved": "해소"}
ACTIVE_SQL = (
    "SELECT … FROM alerts WHERE state <> 'resolved' AND server_id = ANY($granted) ORDER BY timestamp DESC"
)
HISTORY_SQL = (
    "SELECT … FROM alerts WHERE timestamp >= $since AND timestamp < $until AND server_id = ANY($granted)"
)


def _table(q: Question, alerts: list[AlertRecord], title: str) -> Table:
    by_id = q.by_id()
    rows: list[list[str | float | int | None]] = []
    for alert in alerts:
        server = by_id.get(str(alert.server_id)) if alert.server_id else None
        rows.append(
            [
                server.name if server else (alert.labels.get("instance") or ""),
                alert.title,
                alert.severity if q.language == "en" else _SEVERITY_KO.get(alert.severity, alert.severity),
                alert.state if q.language == "en" else _STATE_KO.get(alert.state, alert.state),
                alert.value,
                timestamp(alert.started_at.timestamp() if alert.started_at else alert.timestamp.timestamp()),
            ]
        )
    columns = q.say("server|alert|severity|state|value|since", "서버|알림|심각도|상태|값|시작").split("|")
    return Table(title=title, columns=columns, rows=rows)


async def active_alerts(q: Question, reader: Reader) -> Reply:
    """Alerts pending or firing now (of the named servers when the question names some)."""
    reader.note(ACTIVE_SQL)
    allowed = _scope(q, reader)
    alerts, total = await list_alerts(
        reader.env.stores.pg, state="active", allowed_servers=allowed, limit=MAX_ROWS
    )
    if not alerts:
        return Reply(
            q.say("No alert is active.", "현재 발생 중인 알림이 없습니다."),
            suggestions=[q.say("alerts in the last 24h", "지난 24시간 알림 이력")],
        )
    critical = sum(1 for a in alerts if a.severity == "critical")
    titles = [f"{a.title}" for a in alerts]
    text = q.say(
        f"{total} active alert{'s' if total != 1 else ''} ({critical} critical): {names(titles, 'en', 5)}.",
        f"현재 알림 {total}건 (심각 {critical}건): {names(titles, 'ko', 5)}.",
    )
    return Reply(
        text,
        [_table(q, alerts, q.say("Active alerts", "현재 알림"))],
        [
            q.say("alerts in the last 24h", "지난 24시간 알림 이력"),
            q.say("which servers are down?", "다운된 서버"),
        ],
    )


async def alert_history(q: Question, reader: Reader) -> Reply:
    """Alerts that changed within the period (the last 24 hours unless the question says)."""
    reader.note(HISTORY_SQL)
    length_s = q.period.length_s if q.period else DEFAULT_HISTORY_S
    end_s = q.period.end_s if q.period and q.period.end_s is not None else q.now_s
    q.entities.period_s = length_s
    alerts, total = await list_alerts(
        reader.env.stores.pg,
        allowed_servers=_scope(q, reader),
        since=datetime.fromtimestamp(end_s - length_s, UTC),
        until=datetime.fromtimestamp(end_s, UTC),
        limit=MAX_ROWS,
    )
    span = duration(length_s, q.language)
    if not alerts:
        return Reply(
            q.say(f"No alert in the last {span}.", f"최근 {span} 동안 알림이 없습니다."),
            suggestions=[q.say("active alerts", "현재 알림")],
        )
    firing = sum(1 for a in alerts if a.state != "resolved")
    text = q.say(
        f"{total} alert{'s' if total != 1 else ''} in the last {span}, {firing} still active.",
        f"최근 {span} 동안 알림 {total}건, 그중 {firing}건은 아직 발생 중입니다.",
    )
    return Reply(text, [_table(q, alerts, q.say(f"Alerts, last {span}", f"최근 {span} 알림"))])


def _scope(q: Question, reader: Reader) -> set[UUID] | None:
    # Named servers narrow the caller's grants, never widen them.
    if not q.named:
        return reader.allowed
    named = {s.id for s in q.named}
    return named if reader.allowed is None else named & reader.allowed
