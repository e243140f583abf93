"""Which question this is: a fixed order of rules over cue words and the slots already found.

The order settles overlaps: "why is web-1 slow" is a diagnosis even though it names a server; "when will the
disk be full" a forecast even though it names a metric; "is web-1 down" a server's status, "which servers are
down" the list of those down.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from api.ask import vocabulary as v
from api.ask.model import Intent
from api.ask.slots import cue


@dataclass(frozen=True)
class Clues:
    """What the slot readers found, as the rules need it."""

    servers: int
    metric: str | None
    threshold: bool
    period: bool
    top_n: bool


def classify(words: Sequence[str], clues: Clues) -> Intent:
    """The intent of a question, given its words (particles stripped) and its slots."""
    if not words or (cue(words, v.HELP) and not clues.metric and not clues.servers):
        return "help"
    if cue(words, v.DIAGNOSE):
        return "diagnose"
    if cue(words, v.FORECAST) and (clues.metric in (None, "disk")) and _about_filling(words, clues):
        return "disk_forecast"
    if cue(words, v.PROCESSES) and not cue(words, v.ALERTS):
        return "top_processes"
    if cue(words, v.ALERTS):
        return "alert_history" if clues.period or cue(words, v.HISTORY) else "active_alerts"
    if clues.threshold and clues.metric:
        return "threshold"
    if cue(words, v.DOWN):
        return "server_status" if clues.servers else "down_servers"
    if cue(words, v.WARNING):
        return "server_status" if clues.servers else "warning_servers"
    if clues.metric and (clues.top_n or cue(words, v.DESC) or cue(words, v.ASC)) and not clues.servers:
        return "top_n"
    if clues.metric and (clues.servers or clues.period or cue(words, v.HISTORY_STATS)):
        return "metric_history"
    if clues.servers:
        return "server_status"
    if clues.metric:
        return "top_n"
    if cue(words, v.STATUS) or cue(words, v.FLEET):
        return "fleet_status"
    return "unknown"


def _about_filling(words: Sequence[str], clues: Clues) -> bool:
    # "when" alone is not a forecast ("when did web-1 go down"); it needs the disk or a word of filling up.
    filling = ("full", "fill", "가득", "꽉", "부족", "predict", "forecast", "예측", "찰", "run")
    return clues.metric == "disk" or cue(words, filling)
