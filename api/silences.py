"""``/api/alerts/silences``: muting the notifications of matching alerts for a while.

A silence (:class:`~collector.alerts.silences.Silence`) changes no alert's state; it only keeps matching
alerts from being notified between ``starts_at`` and ``ends_at``. Viewers read silences, filtered by state:
``pending`` (starts later), ``active`` (in force now) or ``expired`` (over). Operators create, replace and
expire them; ``created_by`` is always the caller who created the silence, never taken from the body.

Times are given as RFC 3339 or Unix seconds and answered as Unix seconds. ``ends_at`` must be after
``starts_at``, in the future, and at most ``alerts.max_silence_s`` after ``starts_at`` (for every role); at
least one matcher must select something (a silence never mutes every alert by accident). ``DELETE`` does not
delete: it expires the silence now and answers 204, so the silence stays listed as expired (one that had not
started yet is removed, as it never applied). Every change is announced to the engine, which reloads at once.

Per-server grants (:func:`~collector.alerts.silences.confined_servers`): a silence is *confined* when a
``server_id="…"`` matcher (or ``server_id=~"…|…"`` of plain server ids) limits it to some servers. A
non-admin may create a silence only when it is confined to servers granted to them, and may replace or
expire only such a silence, whoever created it; a silence that may mute any server is an admin's to change.
A non-admin sees the silences that are not confined and those confined to at least one server granted to
them; ``editable`` says whether the caller may change a silence.
"""

from __future__ import annotations

from typing import Final, Literal
from uuid import UUID, uuid4

from aiohttp import web
from pydantic import BaseModel, Field, ValidationError

from api.alert_rules import nul_paths
from api.alerts import ID_PATTERN, announce
from api.auth.authz import allowed_servers, require_principal
from api.errors import ApiError
from api.keys import SETTINGS, SILENCE_CLOCK, STORES
from api.monitoring import Instant
from api.openapi import ApiRoutes, BodyModel, QueryModel, body_of, query_of
from collector.alerts import silence_store
from collector.alerts.model import SERVER_ID, AlertMatcher, SystemClock
from collector.alerts.silences import Silence, confined_servers
from collector.matchers import Matcher

SilenceState = Literal["pending", "active", "expired"]
MAX_MATCHERS: Final = 64
MAX_COMMENT_CHARS: Final = 2048


class SilenceQuery(QueryModel):
    """Filter of ``GET /api/alerts/silences``."""

    state: SilenceState | None = Field(None, description="pending: starts later; active: now; expired: over")


