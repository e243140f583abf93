"""The ``ask`` tool: a question in Korean or English, answered by :func:`api.ask.ask` as the chat page is.

The answer (intent, entities, text, tables and series, the queries run, suggestions) comes back as data;
its tables are cut to :data:`~api.mcp.output.MAX_ROWS` rows and its series to
:data:`~api.mcp.output.MAX_POINTS` points.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from api.ask import AskEnv, ask
from api.ask.service import MAX_QUERY_CHARS
from api.mcp.context import ToolContext
from api.mcp.output import MAX_POINTS, MAX_ROWS, Answer, cap_rows
from api.mcp.spec import ToolArgs, ToolError, ToolSpec
from collector.promql.errors import PromQLError
from collector.promql.history_source import UNAVAILABLE_ERRORS


class AskArgs(ToolArgs):
    """``ask``."""

    question: Annotated[str, Field(min_length=1, max_length=MAX_QUERY_CHARS)] = Field(
        description="e.g. 'which servers are down?', 'CPU 제일 높은 서버 5개', 'why is web-1 slow?'"
    )
    language: Literal["ko", "en"] | None = Field(
        default=None, description="the answer's language; detected from the question when left out"
    )


def _cap_part(part: dict[str, Any], notes: list[str]) -> bool:
    if part.get("kind") == "table":
        part["rows"], cut = cap_rows(part["rows"], MAX_ROWS, f"rows of '{part['title']}'", notes)
        return cut
    per_line = MAX_POINTS // max(1, len(part.get("lines", [])))
    cut = False
    if len(part.get("timestamps", [])) > per_line:
        notes.append(f"'{part['title']}' cut to its last {per_line} points")
        part["timestamps"] = part["timestamps"][-per_line:]
        for line in part["lines"]:
            line["values"] = line["values"][-per_line:]
        cut = True
    return cut


async def run_ask(ctx: ToolContext, args: AskArgs) -> Answer:
    """The natural-language answer for the caller, from the servers it may see."""
    backend = ctx.backend
    env = AskEnv(backend.engine, backend.stores, backend.settings.query.max_samples)
    try:
        reply = await ask(env, ctx.principal, args.question, args.language)
    except PromQLError as exc:
        raise ToolError(f"the question's query failed: {exc}", 422) from None
    except UNAVAILABLE_ERRORS:
        raise ToolError("the history store (PostgreSQL) is not available", 503) from None
    answer = Answer(reply.model_dump(mode="json"), rows_key="data")
    for part in answer.data["data"]:
        answer.truncated = _cap_part(part, answer.notes) or answer.truncated
    return answer


ASK_TOOLS = (
    ToolSpec(
        "ask",
        "Ask about the fleet in plain Korean or English (status, down servers, top-N by a metric, a "
        "metric's history, alerts, disk-full forecast, top processes, why a server is slow). Answers with "
        "the intent understood, a text answer, its tables and series, and the queries it ran.",
        AskArgs,
        run_ask,
    ),
)
