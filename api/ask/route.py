"""``POST /api/mcp/query``: a question in Korean or English, answered from the caller's servers.

Viewers and up may ask; answers read only the servers granted to the caller (all for an admin), exactly as
``/api/v1/query`` does. The body is small by design: the question at most 500 characters, the context
(the previous answer's entities, the browser's UTC offset) at most 8 KiB of JSON.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from aiohttp import web
from pydantic import Field, field_validator

from api.ask.model import AskAnswer
from api.ask.service import MAX_QUERY_CHARS, ask
from api.auth.authz import require_principal
from api.errors import ApiError
from api.openapi import ApiRoutes, BodyModel, body_of
from collector.promql.errors import PromQLError, QueryTimeoutError, UnavailableError

MAX_CONTEXT_BYTES = 8192

routes = ApiRoutes()


class AskRequest(BodyModel):
    """A question, its language (detected when left out) and the conversation's context."""

    query: str = Field(
        min_length=1, max_length=MAX_QUERY_CHARS, description="the question, Korean or English"
    )
    language: Literal["ko", "en"] | None = None
    context: dict[str, Any] | None = Field(
        default=None,
        description='the previous answer\'s `entities` (as `{"entities": …}`) and `utc_offset_minutes`',
    )

    @field_validator("query")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the question is empty")
        return value

    @field_validator("context")
    @classmethod
    def _small(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None and len(json.dumps(value, ensure_ascii=False).encode()) > MAX_CONTEXT_BYTES:
            raise ValueError(f"the context is larger than {MAX_CONTEXT_BYTES} bytes of JSON")
        return value


@routes.post(
    "/api/mcp/query",
    summary="Ask about the fleet in Korean or English",
    tag="ask",
    role="viewer",
    body=AskRequest,
    response=AskAnswer,
)
async def query(request: web.Request) -> AskAnswer:
    """The question's intent and entities, a plain-text answer, the tables and series behind it, the PromQL
    and SQL that were run, and questions to ask next. A question not understood gets ``intent: unknown`` and
    suggestions, never a guess."""
    body = body_of(request, AskRequest)
    principal = require_principal(request)
    try:
        return await ask(request.app, principal, body.query, body.language, body.context)
    except (QueryTimeoutError, UnavailableError) as exc:
        raise ApiError(
            503, f"the answer could not be read in time: {exc}", headers={"Retry-After": "5"}
        ) from None
    except PromQLError as exc:
        raise ApiError(422, f"the answer's query failed: {exc}") from None