class SilenceBody(BodyModel):
    """A silence to create, or to replace one with."""

    matchers: list[AlertMatcher] = Field(
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
    editable: bool = Field(description="whether the caller may replace or expire this silence")


class SilenceList(BaseModel):
    """Silences, latest end first."""

    items: list[SilenceOut]


def silence_state(silence: Silence, now: float) -> SilenceState:
    """Whether ``silence`` is pending, active or expired at ``now``."""
    if now < silence.starts_at:
        return "pending"
    return "active" if silence.active_at(now) else "expired"


def _out(silence: Silence, now: float, granted: set[str] | None) -> SilenceOut:
    return SilenceOut(
        id=silence.id,
        matchers=list(silence.matchers),
        starts_at=silence.starts_at,
        ends_at=silence.ends_at,
        created_by=silence.created_by,
        comment=silence.comment,
        state=silence_state(silence, now),
        editable=_may_change(silence, granted),
    )


async def _granted(request: web.Request) -> set[str] | None:
    """The ids of the servers granted to the caller, as ``server_id`` label values; None for an admin."""
    allowed = await allowed_servers(request)
    return None if allowed is None else {str(server_id) for server_id in allowed}


def _may_change(silence: Silence, granted: set[str] | None) -> bool:
    if granted is None:
        return True
    confined = confined_servers(silence.matchers)
    return confined is not None and confined <= granted


def _may_see(silence: Silence, granted: set[str] | None) -> bool:
    # A silence that may mute any server mutes the caller's servers too, so it is theirs to know about.
    if granted is None:
        return True
    confined = confined_servers(silence.matchers)
    return confined is None or not confined.isdisjoint(granted)


def _check_confined(body: SilenceBody, granted: set[str] | None) -> None:
    """A 403 unless a non-admin's silence is confined to servers granted to them."""
    if granted is None:
        return
    confined = confined_servers(body.matchers)
    if confined is None:
        raise ApiError(
            403,
            f'only admins may silence alerts of every server; add a matcher {SERVER_ID}="<server id>" '
            f'(or {SERVER_ID}=~"<id>|<id>") naming servers granted to you',
            details={"field": "matchers", "problem": f"no {SERVER_ID} matcher confines the silence"},
        )
    refused = sorted(confined - granted)
    if refused:
        raise ApiError(
            403,
            f"you have no access to server {', '.join(refused)}; "
            "a silence may name only servers granted to you",
            details={"field": "matchers", "server_ids": refused},
        )


def _check_may_change(silence: Silence, granted: set[str] | None) -> None:
    if not _may_change(silence, granted):
        raise ApiError(
            403,
            "this silence is not confined to servers granted to you; only an admin may change it",
            details={"silence_id": str(silence.id), "created_by": silence.created_by},
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
    body: SilenceBody,
    *,
    silence_id: UUID,
    created_by: str,
    default_start: float,
    now: float,
    max_duration_s: float,
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
    if ends_at - starts_at > max_duration_s:
        raise _invalid(
            [
                (
                    "ends_at",
                    f"the silence would last {_hours(ends_at - starts_at)}; at most {_hours(max_duration_s)} "
                    "(setting alerts.max_silence_s) is allowed: end it sooner and extend it later if needed",
                )
            ]
        )
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


def _checked(stored: Silence, granted: set[str] | None) -> tuple[Matcher, ...] | None:
    """The matchers a non-admin's permission was checked on, which must still be stored when writing."""
    return None if granted is None else stored.matchers


def _changed(silence_id: UUID) -> ApiError:
    return ApiError(409, f"silence {silence_id} was changed meanwhile; read it again and retry")


def _hours(duration_s: float) -> str:
    return f"{duration_s / 3600:g} h"


def _max_duration_s(request: web.Request) -> float:
    return request.app[SETTINGS].alerts.max_silence_s


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
    """Silences the caller may see, latest end first; all of them, or those pending, active or expired now."""
    query = query_of(request, SilenceQuery)
    now = _now(request)
    granted = await _granted(request)
    pool = request.app[STORES].pg
    if query.state in ("pending", "active"):
        silences = await silence_store.list_silences(pool, not_ended_at=now)
    else:
        silences = await silence_store.list_silences(pool)
    items = [_out(silence, now, granted) for silence in silences if _may_see(silence, granted)]
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
    """Store a new silence (answered with 201), created by the caller; a non-admin's must be confined."""
    body = body_of(request, SilenceBody)
    principal = require_principal(request)
    granted = await _granted(request)
    _check_confined(body, granted)
    now = _now(request)
    silence = _silence(
        body,
        silence_id=uuid4(),
        created_by=principal.username,
        default_start=now,
        now=now,
        max_duration_s=_max_duration_s(request),
    )
    stores = request.app[STORES]
    await silence_store.create_silence(stores.pg, silence)
    await announce(stores.redis, "silence created")
    return _out(silence, now, granted)


@routes.get(
    f"/api/alerts/silences/{{id:{ID_PATTERN}}}",
    summary="Read a silence",
    tag="alerts",
    role="viewer",
    response=SilenceOut,
    name="silences.get",
)
async def silence_get(request: web.Request) -> SilenceOut:
    """One silence; a 403 for a non-admin when it is confined to servers none of which is granted to them."""
    silence_id = _silence_id(request)
    silence = await silence_store.get_silence(request.app[STORES].pg, silence_id)
    if silence is None:
        raise ApiError(404, f"no such silence: {silence_id}")
    granted = await _granted(request)
    if not _may_see(silence, granted):
        raise ApiError(403, "this silence applies only to servers you have no access to")
    return _out(silence, _now(request), granted)


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
    """Replace the matchers, times and comment of a silence; its id and creator stay.

    A non-admin may replace only a silence confined to servers granted to them, with one that is too.
    """
    silence_id = _silence_id(request)
    body = body_of(request, SilenceBody)
    stores = request.app[STORES]
    stored = await silence_store.get_silence(stores.pg, silence_id)
    if stored is None:
        raise ApiError(404, f"no such silence: {silence_id}")
    granted = await _granted(request)
    _check_may_change(stored, granted)
    _check_confined(body, granted)
    now = _now(request)
    silence = _silence(
        body,
        silence_id=silence_id,
        created_by=stored.created_by,
        default_start=stored.starts_at,
        now=now,
        max_duration_s=_max_duration_s(request),
    )
    try:
        updated = await silence_store.update_silence(
            stores.pg, silence, if_matchers=_checked(stored, granted)
        )
    except silence_store.SilenceChangedError:
        raise _changed(silence_id) from None
    if updated is None:
        raise ApiError(404, f"no such silence: {silence_id}")
    await announce(stores.redis, "silence updated")
    return _out(updated, now, granted)


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
    """End the silence now (answered with 204); it stays listed as expired, unless it had not started.

    A non-admin may expire only a silence confined to servers granted to them.
    """
    silence_id = _silence_id(request)
    stores = request.app[STORES]
    stored = await silence_store.get_silence(stores.pg, silence_id)
    if stored is None:
        raise ApiError(404, f"no such silence: {silence_id}")
    granted = await _granted(request)
    _check_may_change(stored, granted)
    try:
        expired = await silence_store.expire_silence(
            stores.pg, silence_id, _now(request), if_matchers=_checked(stored, granted)
        )
    except silence_store.SilenceChangedError:
        raise _changed(silence_id) from None
    if expired is None:
        raise ApiError(404, f"no such silence: {silence_id}")
    await announce(stores.redis, "silence expired")
    return web.Response(status=204)
