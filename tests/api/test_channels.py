"""``/api/alerts/channels`` and ``/api/alerts/notifications``: CRUD, redaction, roles, errors, test sends."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from api.app import create_app
from api.keys import STORES
from api.openapi import openapi_document
from collector.alerts.notify import store
from collector.alerts.notify.channels import EmailChannel, SlackChannel, WebhookChannel
from collector.config.settings import Settings
from collector.storage import keys
from tests.api.auth.conftest import Client, session
from tests.api.test_monitoring import assert_error_shape
from tests.ports import free_port

PASSWORD = "smtp-password-4f9a1c"
TOKEN = "Bearer hook-token-7d2e55"
SLACK_URL = "https://hooks.example.com/services/T000/B000/slack-token-91be3f"
SECRETS = (PASSWORD, TOKEN, SLACK_URL, "slack-token-91be3f")


def email(name: str = "ops-mail", **overrides: object) -> dict[str, object]:
    return {
        "kind": "email",
        "name": name,
        "to": ["ops@example.com"],
        "from_address": "openmanager@example.com",
        "smtp_host": "127.0.0.1",
        "smtp_port": 2525,
        "username": "openmanager",
        "password": PASSWORD,
        **overrides,
    }


def slack(name: str = "ops-slack", url: str = SLACK_URL) -> dict[str, object]:
    return {"kind": "slack", "name": name, "url": url, "severities": ["critical"]}


def webhook(url: str, name: str = "ops-hook") -> dict[str, object]:
    return {"kind": "webhook", "name": name, "url": url, "headers": {"Authorization": TOKEN}}


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[Client]:
    async with TestClient(TestServer(create_app(settings), host="127.0.0.1")) as test_client:
        # Login counters of earlier tests must not lock this one out.
        await test_client.app[STORES].redis.flushdb()
        yield test_client


@pytest.fixture
async def pool(client: Client) -> asyncpg.Pool:
    pg: asyncpg.Pool = client.app[STORES].pg
    # The run's database is shared by its tests: start each one with no channel (and so no history).
    await pg.execute("DELETE FROM notification_channels")
    return pg


@pytest.fixture
async def admin(client: Client, pool: asyncpg.Pool) -> dict[str, str]:
    return (await session(client, pool, "admin"))[1]


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


async def create(client: Client, auth: dict[str, str], config: dict[str, object]) -> dict[str, Any]:
    response = await client.post("/api/alerts/channels", json=config, headers=auth)
    text = await response.text()
    assert response.status == 201, text
    assert_no_secret(text)
    body: dict[str, Any] = await response.json()
    return body


async def test_crud_round_trip_as_admin(client: Client, admin: dict[str, str]) -> None:
    created = await create(client, admin, email())
    assert created["config"]["kind"] == "email" and created["config"]["password"] == "***"
    channel_id = created["id"]

    response = await client.get(f"/api/alerts/channels/{channel_id}", headers=admin)
    assert response.status == 200 and await response.json() == created

    # A new port and TLS mode are a new destination: the password is given again.
    replaced = {**created["config"], "smtp_port": 465, "tls": True, "starttls": False, "password": PASSWORD}
    response = await client.put(f"/api/alerts/channels/{channel_id}", json=replaced, headers=admin)
    assert response.status == 200, await response.text()
    updated = await response.json()
    assert updated["config"]["smtp_port"] == 465 and updated["updated_at"] >= created["updated_at"]

    response = await client.get("/api/alerts/channels", headers=admin)
    assert [c["id"] for c in (await response.json())["channels"]] == [channel_id]

    response = await client.delete(f"/api/alerts/channels/{channel_id}", headers=admin)
    assert response.status == 204
    for method in ("GET", "DELETE"):
        response = await client.request(method, f"/api/alerts/channels/{channel_id}", headers=admin)
        assert response.status == 404
        assert_error_shape(await response.json(), "not_found")


async def test_every_change_is_announced_so_the_notifier_rereads_the_channels(
    client: Client, admin: dict[str, str]
) -> None:
    async with client.app[STORES].redis.pubsub() as pubsub:
        await pubsub.subscribe(keys.channel(keys.ALERTS_CONFIG, client.app[STORES].redis))
        await pubsub.get_message(timeout=1.0)  # the subscription confirmation
        created = await create(client, admin, email())
        path = f"/api/alerts/channels/{created['id']}"
        response = await client.put(path, json=created["config"], headers=admin)
        assert response.status == 200
        response = await client.delete(path, headers=admin)
        assert response.status == 204
        response = await client.get("/api/alerts/channels", headers=admin)
        assert response.status == 200
        messages = []
        while (message := await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5)) is not None:
            messages.append(message["data"])
    assert messages == [b"changed"] * 3, "create, replace and delete announced; reading is not"


async def test_secrets_never_appear_in_any_response(client: Client, admin: dict[str, str]) -> None:
    mail = await create(client, admin, email())
    chat = await create(client, admin, slack())
    hook = await create(client, admin, webhook("http://127.0.0.1:9/hook"))
    assert chat["config"]["url"] == "***" and hook["config"]["headers"] == {"Authorization": "***"}
    for path in (
        "/api/alerts/channels",
        *(f"/api/alerts/channels/{c['id']}" for c in (mail, chat, hook)),
    ):
        response = await client.get(path, headers=admin)
        assert response.status == 200
        assert_no_secret(await response.text())
    response = await client.put(f"/api/alerts/channels/{chat['id']}", json=chat["config"], headers=admin)
    assert response.status == 200
    assert_no_secret(await response.text())


async def test_redacted_secrets_keep_the_stored_values(
    client: Client, admin: dict[str, str], pool: asyncpg.Pool
) -> None:
    mail = await create(client, admin, email())
    chat = await create(client, admin, slack())
    hook = await create(client, admin, webhook("http://127.0.0.1:9/hook"))
    for channel in (mail, chat, hook):
        config = {**channel["config"], "name": f"{channel['config']['name']}-renamed"}
        response = await client.put(f"/api/alerts/channels/{channel['id']}", json=config, headers=admin)
        assert response.status == 200, await response.text()

    stored_mail = await store.get_channel(pool, uuid.UUID(mail["id"]))
    stored_chat = await store.get_channel(pool, uuid.UUID(chat["id"]))
    stored_hook = await store.get_channel(pool, uuid.UUID(hook["id"]))
    assert stored_mail is not None and isinstance(stored_mail.config, EmailChannel)
    assert stored_mail.name == "ops-mail-renamed"
    assert stored_mail.config.password is not None
    assert stored_mail.config.password.get_secret_value() == PASSWORD
    assert stored_chat is not None and isinstance(stored_chat.config, SlackChannel)
    assert stored_chat.config.url.get_secret_value() == SLACK_URL
    assert stored_hook is not None and isinstance(stored_hook.config, WebhookChannel)
    assert stored_hook.config.headers["Authorization"].get_secret_value() == TOKEN


async def test_a_new_secret_replaces_the_stored_one(
    client: Client, admin: dict[str, str], pool: asyncpg.Pool
) -> None:
    chat = await create(client, admin, slack())
    new_url = "https://hooks.example.com/services/T000/B000/other"
    response = await client.put(
        f"/api/alerts/channels/{chat['id']}", json={**chat["config"], "url": new_url}, headers=admin
    )
    assert response.status == 200
    stored = await store.get_channel(pool, uuid.UUID(chat["id"]))
    assert stored is not None and isinstance(stored.config, SlackChannel)
    assert stored.config.url.get_secret_value() == new_url


@pytest.mark.parametrize(
    ("method", "path_of", "body"),
    [
        ("POST", lambda _: "/api/alerts/channels", slack("created-by-operator")),
        ("PUT", lambda i: f"/api/alerts/channels/{i}", slack()),
        ("DELETE", lambda i: f"/api/alerts/channels/{i}", None),
        ("POST", lambda i: f"/api/alerts/channels/{i}/test", None),
    ],
)
async def test_operator_reads_but_cannot_write(
    client: Client,
    admin: dict[str, str],
    pool: asyncpg.Pool,
    method: str,
    path_of: Callable[[str], str],
    body: dict[str, object] | None,
) -> None:
    channel_id = (await create(client, admin, slack()))["id"]
    _, operator = await session(client, pool, "operator")
    for path in ("/api/alerts/channels", f"/api/alerts/channels/{channel_id}", "/api/alerts/notifications"):
        response = await client.get(path, headers=operator)
        assert response.status == 200, path
    response = await client.request(method, path_of(channel_id), json=body, headers=operator)
    assert response.status == 403
    assert_error_shape(await response.json(), "forbidden")
    stored = await store.list_channels(pool)
    assert [c.name for c in stored] == ["ops-slack"]


@pytest.mark.parametrize(
    "path", ["/api/alerts/channels", f"/api/alerts/channels/{uuid.uuid4()}", "/api/alerts/notifications"]
)
async def test_viewer_is_forbidden_and_anonymous_unauthorized(
    client: Client, pool: asyncpg.Pool, path: str
) -> None:
    _, viewer = await session(client, pool, "viewer")
    response = await client.get(path, headers=viewer)
    assert response.status == 403
    assert_error_shape(await response.json(), "forbidden")
    response = await client.get(path)
    assert response.status == 401
    assert_error_shape(await response.json(), "unauthorized")


async def test_a_taken_name_is_a_conflict(client: Client, admin: dict[str, str]) -> None:
    await create(client, admin, email())
    other = await create(client, admin, slack())
    response = await client.post("/api/alerts/channels", json=slack("ops-mail"), headers=admin)
    assert response.status == 409
    body = await response.json()
    assert_error_shape(body, "conflict")
    assert "ops-mail" in body["error"]["message"]
    response = await client.put(
        f"/api/alerts/channels/{other['id']}", json={**other["config"], "name": "ops-mail"}, headers=admin
    )
    assert response.status == 409


@pytest.mark.parametrize(
    ("config", "field"),
    [
        (webhook("ftp://127.0.0.1/hook"), "webhook.url"),
        (email(to=["not an address"]), "email.to"),
        (email(tls=True), "email"),
        ({**slack(), "colour": "red"}, "slack.colour"),
        ({"kind": "pager", "name": "x"}, "(body)"),
        (slack(name="bad\x00name"), "name"),
    ],
)
async def test_a_bad_channel_is_refused_with_the_field_named(
    client: Client, admin: dict[str, str], config: dict[str, object], field: str
) -> None:
    response = await client.post("/api/alerts/channels", json=config, headers=admin)
    assert response.status == 422
    body = await response.json()
    assert_error_shape(body, "invalid")
    assert field in {problem["field"] for problem in body["error"]["details"]}
    assert_no_secret(await response.text())


async def test_redacted_secret_without_a_stored_value_is_refused(
    client: Client, admin: dict[str, str]
) -> None:
    response = await client.post("/api/alerts/channels", json=slack(url="***"), headers=admin)
    assert response.status == 422
    assert_error_shape(await response.json(), "invalid")
    hook = await create(client, admin, webhook("http://127.0.0.1:9/hook"))
    config = {**hook["config"], "headers": {"Authorization": "***", "X-New": "***"}}
    response = await client.put(f"/api/alerts/channels/{hook['id']}", json=config, headers=admin)
    assert response.status == 422
    assert "X-New" in (await response.json())["error"]["message"]


@pytest.mark.parametrize(
    ("make", "change", "status"),
    [
        (email, {"smtp_host": "127.0.0.2"}, 422),
        (email, {"smtp_port": 2526}, 422),
        (email, {"starttls": False}, 422),
        (email, {"smtp_host": "127.0.0.2", "password": "a-new-password"}, 200),
        (email, {"to": ["someone-else@example.com"], "name": "renamed"}, 200),
        (lambda: webhook("http://127.0.0.1:9/hook"), {"url": "http://127.0.0.2:9/hook"}, 422),
        (lambda: webhook("http://127.0.0.1:9/hook"), {"url": "http://127.0.0.1:10/hook"}, 422),
        (lambda: webhook("http://127.0.0.1:9/hook"), {"url": "http://127.0.0.1:9/other"}, 422),
        (
            lambda: webhook("http://127.0.0.1:9/hook"),
            {"url": "http://127.0.0.2:9/hook", "headers": {"Authorization": "Bearer new"}},
            200,
        ),
        (lambda: webhook("http://127.0.0.1:9/hook"), {"name": "renamed"}, 200),
        (slack, {"name": "renamed", "severities": ["warning"]}, 200),
    ],
)
async def test_a_new_destination_needs_the_secrets_again(
    client: Client,
    admin: dict[str, str],
    pool: asyncpg.Pool,
    make: Callable[[], dict[str, object]],
    change: dict[str, object],
    status: int,
) -> None:
    channel = await create(client, admin, make())
    before = await store.get_channel(pool, uuid.UUID(channel["id"]))
    config = {**channel["config"], **change}
    response = await client.put(f"/api/alerts/channels/{channel['id']}", json=config, headers=admin)
    assert response.status == status, await response.text()
    assert_no_secret(await response.text())
    after = await store.get_channel(pool, uuid.UUID(channel["id"]))
    if status == 422:
        body = await response.json()
        assert_error_shape(body, "invalid")
        assert "again" in body["error"]["message"]
        assert after == before, "nothing is stored"


@dataclass
class Receiver:
    """A webhook receiver on 127.0.0.1 answering ``status``; a failure echoes the Authorization header."""

    status: int = 200
    bodies: list[dict[str, Any]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.bodies.append(await request.json())
        if self.status < 300:
            return web.Response(text="ok")
        return web.Response(status=self.status, text=f"broken; you sent {request.headers['Authorization']}")


@asynccontextmanager
async def receiver(status: int) -> AsyncIterator[tuple[Receiver, str]]:
    rec = Receiver(status)
    app = web.Application()
    app.router.add_post("/hook", rec.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield rec, f"http://127.0.0.1:{port}/hook"
    finally:
        await runner.cleanup()


async def test_the_test_action_delivers_to_the_receiver(client: Client, admin: dict[str, str]) -> None:
    async with receiver(200) as (rec, url):
        hook = await create(client, admin, webhook(url))
        response = await client.post(f"/api/alerts/channels/{hook['id']}/test", headers=admin)
        assert response.status == 200
        assert await response.json() == {"ok": True, "attempts": 1, "error": None}
    assert [b["alerts"][0]["labels"]["alertname"] for b in rec.bodies] == ["OpenManagerTest"]


async def test_a_failed_test_is_ok_false_with_the_status_and_no_secret(
    client: Client, admin: dict[str, str]
) -> None:
    async with receiver(500) as (rec, url):
        hook = await create(client, admin, webhook(url))
        response = await client.post(f"/api/alerts/channels/{hook['id']}/test", headers=admin)
        text = await response.text()
    assert response.status == 200
    result = await response.json()
    assert result["ok"] is False and result["attempts"] == 1 and len(rec.bodies) == 1
    assert result["error"].startswith("HTTP 500")
    assert_no_secret(text)


async def test_an_unreachable_slack_url_is_reported_without_the_url(
    client: Client, admin: dict[str, str]
) -> None:
    secret_url = f"http://127.0.0.1:{free_port()}/services/slack-token-91be3f"
    chat = await create(client, admin, slack(url=secret_url))
    response = await client.post(f"/api/alerts/channels/{chat['id']}/test", headers=admin)
    assert response.status == 200
    text = await response.text()
    result = await response.json()
    assert result["ok"] is False and result["error"]
    assert "slack-token-91be3f" not in text


async def test_the_test_of_an_unknown_channel_is_not_found(client: Client, admin: dict[str, str]) -> None:
    response = await client.post(f"/api/alerts/channels/{uuid.uuid4()}/test", headers=admin)
    assert response.status == 404
    assert_error_shape(await response.json(), "not_found")


async def test_notifications_are_listed_newest_first_by_channel_and_paged(
    client: Client, admin: dict[str, str], pool: asyncpg.Pool
) -> None:
    first = uuid.UUID((await create(client, admin, email()))["id"])
    second = uuid.UUID((await create(client, admin, slack()))["id"])
    now = time.time()
    for i, channel_id in enumerate([first, second, first]):
        await store.record_notification(
            pool,
            at_s=now + i,
            channel_id=channel_id,
            group_key=f'{{alertname="A{i}"}}',
            status="firing",
            alerts=1,
            ok=i != 2,
            attempts=1 if i != 2 else 5,
            error=None if i != 2 else "HTTP 500: nope",
        )
    response = await client.get("/api/alerts/notifications", headers=admin)
    assert response.status == 200
    everything = (await response.json())["notifications"]
    assert [n["group_key"] for n in everything] == [
        '{alertname="A2"}',
        '{alertname="A1"}',
        '{alertname="A0"}',
    ]
    assert everything[0]["ok"] is False and everything[0]["error"] == "HTTP 500: nope"

    response = await client.get(
        "/api/alerts/notifications",
        params={"channel_id": str(first), "limit": "1", "offset": "1"},
        headers=admin,
    )
    page = await response.json()
    assert [n["group_key"] for n in page["notifications"]] == ['{alertname="A0"}']
    assert (page["limit"], page["offset"]) == (1, 1)

    response = await client.get("/api/alerts/notifications", params={"limit": "0"}, headers=admin)
    assert response.status == 422
    assert_error_shape(await response.json(), "invalid")


def test_the_document_shows_the_channel_union_in_and_out(settings: Settings) -> None:
    document = openapi_document(create_app(settings))
    schemas = document["components"]["schemas"]
    create_op = document["paths"]["/api/alerts/channels"]["post"]
    body_ref = create_op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    out_ref = create_op["responses"]["201"]["content"]["application/json"]["schema"]["$ref"]
    union = {
        "propertyName": "kind",
        "mapping": {
            kind: f"#/components/schemas/{model}"
            for kind, model in (
                ("email", "EmailChannel"),
                ("webhook", "WebhookChannel"),
                ("slack", "SlackChannel"),
            )
        },
    }
    assert schemas[body_ref.rsplit("/", 1)[1]]["discriminator"] == union
    assert schemas[out_ref.rsplit("/", 1)[1]]["properties"]["config"]["discriminator"] == union
    assert create_op["x-minimum-role"] == "admin"
    assert document["paths"]["/api/alerts/channels"]["get"]["x-minimum-role"] == "operator"


async def test_the_channel_table_holds_no_secret_in_clear(
    client: Client, admin: dict[str, str], pool: asyncpg.Pool
) -> None:
    await create(client, admin, email())
    await create(client, admin, slack())
    await create(client, admin, webhook("https://hooks.example.com/hook-path-5c81"))
    # Every column of every row, as PostgreSQL itself prints it (bytea as hex, jsonb as text).
    rows = await pool.fetch("SELECT t::text AS line FROM notification_channels t")
    dump = "\n".join(row["line"] for row in rows)
    assert len(rows) == 3
    for secret in (*SECRETS, "hook-path-5c81"):
        assert secret not in dump
        assert secret.encode().hex() not in dump
    response = await client.get("/api/alerts/channels", headers=admin)
    assert_no_secret(await response.text())
