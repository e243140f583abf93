"""``GET /api/events``: live status changes, scrapes and alert changes as Server-Sent Events.

One :class:`Broker` per application holds the only Redis subscription (to
:data:`~collector.storage.keys.EVENTS_STATUS`, :data:`~collector.storage.keys.EVENTS_SCRAPE` and
:data:`~collector.storage.keys.EVENTS_ALERTS`) and fans each message out to the open streams whose caller may
see its server (an alert that names no server reaches admins only). Every stream has a bounded queue. A
scrape message carries the server's whole current summary, so a queued one that a newer scrape of the same
server arrives behind is replaced, not kept: a client that reads slower than a fleet's wave comes in still
gets every server's latest values. Past the bound the oldest message is dropped, so one slow browser cannot
hold the broker back or grow memory. A stream sends a ``retry:`` hint first, a comment line every
``heartbeat_s`` seconds (which keeps proxies from timing out an idle connection and finds clients that went
away), and ends when the app shuts down.

One user holds at most ``max_streams_per_user`` streams at once (``http.max_streams_per_user``, all their
sessions and API tokens together); the next is answered 429, so one account cannot hold connections without
bound.

A browser's ``EventSource`` cannot send an ``Authorization`` header, so this route alone also takes the
access token as ``?access_token=``. URLs end up in access logs and browser history, so only the short-lived
JWT access token is accepted there, never a long-lived ``om_`` API token (send that as a header).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter, OrderedDict
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Final, Literal
from uuid import UUID

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler
from pydantic import Field
from redis.asyncio import Redis

from api.auth.authz import allowed_servers, require_principal
from api.auth.middleware import auth_middleware, unauthorized
from api.auth.tokens import API_TOKEN_PREFIX
from api.errors import ApiError
from api.keys import BROKER, SETTINGS, STORES, STREAM_CONFIG
from api.openapi import ApiRoutes, QueryModel
from collector.storage.keys import EVENTS_ALERTS, EVENTS_SCRAPE, EVENTS_STATUS, channel, channel_base
from collector.storage.subscription import Subscription

log = structlog.get_logger(__name__)

EVENTS_PATH: Final = "/api/events"
EventName = Literal["status", "scrape", "alert"]
_EVENT_OF_CHANNEL: Final[dict[bytes, EventName]] = {
    EVENTS_STATUS.encode(): "status",
    EVENTS_SCRAPE.encode(): "scrape",
    EVENTS_ALERTS.encode(): "alert",
}
_STREAM_RETRY_AFTER_S = 30


@dataclass(frozen=True)
class StreamConfig:
    """How event streams behave; replaced by tests that cannot wait 15 s for a heartbeat."""

    heartbeat_s: float = 15.0
    retry_ms: int = 5000
    """The reconnection delay a browser is told to use."""
    queue_size: int = 4096
    """Messages kept per stream before the oldest is dropped (scrapes count once per server)."""
    max_age_s: float = 900.0
    """A stream ends after this long and the client reconnects: the caller is authenticated and its grants
    read when a stream opens, so this bounds how long a revoked token or a withdrawn grant keeps streaming."""
    max_streams_per_user: int = 5
    """Streams one user may hold open at once."""


@dataclass(frozen=True)
class Message:
    """One event ready to send: its SSE event name and its JSON text."""

    event: EventName
    data: str
    server_id: UUID | None


@dataclass(eq=False)
class Subscriber:
    """One open stream's view of the broker: the servers it may see and its bounded, coalescing queue."""

    allowed: frozenset[UUID] | None
    """None for every server (an admin)."""
    queue_size: int
    queue: OrderedDict[object, Message] = field(default_factory=OrderedDict)
    """Queued messages in arrival order; a scrape is keyed by its server, so a newer one replaces it."""
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    closed: bool = False
    dropped: int = 0
    coalesced: int = 0
    _serial: int = 0

    def offer(self, message: Message) -> None:
        """Queue ``message`` if this stream may see it (see the module docstring for what is replaced)."""
        if self.allowed is not None and message.server_id not in self.allowed:
            return
        key: object
        if message.event == "scrape" and message.server_id is not None:
            key = message.server_id
            if self.queue.pop(key, None) is not None:
                self.coalesced += 1
        else:
            self._serial += 1
            key = self._serial
        if len(self.queue) >= self.queue_size:
            self.queue.popitem(last=False)
            self.dropped += 1
        self.queue[key] = message
        self.wake.set()

    def take(self) -> list[Message]:
        """Everything queued, oldest first, and an empty queue."""
        messages = list(self.queue.values())
        self.queue.clear()
        return messages

    def close(self) -> None:
        """End the stream: its handler sends what is queued and returns."""
        self.closed = True
        self.wake.set()

    async def wait(self, timeout_s: float) -> None:
        """Wait until there is something to send, the stream closes or ``timeout_s`` passes."""
        if self.queue or self.closed:
            return
        self.wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.wake.wait(), timeout_s)


