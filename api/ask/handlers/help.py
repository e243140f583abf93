"""Help, and the honest answer to a question not understood: what can be asked, with examples."""

from __future__ import annotations

from api.ask.question import Question, Reply
from api.ask.reader import Reader

EXAMPLES_EN = (
    "fleet status",
    "which servers are down?",
    "top 5 servers by CPU",
    "servers with memory above 80%",
    "cpu of web-1 over the last hour",
    "active alerts",
    "alerts yesterday",
    "when will the disk of db-1 be full?",
    "top processes on web-1",
    "why is web-1 slow?",
)
EXAMPLES_KO = (
    "전체 서버 상태",
    "다운된 서버 있어?",
    "CPU 제일 높은 서버 5개",
    "메모리 80% 이상인 서버",
    "web-1 지난 1시간 CPU",
    "현재 알림",
    "어제 알림 이력",
    "db-1 디스크 언제 가득 차?",
    "web-1 프로세스 상위 5개",
    "web-1 왜 느려?",
)


def suggestions(q: Question, count: int = 4) -> list[str]:
    """Example questions in the asker's language, using a real server name when there is one."""
    examples: tuple[str, ...] = EXAMPLES_KO if q.language == "ko" else EXAMPLES_EN
    if q.fleet:
        examples = tuple(
            e.replace("web-1", q.fleet[0].name).replace("db-1", q.fleet[-1].name) for e in examples
        )
    return list(examples[:count]) if count < len(examples) else list(examples)


async def help_answer(q: Question, reader: Reader) -> Reply:
    """What can be asked."""
    del reader
    text = q.say(
        "Ask about the fleet's or a server's status, servers down or in warning, the top servers by a metric "
        "(CPU, memory, disk, network, load), a metric over a period, alerts, disk-full forecasts, a server's "
        "top processes, or why a server is slow.",
        "전체 또는 서버 상태, 다운·경고 서버, 지표(CPU, 메모리, 디스크, 네트워크, 부하)별 "
        "상위 서버, 기간별 지표 "
        "추이, 알림, 디스크 가득 참 예측, 서버의 상위 프로세스, 서버가 느린 이유를 물어보세요.",
    )
    return Reply(text, suggestions=suggestions(q, 10))


async def unknown(q: Question, reader: Reader) -> Reply:
    """Say the question was not understood; nothing is guessed."""
    del reader
    text = q.say(
        "I did not understand that question, so I answer nothing rather than guess. Try one of these:",
        "질문을 이해하지 못했습니다. 추측해서 답하지 않습니다. 이렇게 물어보세요:",
    )
    return Reply(text, suggestions=suggestions(q, 5))
