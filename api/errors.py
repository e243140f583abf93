"""One JSON error shape for every failure: ``{"error": {"code", "message", "details"}}``.

Handlers raise :class:`ApiError` (or aiohttp's HTTP exceptions); the middleware here turns either into that
shape. Anything else is logged with its traceback and answered with a bare 500 that reveals nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler

log = structlog.get_logger(__name__)

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "too_many_requests",
    503: "unavailable",
}


class ApiError(Exception):
    """An error for the client: HTTP status, a stable machine code, a message that says what to do."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        details: object = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code or _CODES.get(status, "error")
        self.message = message
        self.details = details
        self.headers = dict(headers or {})


CLIENT_GONE = 499
"""Status recorded when the client went away before the answer (nginx's convention)."""


@dataclass
class Answered:
    """What a handler answered, as :func:`call_noting` saw it: the status, and the error code of an
    :class:`ApiError`. :data:`CLIENT_GONE` until it answers."""

    status: int = CLIENT_GONE
    code: str | None = None


async def call_noting(handler: Handler, request: web.Request, answered: Answered) -> web.StreamResponse:
    """Call ``handler``, noting in ``answered`` the status it answered or failed with (500 for anything but
    an :class:`ApiError` or an HTTP exception); for middlewares that record every outcome."""
    try:
        response = await handler(request)
    except ApiError as exc:
        answered.status, answered.code = exc.status, exc.code
        raise
    except web.HTTPException as exc:
        answered.status = exc.status
        raise
    except Exception:
        answered.status = 500
        raise
    answered.status = response.status
    return response


def error_response(error: ApiError) -> web.Response:
    """The JSON response for ``error``."""
    body = {"error": {"code": error.code, "message": error.message, "details": error.details}}
    return web.json_response(body, status=error.status, headers=error.headers)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer every failure in the one error shape; never leak a traceback."""
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        message = exc.reason if exc.status != 404 else f"no such resource: {request.path}"
        headers = {k: v for k, v in exc.headers.items() if k in ("Allow", "Retry-After", "WWW-Authenticate")}
        return error_response(ApiError(exc.status, message, headers=headers))
    except Exception:
        log.exception("unhandled error", method=request.method, path=request.path)
        return error_response(
            ApiError(500, "internal error; the server log has the details", code="internal")
        )