def parse_message(channel: bytes | str, data: bytes | str) -> Message | None:
    """The :class:`Message` of a pub/sub payload; None for an unknown channel or a non-JSON payload."""
    event = _EVENT_OF_CHANNEL.get(channel_base(channel if isinstance(channel, bytes) else channel.encode()))
    if event is None:
        return None
    try:
        doc = json.loads(data)
    except ValueError:
        return None
    if not isinstance(doc, dict):
        return None
    try:
        server_id: UUID | None = UUID(str(doc.get("server_id")))
    except ValueError:
        server_id = None
    # Re-encoded compactly, so the data is one line whatever the publisher sent.
    return Message(event, json.dumps(doc, separators=(",", ":")), server_id)


def encode_event(message: Message) -> bytes:
    """The SSE frame of ``message``."""
    return f"event: {message.event}\ndata: {message.data}\n\n".encode()


class Broker:
    """The application's one Redis subscription, fanned out to every open stream."""

    def __init__(self, redis: Redis, queue_size: int) -> None:
        self._queue_size = queue_size
        self._subscribers: set[Subscriber] = set()
        self.subscription = Subscription(
            redis,
            [channel(name, redis) for name in (EVENTS_STATUS, EVENTS_SCRAPE, EVENTS_ALERTS)],
            self._dispatch,
            what="events",
        )
        self.ready = self.subscription.ready
        """Set while the Redis subscription is active (tests wait for it before publishing)."""
        self.closed = False
        self.streams_of: Counter[UUID] = Counter()
        """Open streams by user."""

    @contextlib.contextmanager
    def stream_of(self, user_id: UUID, limit: int) -> Iterator[None]:
        """Count one stream of ``user_id`` for the ``with`` block; a 429 when the user has ``limit`` open."""
        if self.streams_of[user_id] >= limit:
            raise ApiError(
                429,
                f"{limit} event streams are open for this user already; close one, or try again later",
                code="too_many_streams",
                details={"max_streams_per_user": limit},
                headers={"Retry-After": str(_STREAM_RETRY_AFTER_S)},
            )
        self.streams_of[user_id] += 1
        try:
            yield
        finally:
            self.streams_of[user_id] -= 1
            if not self.streams_of[user_id]:
                del self.streams_of[user_id]

    @contextlib.contextmanager
    def subscribe(self, allowed: set[UUID] | None) -> Iterator[Subscriber]:
        """A subscriber for the duration of the ``with`` block."""
        subscriber = Subscriber(None if allowed is None else frozenset(allowed), self._queue_size)
        if self.closed:
            subscriber.close()
        self._subscribers.add(subscriber)
        try:
            yield subscriber
        finally:
            self._subscribers.discard(subscriber)

    def publish(self, message: Message) -> None:
        """Hand ``message`` to every subscriber that may see it."""
        for subscriber in self._subscribers:
            subscriber.offer(message)

    def close(self) -> None:
        """End every open stream and refuse new ones a lasting subscription."""
        self.closed = True
        for subscriber in self._subscribers:
            subscriber.close()

    def _dispatch(self, channel_name: bytes | str, data: bytes | str) -> None:
        message = parse_message(channel_name, data)
        if message is not None:
            self.publish(message)


class EventsQuery(QueryModel):
    """What ``GET /api/events`` takes."""

    access_token: str | None = Field(
        None,
        max_length=4096,
        description=(
            "the JWT access token, for EventSource, which cannot send headers; prefer the Authorization "
            "header where the client can send one"
        ),
    )


routes = ApiRoutes()


