"""``GET /api/events``: authentication (header and ``?access_token=``), grants, event names, heartbeats,
dropping the oldest message for a slow client, and ending the streams on shutdown.

Messages are published with the application's own Redis client on the real channels. Pub/sub channels are
shared by every database of a Redis server, so other test runs may publish too: tests use server ids of their
own and look for their messages among whatever arrives.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from api.app import create_app
from api.events import Message, Subscriber, encode_event, parse_message
from api.keys import BROKER, STORES, STREAM_CONFIG
from api.openapi import openapi_document
from collector.alerts.model import Alert, fingerprint
from collector.alerts.publisher import alert_json
from collector.config.settings import Settings
from collector.storage.keys import EVENTS_ALERTS, EVENTS_SCRAPE, EVENTS_STATUS, channel
from tests.api.auth.conftest import Client, bearer, login, make_server, make_user, session
from tests.polling import eventually

READ_TIMEOUT_S = 5.0


@dataclasses.dataclass
class Frame:
    """One SSE frame: its fields and its comment lines."""

    event: str | None = None
    data: str | None = None
    retry: str | None = None
    comments: list[str] = dataclasses.field(default_factory=list)

    def json(self) -> dict[str, Any]:
        """The data as a JSON object."""
        assert self.data is not None
        doc: dict[str, Any] = json.loads(self.data)
        return doc


async def read_frame(response: aiohttp.ClientResponse) -> Frame:
    """The next frame of the stream (waits at most :data:`READ_TIMEOUT_S`)."""
    frame = Frame()
    while True:
        line = (await asyncio.wait_for(response.content.readline(), READ_TIMEOUT_S)).decode()
        if line == "":
            raise EOFError("the stream ended")
        line = line.rstrip("\n")
        if line == "":
            return frame
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "":
            frame.comments.append(value)
        else:
            setattr(frame, name, value)


async def next_event_of(response: aiohttp.ClientResponse, server_ids: set[uuid.UUID]) -> Frame:
    """The next event frame about one of ``server_ids``, skipping comments and other runs' servers."""
    while True:
        frame = await read_frame(response)
        if frame.event is not None and uuid.UUID(frame.json()["server_id"]) in server_ids:
            return frame


@pytest.fixture
def app(settings: Settings) -> web.Application:
    return create_app(settings)


@pytest.fixture
async def client(app: web.Application) -> AsyncIterator[Client]:
    async with TestClient(TestServer(app, host="127.0.0.1")) as test_client:
        await app[STORES].redis.flushdb()
        await asyncio.wait_for(app[BROKER].ready.wait(), READ_TIMEOUT_S)
        yield test_client


@pytest.fixture
def pool(client: Client, app: web.Application) -> asyncpg.Pool:
    return app[STORES].pg


async def publish_status(app: web.Application, server_id: uuid.UUID, status: str) -> None:
    """Publish a status change shaped like the live writer's."""
    event = {"server_id": str(server_id), "status": status, "previous": "up", "ts": time.time()}
    await app[STORES].redis.publish(channel(EVENTS_STATUS, app[STORES].redis), json.dumps(event))


async def open_stream(client: Client, headers: dict[str, str] | None = None, query: str = "") -> Any:
    """GET the stream and read its first frame (the retry hint); returns the open response."""
    response = await client.get(f"/api/events{query}", headers=headers or {})
    assert response.status == 200, await response.text()
    assert response.headers["Content-Type"].startswith("text/event-stream")
    assert response.headers["Cache-Control"] == "no-store"
    first = await read_frame(response)
    assert first.retry == "5000"
    return response


async def test_anonymous_stream_is_401(client: Client) -> None:
    response = await client.get("/api/events")
    assert response.status == 401
    assert (await response.json())["error"]["code"] == "unauthorized"


@pytest.mark.parametrize("token", ["not-a-jwt", "om_" + "x" * 40])
async def test_bad_or_api_token_in_the_query_is_401(client: Client, token: str) -> None:
    response = await client.get("/api/events", params={"access_token": token})
    assert response.status == 401
    assert (await response.json())["error"]["code"] == "invalid_token"


