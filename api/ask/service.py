"""``ask``: one question in, one :class:`~api.ask.model.AskAnswer` out (for the endpoint and MCP)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from api.ask.env import AskEnv, allowed_for
from api.ask.handlers import HANDLERS
from api.ask.intents import Clues, classify
from api.ask.matching import match_servers
from api.ask.model import AskAnswer, Entities, Intent, Language
from api.ask.question import Question
from api.ask.reader import Reader
from api.ask.registry import FleetServer, fleet_servers
from api.ask.slots import find_metric, find_period, find_threshold, find_top_n
from api.ask.text import is_hangul, words
from api.auth.principal import Principal

MAX_QUERY_CHARS = 500
"""Longer questions are refused: nobody phrases a monitoring question in more."""
NEEDS_A_SERVER: frozenset[Intent] = frozenset({"diagnose", "top_processes"})
"""Intents that take the previous answer's server when the question names none ("and its processes?")."""


def detect_language(query: str, language: str | None) -> Language:
    """``language`` when it is ko or en, else ko for a question with Hangul in it, en otherwise."""
    if language == "ko":
        return "ko"
    if language == "en":
        return "en"
    return "ko" if is_hangul(query) else "en"


def _context_servers(context: dict[str, Any] | None, fleet: list[FleetServer]) -> list[FleetServer]:
    # The previous answer's entities, as the chat page sends them back: only servers the caller can see.
    if not context:
        return []
    entities = context.get("entities")
    refs = entities.get("servers") if isinstance(entities, dict) else None
    if not isinstance(refs, list):
        return []
    wanted = {str(ref.get("id")) for ref in refs if isinstance(ref, dict)}
    return [s for s in fleet if str(s.id) in wanted]


def _utc_offset_s(context: dict[str, Any] | None) -> int:
    minutes = context.get("utc_offset_minutes") if context else None
    if isinstance(minutes, int) and not isinstance(minutes, bool) and abs(minutes) <= 14 * 60:
        return minutes * 60
    return 0


async def ask(
    env: AskEnv | web.Application,
    principal: Principal,
    query: str,
    language: str | None = None,
    context: dict[str, Any] | None = None,
) -> AskAnswer:
    """Answer ``query`` for ``principal``, reading only the servers it may see.

    ``language`` is ``ko`` or ``en`` (detected from the text when None). ``context`` may carry the previous
    answer's ``entities`` (a follow-up such as "its top processes" keeps its server) and
    ``utc_offset_minutes`` (what "yesterday" means). Store outages propagate as the stores raise them.
    """
    if isinstance(env, web.Application):
        env = AskEnv.from_app(env)
    text = query[:MAX_QUERY_CHARS]
    lang = detect_language(text, language)
    allowed = await allowed_for(env, principal)
    fleet = await fleet_servers(env.stores.pg, env.stores.redis, allowed)
    now_s = env.clock()
    tokens = words(text)
    metric = find_metric(tokens)
    bound = find_threshold(text)
    period = find_period(text, now_s, _utc_offset_s(context))
    top = find_top_n(text)
    refs = match_servers(tokens, fleet)
    by_id = {str(s.id): s for s in fleet}
    named = [by_id[ref.id] for ref in refs]
    intent = classify(
        tokens, Clues(len(named), metric, bound is not None, period is not None, top is not None)
    )
    if intent in NEEDS_A_SERVER and not named:
        named = _context_servers(context, fleet)
    entities = Entities(
        servers=refs,
        metric=metric,
        threshold=bound[0] if bound else None,
        comparison=bound[1] if bound else None,
        period_s=period.length_s if period else None,
        period_end_s=period.end_s if period else None,
        top_n=top,
    )
    question = Question(text, lang, tokens, intent, entities, fleet, named, now_s, period)
    reader = Reader(env, allowed)
    reply = await HANDLERS[intent](question, reader)
    return AskAnswer(
        intent=intent,
        language=lang,
        entities=question.entities,
        answer=reply.answer,
        data=reply.data,
        queries=reader.queries,
        suggestions=reply.suggestions,
    )
