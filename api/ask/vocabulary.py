"""The words the parser knows: metric synonyms in Korean and English, and the cue words of each intent.

A cue matches a word of the question when the word starts with it (Korean endings vary: ``높은``, ``높아``,
``높고``), or, for Latin cues of five letters or more, when it is within one typo of it.
"""

from __future__ import annotations

METRICS: dict[str, tuple[str, ...]] = {
    "cpu": ("cpu", "cpus", "씨피유", "시피유", "processor", "프로세서", "cpu사용률", "cpu사용량", "씨퓨"),
    "memory": ("memory", "mem", "ram", "메모리", "램", "메모리사용률", "memroy", "memeory"),
    "disk": ("disk", "disks", "디스크", "용량", "storage", "스토리지", "filesystem", "파일시스템", "space"),
    "network": ("network", "net", "traffic", "네트워크", "트래픽", "bandwidth", "대역폭", "네트웍"),
    "load": ("load", "loadavg", "부하", "로드", "load1"),
    "swap": ("swap", "스왑"),
    "iowait": ("iowait", "io", "아이오", "입출력"),
}
"""Metric name → the words that name it (exact words; typos of the Latin ones are caught by similarity)."""

HELP = ("help", "도움", "도움말", "사용법", "명령", "commands", "뭘", "무엇을")
DIAGNOSE = (
    "why",
    "slow",
    "slowly",
    "sluggish",
    "laggy",
    "왜",
    "느려",
    "느린",
    "느림",
    "느리",
    "굼뜨",
    "진단",
    "diagnose",
    "troubleshoot",
    "문제야",
    "렉",
)
FORECAST = ("언제", "when", "forecast", "predict", "예측", "가득", "꽉", "full", "fill", "run", "부족", "찰")
PROCESSES = ("process", "processes", "프로세스", "ps", "procs", "먹는", "먹고", "using", "eating")
ALERTS = (
    "alert",
    "alerts",
    "알림",
    "alarm",
    "alarms",
    "알람",
    "경보",
    "firing",
    "incident",
    "incidents",
    "얼럿",
)
HISTORY = (
    "history",
    "recent",
    "yesterday",
    "이력",
    "최근",
    "지난",
    "어제",
    "기록",
    "past",
    "resolved",
    "last",
    "오늘",
    "today",
)
DOWN = (
    "down",
    "다운",
    "죽은",
    "죽었",
    "죽어",
    "꺼진",
    "꺼졌",
    "offline",
    "unreachable",
    "dead",
    "응답",
    "장애",
    "unavailable",
)
WARNING = (
    "warning",
    "warnings",
    "warn",
    "경고",
    "위험",
    "unhealthy",
    "problem",
    "problems",
    "trouble",
    "이상한",
)
STATUS = (
    "status",
    "상태",
    "어때",
    "how",
    "괜찮",
    "ok",
    "okay",
    "살아",
    "alive",
    "up",
    "health",
    "healthy",
    "overview",
    "요약",
    "summary",
    "현황",
    "fine",
    "doing",
)
FLEET = ("all", "전체", "fleet", "모든", "servers", "서버들", "everything", "전부", "다들")
DESC = (
    "highest",
    "high",
    "top",
    "most",
    "busiest",
    "max",
    "heaviest",
    "biggest",
    "높",
    "많이",
    "많은",
    "상위",
    "제일",
    "가장",
    "최고",
    "큰",
    "worst",
    "hottest",
)
ASC = ("lowest", "low", "least", "min", "idlest", "낮", "적은", "하위", "최저", "작은")
HISTORY_STATS = (
    "history",
    "추이",
    "trend",
    "변화",
    "min",
    "max",
    "avg",
    "average",
    "평균",
    "최대",
    "최소",
    "그래프",
    "graph",
    "chart",
    "over",
    "동안",
    "during",
    "추세",
    "변동",
)

CUE_WORDS = frozenset(
    HELP + DIAGNOSE + FORECAST + PROCESSES + ALERTS + HISTORY + DOWN + WARNING + STATUS + FLEET + DESC + ASC
)
"""Every cue word: never read as a misspelt metric ("processes" is not "processor")."""