@routes.get(
    EVENTS_PATH,
    summary="Live status changes, scrapes and alert changes (Server-Sent Events)",
    tag="monitoring",
    role="viewer",
    query=EventsQuery,
    media_type="text/event-stream",
)
async def events_stream(request: web.Request) -> web.StreamResponse:
    """An endless ``text/event-stream``: ``status`` events when a server's status changes, ``scrape`` events
    after every scrape and ``alert`` events when an alert fires or resolves (the alert as the
    engine publishes it: fingerprint, name, state, severity, labels, title, message, times), each a JSON
    object with its ``server_id``, limited to the servers the caller may see.
    Comment lines every 15 s keep the connection alive. The stream ends after 15 minutes (browsers reconnect
    by themselves, re-checking the token and grants) and when the server shuts down. One user may hold
    ``http.max_streams_per_user`` streams at once (5 by default); the next is a 429.
    """
    allowed = await allowed_servers(request)
    config = request.app[STREAM_CONFIG]
    broker = request.app[BROKER]
    with broker.stream_of(require_principal(request).user_id, config.max_streams_per_user):
        return await _stream(request, broker, config, allowed)


async def _stream(
    request: web.Request, broker: Broker, config: StreamConfig, allowed: set[UUID] | None
) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={
            # No Cache-Control here: the security headers set no-store on every /api/ answer, which suits it.
            "Content-Type": "text/event-stream",
            # Reverse proxies (nginx) would otherwise buffer the stream and deliver it in lumps.
            "X-Accel-Buffering": "no",
        }
    )
    with broker.subscribe(allowed) as subscriber:
        await response.prepare(request)
        try:
            await response.write(f"retry: {config.retry_ms}\n: connected\n\n".encode())
            loop = asyncio.get_running_loop()
            ends_at = loop.time() + config.max_age_s
            while True:
                await subscriber.wait(min(config.heartbeat_s, max(0.0, ends_at - loop.time())))
                if subscriber.queue:
                    await response.write(b"".join(encode_event(m) for m in subscriber.take()))
                elif subscriber.closed or loop.time() >= ends_at:
                    await response.write_eof()
                    break
                else:
                    await response.write(b": heartbeat\n\n")
        except ConnectionError:
            # The client went away (aiohttp's reset error is a ConnectionResetError): nothing more to send.
            log.debug("event stream client gone")
        finally:
            if subscriber.dropped:
                log.info(
                    "slow event stream dropped messages",
                    dropped=subscriber.dropped,
                    coalesced=subscriber.coalesced,
                )
    return response


@web.middleware
async def query_token_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """On :data:`EVENTS_PATH` only, turn ``?access_token=`` into the header the auth middleware reads."""
    token = request.query.get("access_token")
    if request.path != EVENTS_PATH or token is None or "Authorization" in request.headers:
        return await handler(request)
    if token.startswith(API_TOKEN_PREFIX):
        raise unauthorized(
            "API tokens are not accepted in a URL; send them as 'Authorization: Bearer <token>'",
            invalid_token=True,
        )
    headers = request.headers.copy()
    headers["Authorization"] = f"Bearer {token}"
    return await handler(request.clone(headers=headers))


async def _broker_ctx(app: web.Application) -> AsyncIterator[None]:
    broker = Broker(app[STORES].redis, app[STREAM_CONFIG].queue_size)
    app[BROKER] = broker
    broker.subscription.start()
    yield
    broker.close()
    await broker.subscription.close()


async def _end_streams(app: web.Application) -> None:
    # on_shutdown runs before aiohttp waits for open handlers: ending the streams here lets it stop at once.
    app[BROKER].close()


def setup_events(app: web.Application) -> None:
    """Add ``GET /api/events``, its broker (in ``cleanup_ctx``, after the stores) and its token middleware.

    Call after the stores' cleanup context is appended and before :func:`api.openapi.setup_openapi`.
    """
    app[STREAM_CONFIG] = StreamConfig(max_streams_per_user=app[SETTINGS].http.max_streams_per_user)
    app.cleanup_ctx.append(_broker_ctx)
    app.on_shutdown.append(_end_streams)
    # Just before the auth middleware, which then sees the token as if it had come in the header.
    app.middlewares.insert(app.middlewares.index(auth_middleware), query_token_middleware)
    routes.register(app)
