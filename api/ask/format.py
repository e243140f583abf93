"""How numbers, periods and servers are written in answers, in Korean and English."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from api.ask.model import Language

METRIC_NAMES: dict[str, tuple[str, str]] = {
    "cpu": ("CPU", "CPU"),
    "memory": ("memory", "메모리"),
    "disk": ("disk", "디스크"),
    "network": ("network traffic", "네트워크 트래픽"),
    "load": ("load", "부하(load1)"),
    "swap": ("swap", "스왑"),
    "iowait": ("I/O wait", "I/O 대기"),
}
STATUS_NAMES: dict[str, str] = {"up": "정상", "down": "다운", "warning": "경고", "unknown": "미확인"}


def say(language: Language, en: str, ko: str) -> str:
    """The sentence in the asker's language."""
    return ko if language == "ko" else en


def metric_name(metric: str, language: Language) -> str:
    """A metric as the answer names it."""
    en, ko = METRIC_NAMES.get(metric, (metric, metric))
    return say(language, en, ko)


def status_name(status: str, language: Language) -> str:
    """A server status as the answer names it."""
    return STATUS_NAMES.get(status, status) if language == "ko" else status


def number(value: float, digits: int = 1) -> str:
    """A value rounded for reading (integers without decimals)."""
    if math.isnan(value) or math.isinf(value):
        return str(value)
    rounded = round(value, digits)
    return str(int(rounded)) if rounded == int(rounded) else f"{rounded:.{digits}f}"


def size(value: float) -> str:
    """Bytes in binary units: ``12.5 GiB``."""
    units = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")
    scaled = abs(value)
    index = 0
    while scaled >= 1024 and index < len(units) - 1:
        scaled /= 1024
        index += 1
    return f"{'-' if value < 0 else ''}{number(scaled)} {units[index]}"


def value(metric_unit: str, amount: float) -> str:
    """A metric's value with its unit: ``83.2%``, ``1.5 MiB/s``, ``2.1``."""
    if metric_unit == "%":
        return f"{number(amount)}%"
    if metric_unit == "B/s":
        return f"{size(amount)}/s"
    return number(amount, 2)


def rounded(amount: float | None, digits: int = 2) -> float | None:
    """A table cell: the value rounded (None stays None)."""
    if amount is None or math.isnan(amount):
        return None
    return round(amount, digits)


def duration(seconds: float, language: Language) -> str:
    """A period as people say it: ``1 hour``, ``30분``, ``7일``."""
    table = ((86400, "day", "일"), (3600, "hour", "시간"), (60, "minute", "분"), (1, "second", "초"))
    for unit_s, en, ko in table:
        if (seconds >= unit_s and seconds % unit_s == 0) or unit_s == 1:
            amount = int(seconds // unit_s)
            return say(language, f"{amount} {en}{'s' if amount != 1 else ''}", f"{amount}{ko}")
    return str(seconds)


def timestamp(unix_s: float | None) -> str:
    """A time as ``2026-03-02 10:05 UTC`` ("" when unknown)."""
    if unix_s is None:
        return ""
    return datetime.fromtimestamp(unix_s, UTC).strftime("%Y-%m-%d %H:%M UTC")


def names(items: list[str], language: Language, limit: int = 10) -> str:
    """A list of names, cut at ``limit`` with how many more there are."""
    shown = ", ".join(items[:limit])
    rest = len(items) - limit
    if rest > 0:
        shown += say(language, f" and {rest} more", f" 외 {rest}대")
    return shown