async def test_access_token_query_opens_the_stream(
    client: Client, app: web.Application, pool: asyncpg.Pool
) -> None:
    user = await make_user(pool, "admin")
    tokens = await login(client, user)
    server = uuid.uuid4()
    async with await open_stream(client, query=f"?access_token={tokens['access_token']}") as response:
        await publish_status(app, server, "down")
        frame = await next_event_of(response, {server})
    assert frame.event == "status" and frame.json()["status"] == "down"


async def test_query_token_is_accepted_on_the_events_route_only(client: Client, pool: asyncpg.Pool) -> None:
    user = await make_user(pool, "admin")
    tokens = await login(client, user)
    response = await client.get("/api/monitoring/logs", params={"access_token": tokens["access_token"]})
    assert response.status == 401


async def test_viewer_gets_only_granted_servers_and_admin_gets_all(
    client: Client, app: web.Application, pool: asyncpg.Pool
) -> None:
    viewer, viewer_headers = await session(client, pool, "viewer")
    _, admin_headers = await session(client, pool, "admin")
    granted, other = await make_server(pool), await make_server(pool)
    await pool.execute("INSERT INTO server_grants (user_id, server_id) VALUES ($1, $2)", viewer.id, granted)
    async with (
        await open_stream(client, viewer_headers) as viewer_stream,
        await open_stream(client, admin_headers) as admin_stream,
    ):
        await publish_status(app, other, "down")
        await publish_status(app, granted, "warning")
        # Redis delivers in order: had the other server's event reached the viewer, it would come first.
        seen = await next_event_of(viewer_stream, {granted, other})
        assert uuid.UUID(seen.json()["server_id"]) == granted
        first = await next_event_of(admin_stream, {granted, other})
        second = await next_event_of(admin_stream, {granted, other})
    assert [uuid.UUID(f.json()["server_id"]) for f in (first, second)] == [other, granted]


async def test_scrape_messages_are_scrape_events(
    client: Client, app: web.Application, pool: asyncpg.Pool
) -> None:
    _, headers = await session(client, pool, "admin")
    server = uuid.uuid4()
    async with await open_stream(client, headers) as response:
        scrape = {"server_id": str(server), "ts": time.time(), "up": True, "status": "up", "summary": {}}
        await app[STORES].redis.publish(channel(EVENTS_SCRAPE, app[STORES].redis), json.dumps(scrape))
        frame = await next_event_of(response, {server})
    assert frame.event == "scrape" and frame.json()["up"] is True


def firing_alert(server_id: uuid.UUID | None) -> Alert:
    """A firing alert of ``server_id`` (None: an alert that names no server)."""
    labels = {"alertname": "HighCpu", "severity": "warning"}
    if server_id is not None:
        labels["server_id"] = str(server_id)
    return Alert(
        fingerprint=fingerprint(labels),
        rule_id="HighCpu-rule",
        server_id=server_id,
        severity="warning",
        state="firing",
        labels=labels,
        annotations={"title": "HighCpu on host", "message": "cpu is 95%"},
        value=95.0,
        active_since=time.time() - 60,
        fired_at=time.time(),
    )


