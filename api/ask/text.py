"""A question as words: normalized, split, Korean particles stripped.

Korean attaches particles to the word before them (``web-1이``, ``메모리를``, ``서버에서``); a small
suffix table removes them so the word itself can be matched. Latin words glued to Korean (``cpu가``) are
split first.
"""

from __future__ import annotations

import re
import unicodedata

PARTICLES = (
    "에서는",
    "에서",
    "에게",
    "으로",
    "부터",
    "까지",
    "이랑",
    "처럼",
    "보다",
    "하고",
    "은",
    "는",
    "이",
    "가",
    "을",
    "를",
    "의",
    "에",
    "로",
    "도",
    "만",
    "와",
    "과",
    "랑",
)
"""Longest first, so ``에서`` is stripped whole rather than as ``서``."""

_WORD = re.compile(r"[0-9a-z가-힣][0-9a-z가-힣._:%-]*")
_GLUED = re.compile(r"^([0-9a-z._:%-]*[0-9a-z%])([가-힣]+)$")


def is_hangul(text: str) -> bool:
    """Whether ``text`` holds any Hangul syllable."""
    return any("가" <= ch <= "힣" for ch in text)


def normalize(text: str) -> str:
    """Lower case, full-width forms folded (NFKC), whitespace collapsed."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(folded.split())


def strip_particle(word: str) -> str:
    """``word`` without a trailing Korean particle (kept whole when nothing would remain)."""
    for particle in PARTICLES:
        if word.endswith(particle) and len(word) > len(particle):
            return word[: -len(particle)]
    return word


def words(text: str) -> list[str]:
    """The words of a normalized question, particles stripped, trailing dots and dashes dropped."""
    out: list[str] = []
    for raw in _WORD.findall(normalize(text)):
        token = raw.rstrip(".-:")
        glued = _GLUED.match(token)
        if glued:
            out.append(glued.group(1))
            tail = strip_particle(glued.group(2))
            if tail not in PARTICLES:
                out.append(tail)
        elif token:
            out.append(strip_particle(token) if is_hangul(token) else token)
    return out
