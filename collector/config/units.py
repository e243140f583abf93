"""Durations and sizes written the way Prometheus configuration writes them (``1m30s``, ``10MB``)."""

from __future__ import annotations

import re

_DURATION = re.compile(
    r"^(?:(?P<y>\d+)y)?(?:(?P<w>\d+)w)?(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?"
    r"(?:(?P<s>\d+)s)?(?:(?P<ms>\d+)ms)?$"
)
_DURATION_UNITS_S = {"y": 365 * 86400, "w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1, "ms": 0.001}

# Prometheus reads sizes as powers of 1024 whether written KB or KiB.
_SIZE = re.compile(r"^(?P<n>\d+)(?P<unit>B|[KMGTPE]i?B)?$")
_SIZE_UNITS = {"B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40, "P": 1 << 50, "E": 1 << 60}


def parse_duration(text: str) -> float:
    """Seconds in a Prometheus duration such as ``15s``, ``1m30s`` or ``0``.

    Raises ``ValueError`` naming the accepted form when ``text`` is not one.
    """
    if text == "0":
        return 0.0
    match = _DURATION.match(text)
    if not text or match is None or not any(match.groupdict().values()):
        raise ValueError(f"not a duration: {text!r} (expected e.g. 15s, 1m30s, 2h, 500ms)")
    return float(
        sum(int(n) * _DURATION_UNITS_S[unit] for unit, n in match.groupdict().items() if n is not None)
    )


def format_duration(seconds: float) -> str:
    """The shortest Prometheus duration for ``seconds`` (the inverse of :func:`parse_duration`)."""
    if seconds == 0:
        return "0s"
    ms = round(seconds * 1000)
    out = ""
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)):
        count, ms = divmod(ms, size)
        if count:
            out += f"{count}{unit}"
    return out


def parse_size(text: str) -> int:
    """Bytes in a size such as ``10MB``, ``512KiB``, ``100B`` or ``0`` (units are powers of 1024)."""
    match = _SIZE.match(text.strip())
    if match is None:
        raise ValueError(f"not a size: {text!r} (expected e.g. 0, 512KB, 10MB, 1GiB)")
    unit = match.group("unit") or "B"
    return int(match.group("n")) * _SIZE_UNITS[unit[0]]
