"""``/api/alerts/channels`` and ``/api/alerts/notifications``: where alerts are sent, and what was sent.

Operators read the channels and the delivery history; only admins create, replace, delete and test channels.
A channel is answered with every secret (SMTP password, webhook header values, Slack URL) shown as ``***``;
a replacement that gives a secret as ``***`` keeps the stored one, so a form can send back what it read,
unless it also changes where the secrets go (SMTP host, port or TLS mode, webhook URL): then every secret must
be given again (422), so that a stored secret is never sent to a new destination.
The request body is the channel model itself (discriminated by ``kind``), so the document's schema is the one
the store validates against.

A change is stored and announced like a rule change; the alert engine passes the announcement on and the
notifier rereads the channels on its next tick
(:meth:`~collector.alerts.notify.notifier.Notifier.request_reload`). The test action sends one synthetic
notification now, in one attempt, through a session of its own, and reports a failed delivery as
``ok: false`` with the error (any secret the receiver echoed blanked by the sender), never as a server
error.
"""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

import asyncpg
from aiohttp import web
from pydantic import BaseModel, Field, PlainSerializer, RootModel

from api.alerts import announce
from api.errors import ApiError
from api.keys import STORES
from api.openapi import ApiRoutes, QueryModel, body_of, query_of
from collector.alerts.notify import store
from collector.alerts.notify.channels import (
    ChannelConfig,
    StoredChannel,
    redact_channel,
    reveal_channel,
)
from collector.alerts.notify.delivery import Sender, new_http_session
from collector.alerts.notify.notifier import send_test

MAX_PAGE = 1000
"""The most notifications one page may hold."""


class ChannelBody(RootModel[Annotated[ChannelConfig, Field(discriminator="kind")]]):
    """A whole channel: e-mail, webhook or Slack, told apart by ``kind``; ``***`` keeps a stored secret."""


# A lambda, not redact_channel itself: a serializer without a return annotation leaves the document showing
# the channel models, which the redacted data still matches (a secret is the string "***"); with one, the
# document would only say "object".
RedactedChannel = Annotated[
    ChannelConfig,
    Field(discriminator="kind"),
    PlainSerializer(lambda channel: redact_channel(channel)),  # noqa: PLW0108
]


class ChannelOut(BaseModel):
    """A channel with its secrets shown as ``***``; ``config`` can be sent back unchanged to replace it."""

    id: UUID
    config: RedactedChannel
    created_at: float = Field(description="Unix seconds")
    updated_at: float = Field(description="Unix seconds")


class ChannelList(BaseModel):
    """Every channel, by name."""

    channels: list[ChannelOut]


class ChannelTestResult(BaseModel):
    """How the test delivery went; a failure is reported here, not as an error status."""

    ok: bool
    attempts: int
    error: str | None = Field(description="the failure, without the channel's secrets; null on success")


class NotificationPage(QueryModel):
    """Filter and paging of the delivery history."""

    channel_id: UUID | None = Field(None, description="only this channel's notifications")
    limit: int = Field(100, ge=1, le=MAX_PAGE)
    offset: int = Field(0, ge=0, le=1_000_000)


class NotificationOut(BaseModel):
    """One delivery: which group of alerts went to which channel, and how it ended."""

    id: int
    at: float = Field(description="Unix seconds")
    channel_id: UUID
    group_key: str
    status: Literal["firing", "resolved"]
    alerts: int
    ok: bool
    attempts: int
    error: str | None


class NotificationList(BaseModel):
    """A page of the delivery history, newest first."""

    notifications: list[NotificationOut]
    limit: int
    offset: int


routes = ApiRoutes()


def _channel_out(channel: StoredChannel) -> ChannelOut:
    return ChannelOut(
        id=channel.id,
        config=channel.config,
        created_at=channel.created_at.timestamp(),
        updated_at=channel.updated_at.timestamp(),
    )


def _channel_id(request: web.Request) -> UUID:
    raw = request.match_info["id"]
    try:
        return UUID(raw)
    except ValueError:
        raise ApiError(404, f"no such notification channel: {raw}") from None


def _nul_fields(data: object, path: str = "") -> list[str]:
    if isinstance(data, str):
        return [path] if "\x00" in data else []
    if isinstance(data, dict):
        return [f for key, value in data.items() for f in _nul_fields(value, f"{path}.{key}".lstrip("."))]
    if isinstance(data, list):
        return [f for i, value in enumerate(data) for f in _nul_fields(value, f"{path}.{i}")]
    return []


def _config(request: web.Request) -> ChannelConfig:
    config = body_of(request, ChannelBody).root
    # PostgreSQL text and jsonb cannot hold NUL: refuse it as input instead of failing in the database.
    bad = _nul_fields(reveal_channel(config))
    if bad:
        raise ApiError(
            422,
            "the request body is not valid; see details",
            details=[{"field": field, "problem": "must not contain NUL characters"} for field in bad],
        )
    return config