async def test_alert_messages_are_alert_events_for_those_who_may_see_their_server(
    client: Client, app: web.Application, pool: asyncpg.Pool
) -> None:
    viewer, viewer_headers = await session(client, pool, "viewer")
    _, admin_headers = await session(client, pool, "admin")
    granted, other = await make_server(pool), await make_server(pool)
    await pool.execute("INSERT INTO server_grants (user_id, server_id) VALUES ($1, $2)", viewer.id, granted)
    redis = app[STORES].redis
    async with (
        await open_stream(client, viewer_headers) as viewer_stream,
        await open_stream(client, admin_headers) as admin_stream,
    ):
        # Shaped as the engine publishes them; the one without a server is an admin's only.
        await redis.publish(channel(EVENTS_ALERTS, redis), json.dumps(alert_json(firing_alert(None))))
        await redis.publish(channel(EVENTS_ALERTS, redis), json.dumps(alert_json(firing_alert(other))))
        await redis.publish(channel(EVENTS_ALERTS, redis), json.dumps(alert_json(firing_alert(granted))))
        seen = await next_event_of(viewer_stream, {granted, other})
        serverless = await read_frame(admin_stream)
        while serverless.event is None or serverless.json().get("server_id") is not None:
            serverless = await read_frame(admin_stream)
        first = await next_event_of(admin_stream, {granted, other})
        second = await next_event_of(admin_stream, {granted, other})
    assert seen.event == "alert" and uuid.UUID(seen.json()["server_id"]) == granted
    assert seen.json()["state"] == "firing" and seen.json()["title"] == "HighCpu on host"
    assert serverless.event == "alert"
    assert [(f.event, uuid.UUID(f.json()["server_id"])) for f in (first, second)] == [
        ("alert", other),
        ("alert", granted),
    ]


async def test_idle_stream_sends_heartbeat_comments(settings: Settings) -> None:
    app = create_app(settings)
    app[STREAM_CONFIG] = dataclasses.replace(app[STREAM_CONFIG], heartbeat_s=0.1)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        _, headers = await session(client, app[STORES].pg, "viewer")
        # A viewer without grants: no other run's events reach this stream, only heartbeats.
        async with await open_stream(client, headers) as response:
            frames = [await read_frame(response) for _ in range(2)]
    assert [f.comments for f in frames] == [["heartbeat"], ["heartbeat"]]


async def test_stream_ends_at_its_maximum_age(settings: Settings) -> None:
    app = create_app(settings)
    app[STREAM_CONFIG] = dataclasses.replace(app[STREAM_CONFIG], heartbeat_s=0.1, max_age_s=0.35)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        _, headers = await session(client, app[STORES].pg, "viewer")
        async with await open_stream(client, headers) as response:
            heartbeats = 0
            with pytest.raises(EOFError):
                while True:
                    heartbeats += len((await read_frame(response)).comments)
    assert 2 <= heartbeats <= 4


async def test_streams_end_when_the_server_shuts_down(settings: Settings) -> None:
    app = create_app(settings)
    server = TestServer(app, host="127.0.0.1")
    client: Client = TestClient(server)
    await client.start_server()
    try:
        _, headers = await session(client, app[STORES].pg, "viewer")
        response = await open_stream(client, headers)
        started = time.monotonic()
        await server.close()
        assert time.monotonic() - started < 5
        with pytest.raises((EOFError, aiohttp.ClientPayloadError)):
            await read_frame(response)
        response.release()
    finally:
        await client.close()


def test_slow_subscriber_drops_the_oldest_message() -> None:
    subscriber = Subscriber(allowed=None, queue_size=2)
    for n in range(3):
        subscriber.offer(Message("scrape", str(n), uuid.uuid4()))
    assert [m.data for m in subscriber.take()] == ["1", "2"]
    assert subscriber.dropped == 1 and not subscriber.queue


def test_a_newer_scrape_of_a_server_replaces_the_queued_one() -> None:
    """A wave bigger than the queue still reaches a slow reader: one latest scrape per server."""
    servers = [uuid.uuid4() for _ in range(3)]
    subscriber = Subscriber(allowed=None, queue_size=4)
    for wave in range(5):
        for server in servers:
            subscriber.offer(Message("scrape", f"{server}:{wave}", server))
    subscriber.offer(Message("status", "down", servers[0]))
    subscriber.offer(Message("alert", "firing", servers[0]))
    assert [m.data for m in subscriber.take()] == [
        f"{servers[1]}:4",
        f"{servers[2]}:4",
        "down",
        "firing",
    ], "the oldest (a scrape) dropped once the status and alert came; status and alerts never merged"
    assert subscriber.coalesced == 12 and subscriber.dropped == 1


