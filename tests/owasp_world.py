"""The world the cross-cutting security tables run in: two servers with data everywhere, callers of each kind.

Servers A and B are registered through the API in a database of their own, and each has live state in
Redis, history in PostgreSQL (``up``, node_exporter's and our exporter's process series), an active alert,
an event, a remote action's run, a silence confined to it and a threshold rule scoped to it. A viewer and
an operator are granted A only; an admin sees both. Whatever a route answers about B carries B's id, name
or address, so a body without them is a body that told nothing about B.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from api.app import create_app
from api.auth.apitokens import create_api_token
from api.keys import RESOLVER, STORES
from collector.config.settings import Settings, load_settings
from collector.storage.live import LiveWriter
from collector.storage.users import Role
from tests.api.auth.conftest import AuthUser, Client, bearer, login, make_user
from tests.api.prometheus.conftest import write_history
from tests.api.test_processes import process_samples
from tests.collector.storage.test_live import summarized
from tests.collector.test_summary import make_result, make_target, node_samples, series_key
from tests.conftest import create_database, drop_database, store_env
from tests.loopback import FakeResolver


@dataclass(frozen=True)
class Side:
    """One of the two servers and the ids of what hangs off it."""

    id: uuid.UUID
    name: str
    host: str
    address: str
    alert_id: uuid.UUID
    run_id: uuid.UUID
    silence_id: str
    rule_id: str

    @property
    def marks(self) -> tuple[str, ...]:
        """What would show that an answer is about this server: its id, name and address."""
        return (str(self.id), self.name, self.host)

    def shown_in(self, text: str) -> list[str]:
        """The marks of this server that ``text`` holds."""
        return [mark for mark in self.marks if mark in text]


@dataclass
class World:
    """The running application, both servers and the callers' Authorization headers."""

    app: web.Application
    client: Client
    job: str
    a: Side
    b: Side
    users: dict[str, AuthUser]
    headers: dict[str, dict[str, str]]
    mcp_tokens: dict[str, str]
    """API tokens with the ``mcp`` scope of the viewer and the admin."""
    token_ids: dict[str, uuid.UUID]
    """The ids of those tokens."""
    resolver: FakeResolver = field(default_factory=lambda: FakeResolver({}))

    def side(self, which: str) -> Side:
        """A or B by letter."""
        return self.a if which == "A" else self.b


def world_settings(dsn: str, redis_url: str, data: Path, **extra_env: str) -> Settings:
    """Settings on ``dsn`` and ``redis_url``; the request rate limit is off (a table sends hundreds)."""
    return load_settings(None, {**store_env(dsn, redis_url, data), "OM_RATE_LIMIT_RPS": "0", **extra_env})


async def _register(client: Client, admin: dict[str, str], name: str, address: str, job: str) -> uuid.UUID:
    response = await client.post(
        "/api/servers", json={"name": name, "address": address, "job": job}, headers=admin
    )
    assert response.status == 201, await response.text()
    return uuid.UUID((await response.json())["id"])


async def _side(client: Client, admin: dict[str, str], letter: str, host: str, job: str) -> Side:
    """Register one server and give it data in every store."""
    app = client.app
    pool = app[STORES].pg
    name = f"{'alpha' if letter == 'A' else 'bravo'}-{uuid.uuid4().hex[:8]}"
    address = f"{host}:9100"
    server_id = await _register(client, admin, name, address, job)
    target = make_target(address, job=job)
    assert target.server_id == server_id, "a registered server's id is its target's"
    now_s = time.time() - 20
    result = make_result(
        [
            (series_key("up", target), 1.0),
            *process_samples(target),
            *node_samples(target=target, now_s=now_s),
        ],
        now_s,
        target,
    )
    await summarized(LiveWriter(app[STORES].redis))([result])
    await write_history(pool, [result])
    alert_id = await pool.fetchval(
        """INSERT INTO alerts
               (server_id, type, title, message, severity, state, started_at, labels, fingerprint)
           VALUES ($1, 'HighLoad', $2, $3, 'critical', 'firing', now(), $4::jsonb, $5) RETURNING id""",
        server_id,
        f"High load on {name}",
        f"load of {name} is high",
        json.dumps(
            {"alertname": "HighLoad", "server_id": str(server_id), "instance": address, "server": name}
        ),
        f"HighLoad-{server_id}",
    )
    await pool.execute(
        "INSERT INTO events (level, source, server_id, message) VALUES ('warning', 'scrape', $1, $2)",
        server_id,
        f"scrape of {name} failed",
    )
    run_id = await pool.fetchval(
        """INSERT INTO action_runs (server_id, action, requested_by, requested_by_name, outcome, reason)
           VALUES ($1, 'restart', $2, 'admin', 'refused', 'totp_required') RETURNING id""",
        server_id,
        str(uuid.uuid4()),
    )
    silence = await client.post(
        "/api/alerts/silences",
        json={
            "matchers": [{"name": "server_id", "op": "=", "value": str(server_id)}],
            "ends_at": time.time() + 3600,
            "comment": f"maintenance of {name}",
        },
        headers=admin,
    )
    assert silence.status == 201, await silence.text()
    rule = await client.post(
        "/api/alerts/rules",
        json={
            "name": f"HighCpu{letter}",
            "kind": "threshold",
            "metric": "cpu",
            "op": ">",
            "threshold": 90,
            "matchers": [{"name": "server_id", "op": "=", "value": str(server_id)}],
        },
        headers=admin,
    )
    assert rule.status == 201, await rule.text()
    return Side(
        server_id,
        name,
        host,
        address,
        alert_id,
        run_id,
        (await silence.json())["id"],
        (await rule.json())["id"],
    )


async def _caller(client: Client, role: Role, grants: tuple[uuid.UUID, ...]) -> AuthUser:
    pool = client.app[STORES].pg
    user = await make_user(pool, role)
    for server_id in grants:
        await pool.execute(
            "INSERT INTO server_grants (user_id, server_id) VALUES ($1, $2)", user.id, server_id
        )
    return user


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(
    pg_admin_dsn: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[World]:
    """The world of the module's tables, built once (every table only reads it or is refused)."""
    dsn = await create_database(pg_admin_dsn)
    app = create_app(world_settings(dsn, redis_url, tmp_path_factory.mktemp("owasp")))
    resolver = FakeResolver({})
    app[RESOLVER] = resolver
    try:
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            await app[STORES].redis.flushdb()
            admin_user = await make_user(app[STORES].pg, "admin")
            admin = bearer((await login(client, admin_user))["access_token"])
            job = f"job{uuid.uuid4().hex[:8]}"
            a = await _side(client, admin, "A", "10.11.12.13", job)
            b = await _side(client, admin, "B", "10.77.78.79", job)
            viewer = await _caller(client, "viewer", (a.id,))
            operator = await _caller(client, "operator", (a.id,))
            users = {"admin": admin_user, "viewer": viewer, "operator": operator}
            headers = {"admin": admin}
            for role in ("viewer", "operator"):
                headers[role] = bearer((await login(client, users[role]))["access_token"])
            expires = datetime.now(UTC) + timedelta(hours=1)
            mcp_tokens, token_ids = {}, {}
            for role in ("viewer", "admin"):
                user = users[role]
                record, mcp_tokens[role] = await create_api_token(
                    app[STORES].pg, user.id, "assistant", user.role, expires, ("mcp",)
                )
                token_ids[role] = record.id
            yield World(app, client, job, a, b, users, headers, mcp_tokens, token_ids, resolver)
    finally:
        await drop_database(pg_admin_dsn, dsn)
