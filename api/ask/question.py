"""A question as the handlers see it, and what a handler answers."""

from __future__ import annotations

from dataclasses import dataclass, field

from api.ask.model import Chart, Entities, Intent, Language, Table
from api.ask.registry import FleetServer
from api.ask.slots import Period


@dataclass
class Question:
    """The parsed question: its words, intent and slots, the caller's fleet and the servers it named."""

    text: str
    language: Language
    words: list[str]
    intent: Intent
    entities: Entities
    fleet: list[FleetServer]
    named: list[FleetServer]
    now_s: float
    period: Period | None = None

    def say(self, en: str, ko: str) -> str:
        """The sentence in the asker's language."""
        return ko if self.language == "ko" else en

    def by_id(self) -> dict[str, FleetServer]:
        """The fleet keyed by server id (as text)."""
        return {str(s.id): s for s in self.fleet}


@dataclass
class Reply:
    """A handler's answer: the text, the data behind it and questions to ask next."""

    answer: str
    data: list[Table | Chart] = field(default_factory=list)
    suggestions: list[str] = field(default_factory=list)
