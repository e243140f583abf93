"""A server's busiest processes at its latest scrape, from the live layer (what the exporter published)."""

from __future__ import annotations

from api.ask.format import names, rounded, size
from api.ask.model import Table
from api.ask.question import Question, Reply
from api.ask.reader import Reader
from api.ask.registry import FleetServer
from api.processes import top_processes as rank_processes
from collector.storage.live_read import latest_series

DEFAULT_COUNT = 5
LIVE_SERIES = "redis: latest scrape of {server} (openmanager_process_cpu_percent, _resident_memory_bytes)"


async def process_table(q: Question, reader: Reader, server: FleetServer, count: int) -> Table | None:
    """The server's top processes by CPU (with memory), or None when it reports none."""
    reader.note(LIVE_SERIES.format(server=server.name))
    series = await latest_series(reader.env.stores.redis, server.identity) if server.identity else []
    by_cpu, by_memory = rank_processes(series)
    chosen = by_cpu or by_memory
    if not chosen:
        return None
    rows: list[list[str | float | int | None]] = [
        [
            p.pid,
            p.name,
            rounded(p.cpu_percent),
            size(p.resident_memory_bytes) if p.resident_memory_bytes is not None else None,
        ]
        for p in chosen[:count]
    ]
    columns = q.say("pid|process|CPU %|memory", "pid|프로세스|CPU %|메모리").split("|")
    return Table(
        title=q.say(f"Top processes on {server.name}", f"{server.name} 상위 프로세스"),
        columns=columns,
        rows=rows,
    )


async def top_processes(q: Question, reader: Reader) -> Reply:
    """The top N processes by CPU of each named server."""
    if not q.named:
        return Reply(
            q.say(
                "Which server? Name one, e.g. “top processes on web-1”.",
                "어느 서버인가요? 예: “web-1 프로세스”.",
            ),
            suggestions=[q.say(f"top processes on {s.name}", f"{s.name} 프로세스") for s in q.fleet[:3]],
        )
    count = q.entities.top_n or DEFAULT_COUNT
    q.entities.top_n = count
    tables = []
    sentences = []
    for server in q.named[:3]:
        table = await process_table(q, reader, server, count)
        if table is None:
            sentences.append(
                q.say(
                    f"{server.name} reports no processes (its exporter publishes none).",
                    f"{server.name}는 프로세스 정보를 보내지 않습니다 (익스포터가 제공하지 않음).",
                )
            )
            continue
        tables.append(table)
        listed = [f"{row[1]} ({row[2]}%)" for row in table.rows]
        sentences.append(
            q.say(
                f"{server.name} by CPU: {names(listed, 'en')}.",
                f"{server.name} CPU 순: {names(listed, 'ko')}.",
            )
        )
    return Reply(
        " ".join(sentences),
        list(tables),
        [q.say(f"why is {q.named[0].name} slow?", f"{q.named[0].name} 왜 느려?")],
    )
