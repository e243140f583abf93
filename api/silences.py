"""``/api/alerts/silences``: muting the notifications of matching alerts for a while.

A silence (:class:`~collector.alerts.silences.Silence`) changes no alert's state; it only keeps matching
alerts from being notified between ``starts_at`` and ``ends_at``. Viewers read silences, filtered by state:
``pending`` (starts later), ``active`` (in force now) or ``expired`` (over). Operators create, replace and
expire them; ``created_by`` is always the caller who created the silence, never taken from the body.

Times are given as RFC 3339 or Unix seconds and answered as Unix seconds. ``ends_at`` must be after
``starts_at`` and in the future; at least one matcher must select something (a silence never mutes every
alert by accident). ``DELETE`` does not delete: it expires the silence now and answers 204, so the silence
stays listed as expired (one that had not started yet is removed, as it never applied). Every change is
announced to the engine, which reloads at once.
"""

from __future__ import annotations

from typing import Final, Literal
from uuid import UUID, uuid4

from aiohttp import web
from pydantic import BaseModel, Field, ValidationError

from api.alert_rules import nul_paths
from api.alerts import ID_PATTERN, announce
from api.auth.authz import require_principal
from api.errors import ApiError
from api.keys import STORES
from api.monitoring import Instant
from api.openapi import ApiRoutes, BodyModel, QueryModel, body_of, query_of
from collector.alerts import store
from collector.alerts.matchers import Matcher
from collector.alerts.model import Clock, SystemClock
from collector.alerts.silences import Silence

SilenceState = Literal["pending", "active", "expired"]
MAX_MATCHERS: Final = 64
MAX_COMMENT_CHARS: Final = 2048

SILENCE_CLOCK: web.AppKey[Clock] = web.AppKey("silences.clock")
"""Where "now" is read (the wall clock when unset): tests set a clock they move."""


class SilenceQuery(QueryModel):
    """Filter of ``GET /api/alerts/silences``."""

    state: SilenceState | None = Field(None, description="pending: starts later; active: now; expired: over")


class SilenceBody(BodyModel):
    """A silence to create, or to replace one with."""

    matchers: list[Matcher] = Field(
        min_length=1,
        max_length=MAX_MATCHERS,
        description="all must match an alert's labels; at least one must not match an empty label set",
    )
    starts_at: Instant | None = Field(None, description="default now (when replacing: the stored start)")
    ends_at: Instant = Field(description="after starts_at and in the future")
    comment: str = Field("", max_length=MAX_COMMENT_CHARS)


class SilenceOut(BaseModel):
    """One silence; times are Unix seconds."""

    id: UUID
    matchers: list[Matcher]
    starts_at: float
    ends_at: float
    created_by: str
    comment: str
    state: SilenceState


class SilenceList(BaseModel):
    """Silences, latest end first."""

    items: list[SilenceOut]


def silence_state(silence: Silence, now: float) -> SilenceState:
    """Whether ``silence`` is pending, active or expired at ``now``."""
    if now < silence.starts_at:
        return "pending"
    return "active" if silence.active_at(now) else "expired"


def _out(silence: Silence, now: float) -> SilenceOut:
    return SilenceOut(
        id=silence.id,
        matchers=list(silence.matchers),
        starts_at=silence.starts_at,
        ends_at=silence.ends_at,
        created_by=silence.created_by,
        comment=silence.comment,
        state=silence_state(silence, now),
    )


def _now(request: web.Request) -> float:
    return request.app.get(SILENCE_CLOCK, SystemClock()).now()


def _invalid(problems: list[tuple[str, str]]) -> ApiError:
    return ApiError(
        422,
        "the request body is not valid; see details",
        details=[{"field": field, "problem": problem} for field, problem in problems],
    )


def _silence(
    body: SilenceBody, *, silence_id: UUID, created_by: str, default_start: float, now: float
) -> Silence:
    """The silence ``body`` describes; a 422 naming the field when it is not a valid one."""
    bad = nul_paths(body.model_dump(mode="json", by_alias=True))
    if bad:
        fields = [".".join(str(part) for part in loc) for loc in bad]
        raise _invalid([(field, "must not contain NUL characters") for field in fields])
    starts_at = default_start if body.starts_at is None else body.starts_at.timestamp()
    ends_at = body.ends_at.timestamp()
    if ends_at <= starts_at:
        raise _invalid([("ends_at", "must be after starts_at")])
    if ends_at <= now:
        raise _invalid([("ends_at", "must be in the future; a silence that has ended mutes nothing")])
    try:
        return Silence(
            id=silence_id,
            matchers=tuple(body.matchers),
            starts_at=starts_at,
            ends_at=ends_at,
            created_by=created_by,
            comment=body.comment,
        )
    except ValidationError as exc:
        # The only whole-silence check left is the matchers matching everything.
        raise _invalid(
            [
                (".".join(str(part) for part in error["loc"]) or "matchers", error["msg"])
                for error in exc.errors(include_url=False, include_input=False)
            ]
        ) from None