def test_subscriber_skips_servers_it_may_not_see() -> None:
    granted = uuid.uuid4()
    subscriber = Subscriber(allowed=frozenset({granted}), queue_size=8)
    subscriber.offer(Message("status", "{}", uuid.uuid4()))
    subscriber.offer(Message("status", "{}", None))
    subscriber.offer(Message("status", "{}", granted))
    assert [m.server_id for m in subscriber.take()] == [granted]


SERVER = uuid.UUID("6f1c2a9e-0000-4000-8000-000000000001")


@pytest.mark.parametrize(
    ("channel", "data", "expected"),
    [
        (
            f"{EVENTS_STATUS}@3".encode(),
            b'{"server_id": "%s", "status": "down"}' % str(SERVER).encode(),
            Message("status", f'{{"server_id":"{SERVER}","status":"down"}}', SERVER),
        ),
        (EVENTS_SCRAPE.encode(), b'{"up": false}', Message("scrape", '{"up":false}', None)),
        (
            EVENTS_ALERTS.encode(),
            b'{"server_id": "%s", "state": "firing"}' % str(SERVER).encode(),
            Message("alert", f'{{"server_id":"{SERVER}","state":"firing"}}', SERVER),
        ),
        (EVENTS_ALERTS.encode(), b'{"server_id": null}', Message("alert", '{"server_id":null}', None)),
        (EVENTS_SCRAPE.encode(), b'{"server_id": "nope"}', Message("scrape", '{"server_id":"nope"}', None)),
        (EVENTS_SCRAPE.encode(), b"not json", None),
        (EVENTS_SCRAPE.encode(), b"[1, 2]", None),
        (b"elsewhere", b"{}", None),
    ],
)
def test_parse_message(channel: bytes, data: bytes, expected: Message | None) -> None:
    assert parse_message(channel, data) == expected


def test_encode_event_is_one_sse_frame() -> None:
    frame = encode_event(Message("status", '{"a":1}', None))
    assert frame == b'event: status\ndata: {"a":1}\n\n'


async def test_bearer_header_is_preferred_over_the_query(client: Client, pool: asyncpg.Pool) -> None:
    user = await make_user(pool, "viewer")
    tokens = await login(client, user)
    response = await client.get(
        "/api/events", params={"access_token": "not-a-jwt"}, headers=bearer(tokens["access_token"])
    )
    assert response.status == 200
    response.close()


def test_stream_is_in_the_openapi_document(settings: Settings) -> None:
    document = openapi_document(create_app(settings))
    operation = document["paths"]["/api/events"]["get"]
    assert operation["x-minimum-role"] == "viewer"
    assert list(operation["responses"]["200"]["content"]) == ["text/event-stream"]
    assert [p["name"] for p in operation["parameters"]] == ["access_token"]


async def test_a_user_holds_at_most_the_streams_allowed_and_the_next_is_a_429(
    client: Client, app: web.Application, pool: asyncpg.Pool
) -> None:
    limit = app[STREAM_CONFIG].max_streams_per_user
    user = await make_user(pool, "viewer")
    sessions = [bearer((await login(client, user))["access_token"]) for _ in range(2)]
    opened = [await open_stream(client, sessions[n % 2]) for n in range(limit)]
    try:
        # Every session and token of the user counts: the other session is refused too.
        for headers in sessions:
            refused = await client.get("/api/events", headers=headers)
            assert refused.status == 429
            assert int(refused.headers["Retry-After"]) >= 1
            assert (await refused.json())["error"]["code"] == "too_many_streams"
        other = await make_user(pool, "viewer")
        async with await open_stream(client, bearer((await login(client, other))["access_token"])):
            pass
        opened.pop().close()
        await eventually(lambda: app[BROKER].streams_of[user.id] < limit)
        opened.append(await open_stream(client, sessions[0]))
    finally:
        for response in opened:
            response.close()