def _secret_error(exc: ValueError) -> ApiError:
    # The store's message names the secret's field (never its value) and says to give it.
    return ApiError(422, str(exc), details=[{"field": "(body)", "problem": str(exc)}])


def _taken(exc: store.ChannelExistsError) -> ApiError:
    return ApiError(
        409, f"{exc}; choose another name or edit that channel", details={"field": "name", "name": exc.name}
    )


async def _stored(pool: asyncpg.Pool, channel_id: UUID) -> StoredChannel:
    channel = await store.get_channel(pool, channel_id)
    if channel is None:
        raise ApiError(404, f"no such notification channel: {channel_id}")
    return channel


@routes.get(
    "/api/alerts/channels",
    summary="List notification channels",
    tag="alerts",
    role="operator",
    response=ChannelList,
    name="channels.list",
)
async def channels_list(request: web.Request) -> ChannelList:
    """Every notification channel, by name, with secrets shown as ``***``."""
    channels = await store.list_channels(request.app[STORES].pg)
    return ChannelList(channels=[_channel_out(channel) for channel in channels])


@routes.post(
    "/api/alerts/channels",
    summary="Create a notification channel",
    tag="alerts",
    role="admin",
    body=ChannelBody,
    response=ChannelOut,
    status=201,
    name="channels.create",
)
async def channel_create(request: web.Request) -> ChannelOut:
    """Store a new channel (answered with 201); its name must be free, and every secret given."""
    config = _config(request)
    try:
        channel = await store.create_channel(request.app[STORES].pg, config)
    except store.ChannelExistsError as exc:
        raise _taken(exc) from None
    except ValueError as exc:
        raise _secret_error(exc) from None
    await announce(request.app[STORES].redis, "channel created")
    return _channel_out(channel)


@routes.get(
    "/api/alerts/channels/{id}",
    summary="Read a notification channel",
    tag="alerts",
    role="operator",
    response=ChannelOut,
    name="channels.get",
)
async def channel_get(request: web.Request) -> ChannelOut:
    """One channel, with secrets shown as ``***``."""
    return _channel_out(await _stored(request.app[STORES].pg, _channel_id(request)))


@routes.route(
    "PUT",
    "/api/alerts/channels/{id}",
    summary="Replace a notification channel",
    tag="alerts",
    role="admin",
    body=ChannelBody,
    response=ChannelOut,
    name="channels.update",
)
async def channel_update(request: web.Request) -> ChannelOut:
    """Replace the whole channel; a secret given as ``***`` keeps the stored value."""
    channel_id = _channel_id(request)
    config = _config(request)
    try:
        channel = await store.update_channel(request.app[STORES].pg, channel_id, config)
    except store.ChannelExistsError as exc:
        raise _taken(exc) from None
    except ValueError as exc:
        raise _secret_error(exc) from None
    if channel is None:
        raise ApiError(404, f"no such notification channel: {channel_id}")
    await announce(request.app[STORES].redis, "channel updated")
    return _channel_out(channel)


@routes.route(
    "DELETE",
    "/api/alerts/channels/{id}",
    summary="Delete a notification channel",
    tag="alerts",
    role="admin",
    status=204,
    name="channels.delete",
)
async def channel_delete(request: web.Request) -> web.Response:
    """Remove the channel with its delivery history (answered with 204)."""
    channel_id = _channel_id(request)
    if not await store.delete_channel(request.app[STORES].pg, channel_id):
        raise ApiError(404, f"no such notification channel: {channel_id}")
    await announce(request.app[STORES].redis, "channel deleted")
    return web.Response(status=204)


@routes.post(
    "/api/alerts/channels/{id}/test",
    summary="Send a test notification",
    tag="alerts",
    role="admin",
    response=ChannelTestResult,
    name="channels.test",
)
async def channel_test(request: web.Request) -> ChannelTestResult:
    """Send one synthetic notification over the channel now, in one attempt, and report how it went."""
    channel = await _stored(request.app[STORES].pg, _channel_id(request))
    config = channel.config
    async with new_http_session(timeout_s=config.timeout_s) as session:
        result = await send_test(Sender(session), config)
    return ChannelTestResult(ok=result.ok, attempts=result.attempts, error=result.error)


@routes.get(
    "/api/alerts/notifications",
    summary="List delivered notifications",
    tag="alerts",
    role="operator",
    query=NotificationPage,
    response=NotificationList,
    name="notifications.list",
)
async def notifications_list(request: web.Request) -> NotificationList:
    """The delivery history, newest first, of one channel or of all."""
    page = query_of(request, NotificationPage)
    records = await store.list_notifications(
        request.app[STORES].pg, channel_id=page.channel_id, limit=page.limit, offset=page.offset
    )
    return NotificationList(
        notifications=[
            NotificationOut(
                id=r.id,
                at=r.at.timestamp(),
                channel_id=r.channel_id,
                group_key=r.group_key,
                status=r.status,
                alerts=r.alerts,
                ok=r.ok,
                attempts=r.attempts,
                error=r.error,
            )
            for r in records
        ],
        limit=page.limit,
        offset=page.offset,
    )
