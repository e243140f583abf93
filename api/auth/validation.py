"""Reading request input into pydantic models; bad input is a 400 or 422 in the one error shape."""

from __future__ import annotations

from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from api.errors import ApiError

M = TypeVar("M", bound=BaseModel)


def _problems(exc: ValidationError) -> list[dict[str, str]]:
    # include_input=False: the rejected value may be a password.
    return [
        {"field": ".".join(str(part) for part in error["loc"]) or "(body)", "problem": error["msg"]}
        for error in exc.errors(include_input=False, include_url=False)
    ]


async def read_json(request: web.Request, model: type[M]) -> M:
    """The request body as ``model``; an empty body counts as ``{}``."""
    raw = await request.read()
    try:
        return model.model_validate_json(raw or b"{}", strict=True)
    except ValidationError as exc:
        if any(error["type"] == "json_invalid" for error in exc.errors()):
            raise ApiError(400, "the request body is not valid JSON") from None
        raise ApiError(422, "the request body is not valid; see details", details=_problems(exc)) from None


def read_query(request: web.Request, model: type[M]) -> M:
    """The query string as ``model`` (values converted from text)."""
    try:
        return model.model_validate(dict(request.query))
    except ValidationError as exc:
        raise ApiError(422, "the query string is not valid; see details", details=_problems(exc)) from None
