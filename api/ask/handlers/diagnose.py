""" "Why is X slow": a fixed bundle of checks on one server, each a query, and what stands out.

The bundle: CPU, I/O wait, load, memory and swap, disk usage, network errors, top processes, active alerts,
and CPU, memory and load against their 7-day average. A check whose data is missing says so; no finding is
made up from a missing number.
"""

from __future__ import annotations

from dataclasses import dataclass

from api.ask.format import metric_name, number, rounded, value
from api.ask.handlers.processes import process_table
from api.ask.metrics import METRIC_DEFS, network_errors, server_matchers
from api.ask.model import Chart, Table
from api.ask.question import Question, Reply
from api.ask.reader import Reader
from api.ask.registry import FleetServer
from collector.alerts.alert_store import list_alerts

BASELINE = "7d"
BASELINE_STEP = "5m"
LIMITS = {"cpu": 85.0, "iowait": 20.0, "memory": 90.0, "swap": 50.0, "disk": 90.0}
"""At or above these a check is a finding."""
DEVIATION_RATIO = 1.5
DEVIATION_MIN = {"cpu": 10.0, "memory": 10.0, "load": 0.5}


@dataclass
class Check:
    """One check's result: the metric, its value now and its 7-day average (None when unknown)."""

    metric: str
    now: float | None
    baseline: float | None = None


async def _checks(q: Question, reader: Reader, server: FleetServer) -> list[Check]:
    m = server_matchers([server])
    checks = []
    for metric in ("cpu", "iowait", "load", "memory", "swap", "disk"):
        expr = METRIC_DEFS[metric].expr(m)
        now = (await reader.instant(expr, q.now_s)).get(server.id)
        baseline = None
        if metric in DEVIATION_MIN:
            past = await reader.instant(f"avg_over_time(({expr})[{BASELINE}:{BASELINE_STEP}])", q.now_s)
            baseline = past.get(server.id)
        checks.append(Check(metric, now, baseline))
    errors = (await reader.instant(network_errors(m), q.now_s)).get(server.id)
    checks.append(Check("network_errors", errors))
    return checks


def _findings(q: Question, checks: list[Check]) -> list[str]:
    found = []
    for check in checks:
        if check.now is None:
            continue
        name = metric_name(check.metric, q.language)
        unit = METRIC_DEFS[check.metric].unit if check.metric in METRIC_DEFS else ""
        limit = LIMITS.get(check.metric)
        if limit is not None and check.now >= limit:
            found.append(
                q.say(f"{name} is high at {value(unit, check.now)}", f"{name} 높음: {value(unit, check.now)}")
            )
        if check.metric == "network_errors" and check.now > 0:
            found.append(
                q.say(
                    f"network errors at {number(check.now, 2)}/s", f"네트워크 오류 {number(check.now, 2)}/s"
                )
            )
        base = check.baseline
        floor = DEVIATION_MIN.get(check.metric)
        if (
            base is not None
            and floor is not None
            and check.now >= base * DEVIATION_RATIO
            and check.now - base >= floor
        ):
            found.append(
                q.say(
                    f"{name} {value(unit, check.now)} is well above its 7-day average {value(unit, base)}",
                    f"{name} {value(unit, check.now)}: 7일 평균 {value(unit, base)}보다 크게 높음",
                )
            )
    return found


async def diagnose(q: Question, reader: Reader) -> Reply:
    """Run the bundle on the first named server and say what stands out."""
    if not q.named:
        troubled = [s.name for s in q.fleet if s.status in ("down", "warning")] or [
            s.name for s in q.fleet[:3]
        ]
        return Reply(
            q.say(
                "Which server? Name one, e.g. “why is web-1 slow?”.", "어느 서버인가요? 예: “web-1 왜 느려?”"
            ),
            suggestions=[q.say(f"why is {name} slow?", f"{name} 왜 느려?") for name in troubled[:3]],
        )
    server = q.named[0]
    if server.status == "down":
        return Reply(
            q.say(
                f"{server.name} is down: its last scrape failed ({server.last_error or 'no answer'}).",
                f"{server.name}는 다운 상태입니다: 마지막 수집 실패 ({server.last_error or '응답 없음'}).",
            ),
            suggestions=[q.say("active alerts", "현재 알림")],
        )
    checks = await _checks(q, reader, server)
    rows: list[list[str | float | int | None]] = []
    for check in checks:
        name = (
            metric_name(check.metric, q.language)
            if check.metric in METRIC_DEFS
            else q.say("network errors/s", "네트워크 오류/s")
        )
        limit = LIMITS.get(check.metric)
        rows.append([name, rounded(check.now), rounded(check.baseline), limit])
    tables: list[Table | Chart] = [
        Table(
            title=q.say(f"Diagnosis of {server.name}", f"{server.name} 진단"),
            columns=q.say("check|now|7-day avg|limit", "항목|현재|7일 평균|기준").split("|"),
            rows=rows,
        )
    ]
    processes = await process_table(q, reader, server, 5)
    if processes is not None:
        tables.append(processes)
    reader.note("SELECT … FROM alerts WHERE state <> 'resolved' AND server_id = $server")
    alerts, total = await list_alerts(
        reader.env.stores.pg, state="active", allowed_servers={server.id}, limit=10
    )
    problems = _findings(q, checks)
    if total:
        problems.append(
            q.say(f"{total} active alert(s): ", f"알림 {total}건: ") + ", ".join(a.title for a in alerts)
        )
    notes = []
    if processes is not None and processes.rows:
        top = processes.rows[0]
        notes.append(
            q.say(f"busiest process {top[1]} ({top[2]}% CPU)", f"CPU 최다 프로세스 {top[1]} ({top[2]}%)")
        )
    missing = [metric_name(c.metric, q.language) for c in checks if c.now is None and c.metric in METRIC_DEFS]
    lead = "; ".join(problems) if problems else q.say("nothing stands out", "특별한 이상이 보이지 않습니다")
    text = f"{server.name}: " + "; ".join([lead, *notes]) + "."
    if missing:
        text += q.say(f" No data for: {', '.join(missing)}.", f" 데이터 없음: {', '.join(missing)}.")
    return Reply(
        text,
        tables,
        [
            q.say(f"cpu of {server.name} last 24h", f"{server.name} 지난 24시간 CPU"),
            q.say(f"top processes on {server.name}", f"{server.name} 프로세스"),
        ],
    )