def _silence_id(request: web.Request) -> UUID:
    raw = request.match_info["id"]
    try:
        return UUID(raw)
    except ValueError:
        raise ApiError(404, f"no such silence: {raw}") from None


routes = ApiRoutes()


@routes.get(
    "/api/alerts/silences",
    summary="List silences",
    tag="alerts",
    role="viewer",
    query=SilenceQuery,
    response=SilenceList,
    name="silences.list",
)
async def silences_list(request: web.Request) -> SilenceList:
    """Silences, latest end first; all of them, or those pending, active or expired now."""
    query = query_of(request, SilenceQuery)
    now = _now(request)
    pool = request.app[STORES].pg
    if query.state in ("pending", "active"):
        silences = await store.list_silences(pool, not_ended_at=now)
    else:
        silences = await store.list_silences(pool)
    items = [_out(silence, now) for silence in silences]
    return SilenceList(items=[item for item in items if query.state in (None, item.state)])


@routes.post(
    "/api/alerts/silences",
    summary="Create a silence",
    tag="alerts",
    role="operator",
    body=SilenceBody,
    response=SilenceOut,
    status=201,
    name="silences.create",
)
async def silence_create(request: web.Request) -> SilenceOut:
    """Store a new silence (answered with 201), created by the caller."""
    body = body_of(request, SilenceBody)
    principal = require_principal(request)
    now = _now(request)
    silence = _silence(body, silence_id=uuid4(), created_by=principal.username, default_start=now, now=now)
    stores = request.app[STORES]
    await store.create_silence(stores.pg, silence)
    await announce(stores.redis, "silence created")
    return _out(silence, now)


@routes.get(
    f"/api/alerts/silences/{{id:{ID_PATTERN}}}",
    summary="Read a silence",
    tag="alerts",
    role="viewer",
    response=SilenceOut,
    name="silences.get",
)
async def silence_get(request: web.Request) -> SilenceOut:
    """One silence."""
    silence_id = _silence_id(request)
    silence = await store.get_silence(request.app[STORES].pg, silence_id)
    if silence is None:
        raise ApiError(404, f"no such silence: {silence_id}")
    return _out(silence, _now(request))


@routes.route(
    "PUT",
    f"/api/alerts/silences/{{id:{ID_PATTERN}}}",
    summary="Replace a silence",
    tag="alerts",
    role="operator",
    body=SilenceBody,
    response=SilenceOut,
    name="silences.update",
)
async def silence_update(request: web.Request) -> SilenceOut:
    """Replace the matchers, times and comment of a silence; its id and creator stay."""
    silence_id = _silence_id(request)
    body = body_of(request, SilenceBody)
    stores = request.app[STORES]
    stored = await store.get_silence(stores.pg, silence_id)
    if stored is None:
        raise ApiError(404, f"no such silence: {silence_id}")
    now = _now(request)
    silence = _silence(
        body,
        silence_id=silence_id,
        created_by=stored.created_by,
        default_start=stored.starts_at,
        now=now,
    )
    updated = await store.update_silence(stores.pg, silence)
    if updated is None:
        raise ApiError(404, f"no such silence: {silence_id}")
    await announce(stores.redis, "silence updated")
    return _out(updated, now)


@routes.route(
    "DELETE",
    f"/api/alerts/silences/{{id:{ID_PATTERN}}}",
    summary="Expire a silence",
    tag="alerts",
    role="operator",
    status=204,
    name="silences.expire",
)
async def silence_expire(request: web.Request) -> web.Response:
    """End the silence now (answered with 204); it stays listed as expired, unless it had not started."""
    silence_id = _silence_id(request)
    stores = request.app[STORES]
    if await store.expire_silence(stores.pg, silence_id, _now(request)) is None:
        raise ApiError(404, f"no such silence: {silence_id}")
    await announce(stores.redis, "silence expired")
    return web.Response(status=204)
