"""Servers named in a question, fuzzy-matched against every spelling the registry knows of them.

A word (or two adjacent words joined, for ``web 1``) matches a server's name, hostname, host or a label value
(Korean aliases live in labels): exactly, then with separators ignored (``web1`` = ``web-1``), then within a
few typos (``wbe-1``). The digits must agree, so ``web-2`` never stands for ``web-1``.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence

from rapidfuzz import fuzz

from api.ask.model import ServerRef
from api.ask.registry import FleetServer
from api.ask.text import is_hangul
from api.ask.vocabulary import METRICS

_SEPARATORS = re.compile(r"[-_.:\s]")
_DIGITS = re.compile(r"\d+")
_FUZZY_MIN = 80.0
_MIN_LEN = 3
_COMMON = frozenset(
    {name for names in METRICS.values() for name in names}
    | {
        "server",
        "servers",
        "서버",
        "host",
        "hosts",
        "호스트",
        "the",
        "and",
        "top",
        "show",
        "all",
        "what",
        "which",
    }
)


def _squash(text: str) -> str:
    return _SEPARATORS.sub("", text)


def _candidates(words: Sequence[str]) -> list[str]:
    grams = []
    for first, second in itertools.pairwise([*words, ""]):
        if first in _COMMON:
            continue
        grams.append(first)
        if second.isdigit():
            grams.append(f"{first}-{second}")
    return grams


def _score(word: str, spelling: str) -> float:
    if word == spelling:
        return 100.0
    if len(word) < _MIN_LEN:
        return 0.0
    if _squash(word) == _squash(spelling):
        return 99.0
    if _DIGITS.findall(word) != _DIGITS.findall(spelling):
        return 0.0
    if is_hangul(word) != is_hangul(spelling):
        return 0.0
    # A host's first label is how people say it: "db-1" for db-1.example.com.
    short = spelling.split(".", 1)[0]
    return max(fuzz.ratio(word, spelling), fuzz.ratio(word, short) - 1.0)


def match_servers(words: Sequence[str], fleet: Sequence[FleetServer]) -> list[ServerRef]:
    """The servers the words name, in the order the question names them, each server once."""
    found: dict[str, ServerRef] = {}
    for word in _candidates(words):
        best: tuple[float, FleetServer] | None = None
        for server in fleet:
            score = max((_score(word, spelling) for spelling in server.names()), default=0.0)
            if score >= _FUZZY_MIN and (best is None or score > best[0]):
                best = (score, server)
        if best is None:
            continue
        score, server = best
        key = str(server.id)
        if key not in found or found[key].score < score:
            found[key] = ServerRef(id=key, name=server.name, matched=word, score=round(score, 1))
    return list(found.values())
