"""Slots read from a question: metric, threshold, period, top-N; and whether it holds an intent's cues."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from rapidfuzz.distance import Levenshtein

from api.ask.text import is_hangul, normalize, strip_particle
from api.ask.vocabulary import CUE_WORDS, METRICS

_TYPO_MIN_LEN = 5
_NUMBER = r"(?<![\w.-])(\d+(?:\.\d+)?)"
_ABOVE = (
    r"(?:이상|초과|넘는|넘은|넘게|넘어|넘|보다\s*높"
    r"|over|above|more\s+than|greater\s+than|exceeds?|exceeding|>=?)"
)
_BELOW = r"(?:이하|미만|보다\s*낮|below|under|less\s+than|<=?)"
_THRESHOLD_AFTER = re.compile(rf"{_NUMBER}\s*%?\s*({_ABOVE}|{_BELOW})")
_THRESHOLD_BEFORE = re.compile(rf"({_ABOVE}|{_BELOW})\s*{_NUMBER}\s*%?")
_UNITS: Sequence[tuple[str, int]] = (
    (r"(?:초|s|secs?|seconds?)", 1),
    (r"(?:분|m|mins?|minutes?)", 60),
    (r"(?:시간|h|hrs?|hours?)", 3600),
    (r"(?:일|d|days?)", 86400),
    (r"(?:주|주일|w|weeks?)", 7 * 86400),
)
_DURATION = re.compile(r"(?<![\w-])(\d+)\s*(" + "|".join(pattern for pattern, _ in _UNITS) + r")(?![a-z])")
_PHRASES: Sequence[tuple[str, int]] = (
    (r"(?:last|past)\s+(?:an?\s+)?hour|한\s*시간", 3600),
    (r"(?:last|past)\s+(?:a\s+)?day|하루|24시간", 86400),
    (r"(?:last|past)\s+(?:a\s+)?week|일주일|지난\s*주|지난주|이번\s*주", 7 * 86400),
    (r"(?:last|past)\s+(?:a\s+)?month|한\s*달|지난\s*달", 30 * 86400),
)
_YESTERDAY = re.compile(r"yesterday|어제")
_TODAY = re.compile(r"today|오늘")
_TOP = re.compile(
    r"(?:top|상위|하위|bottom)\s*(\d+)|(\d+)\s*(?:개|대|곳|servers?|hosts?|machines?|nodes?|위)"
)
MAX_TOP_N = 50


@dataclass(frozen=True)
class Period:
    """A period ending at ``end_s`` (None: now) and ``length_s`` long."""

    length_s: int
    end_s: float | None = None


def cue(words: Iterable[str], cues: Iterable[str]) -> bool:
    """Whether a word starts with one of ``cues`` (Korean) or equals one, allowing one typo (Latin)."""
    # A Korean cue is compared without its own particle-like ending, as the question's words are.
    cue_list = [strip_particle(item) if is_hangul(item) else item for item in cues]
    for word in words:
        for item in cue_list:
            if word == item or (is_hangul(item) and word.startswith(item)):
                return True
            if len(item) >= _TYPO_MIN_LEN and not is_hangul(word) and Levenshtein.distance(word, item) <= 1:
                return True
    return False


def _jamo(text: str) -> str:
    """Hangul syllables as letters (``메모리``: ㅁㅔㅁㅗㄹㅣ), so that a typo is one letter."""
    return unicodedata.normalize("NFD", text)


def _korean_typo_of(word: str, name: str) -> bool:
    """Whether ``word`` starts with ``name`` (three syllables or more) but for one letter: ``메머리`` names
    ``메모리``."""
    return (
        len(name) >= 3
        and len(word) >= len(name)
        and Levenshtein.distance(_jamo(word[: len(name)]), _jamo(name)) <= 1
    )


def find_metric(words: Sequence[str]) -> str | None:
    """The first metric the words name (``씨피유``, ``ram``, ``트래픽`` …), typos of one letter allowed
    (``memroy``, ``메머리``)."""
    for word in words:
        for metric, names in METRICS.items():
            if word in names or any(is_hangul(name) and word.startswith(name) for name in names):
                return metric
    for word in words:
        if is_hangul(word) and word not in CUE_WORDS:
            for metric, names in METRICS.items():
                if any(is_hangul(name) and _korean_typo_of(word, name) for name in names):
                    return metric
    for word in words:
        if len(word) < 4 or is_hangul(word) or word in CUE_WORDS:
            continue
        for metric, names in METRICS.items():
            if any(len(name) >= 4 and Levenshtein.distance(word, name) <= 1 for name in names):
                return metric
            if any(len(name) >= 6 and Levenshtein.distance(word, name) <= 2 for name in names):
                return metric
    return None


def find_threshold(text: str) -> tuple[float, Literal["above", "below"]] | None:
    """``80% 이상``, ``above 80%``, ``> 80`` …: the number and the side it bounds."""
    norm = normalize(text)
    after = _THRESHOLD_AFTER.search(norm)
    if after:
        value, word = after.group(1), after.group(2)
    else:
        before = _THRESHOLD_BEFORE.search(norm)
        if not before:
            return None
        word, value = before.group(1), before.group(2)
    side: Literal["above", "below"] = "below" if re.fullmatch(_BELOW, word) else "above"
    return float(value), side


def find_period(text: str, now_s: float, utc_offset_s: int = 0) -> Period | None:
    """``지난 1시간``, ``last 24h``, ``어제``, ``today`` …: "yesterday" is the day at ``utc_offset_s``."""
    norm = normalize(text)
    local_midnight = (now_s + utc_offset_s) // 86400 * 86400 - utc_offset_s
    if _YESTERDAY.search(norm):
        return Period(86400, local_midnight)
    if _TODAY.search(norm):
        return Period(max(int(now_s - local_midnight), 60))
    match = _DURATION.search(norm)
    if match:
        amount = int(match.group(1))
        unit = next(seconds for pattern, seconds in _UNITS if re.fullmatch(pattern, match.group(2)))
        if amount > 0:
            return Period(amount * unit)
    for pattern, seconds in _PHRASES:
        if re.search(pattern, norm):
            return Period(seconds)
    return None


def find_top_n(text: str) -> int | None:
    """``top 5``, ``상위 5개``, ``3대``, ``5 servers``: how many, at most :data:`MAX_TOP_N`."""
    norm = _THRESHOLD_AFTER.sub(" ", normalize(text))
    for match in _TOP.finditer(norm):
        number = match.group(1) or match.group(2)
        start = match.start(2) if match.group(2) else match.start(1)
        # "web-1 3대" must not read the 1 of a name; "5개" must stand as its own number.
        if start > 0 and norm[start - 1] not in " \t":
            continue
        count = int(number)
        if count > 0:
            return min(count, MAX_TOP_N)
    return None
