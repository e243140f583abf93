"""``/api/servers/{id}/actions`` end to end: the API on this run's PostgreSQL and Redis, and a real
``openmanager-exporter`` process serving its actions listener over mutual TLS on loopback, whose
``systemctl`` is a fake on its PATH that writes a marker. A run shows its result; every refused request
(no role, no grant, no or a wrong TOTP code, parameters the host refuses, another key) is answered with its
status, is in the audit log, the event log and the history where it applies, and the marker proves that
nothing ran. A captured request replayed, or an expired one, sent to the exporter process directly, is
refused there and logged.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
import trustme
from aiohttp.test_utils import TestClient, TestServer

from api.app import create_app
from api.auth import totp
from api.auth.keys import PREFIX
from api.auth.login import issue_tokens
from api.keys import AUTH_CONFIG, STORES
from collector.actions.envelope import Envelope, sign
from collector.actions.signing import create_key_file, load_key_file, public_key_text
from collector.config.actions_settings import ActionsSettings
from collector.config.settings import Settings
from collector.storage.users import Role
from tests.api.auth.conftest import Client, bearer, make_server, make_user
from tests.polling import eventually
from tests.ports import free_port, wait_port

SERVER_ID = uuid.uuid4()
"""The server the exporter of this module says it is (each test makes its row if missing)."""
UNITS = ("app.service", "other.service")

FAKE_SYSTEMCTL = """#!/bin/sh
# A stand-in for systemctl: records its arguments in the marker file, says what it did.
printf '%s\\n' "$*" >> "{marker}"
echo "fake systemctl: $*"
"""


@dataclass(frozen=True)
class Exporter:
    """The running exporter: its actions port, marker, attempt log and the files the API needs."""

    port: int
    marker: Path
    attempts: Path
    key_file: Path
    ca_file: Path
    client_cert: Path
    client_key: Path

    def ran(self) -> list[str]:
        """What the fake systemctl was run with, one line per run."""
        return self.marker.read_text().splitlines() if self.marker.exists() else []

    def logged(self) -> list[dict[str, Any]]:
        """The exporter's own record of attempts."""
        if not self.attempts.exists():
            return []
        return [json.loads(line) for line in self.attempts.read_text().splitlines()]


def _actions_file(path: Path, port: int, public_key: str, tls: dict[str, str], log_file: Path) -> None:
    document = {
        "server_id": str(SERVER_ID),
        "public_keys": [public_key],
        "listener": {"address": f"127.0.0.1:{port}", "tls": tls},
        "log_file": str(log_file),
        "actions": {
            "restart": {"kind": "systemd", "verb": "restart", "units": list(UNITS), "description": "Restart"},
            "status": {"kind": "systemd", "verb": "status", "units": list(UNITS)},
            "show": {
                "kind": "command",
                "argv": ["systemctl", "show", "{unit}"],
                "destructive": False,
                "params": {"unit": {"pattern": "[a-z]+\\.service"}},
            },
        },
    }
    path.write_text(json.dumps(document))  # JSON is YAML
    path.chmod(0o644)


@pytest.fixture(scope="module")
def exporter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Exporter]:
    """``openmanager-exporter`` with an actions file: TLS with client certificates, a fake systemctl."""
    root = tmp_path_factory.mktemp("exporter")
    ca = trustme.CA()
    server_cert = ca.issue_cert("127.0.0.1")
    client_cert = ca.issue_cert("openmanager-collector")
    files = {
        "ca": root / "ca.pem",
        "cert": root / "listener.pem",
        "key": root / "listener.key",
        "client_cert": root / "client.pem",
        "client_key": root / "client.key",
    }
    ca.cert_pem.write_to_path(str(files["ca"]))
    server_cert.cert_chain_pems[0].write_to_path(str(files["cert"]))
    server_cert.private_key_pem.write_to_path(str(files["key"]))
    client_cert.cert_chain_pems[0].write_to_path(str(files["client_cert"]))
    client_cert.private_key_pem.write_to_path(str(files["client_key"]))
    key_file = root / "signing.pem"
    key = create_key_file(key_file)
    bin_dir = root / "bin"
    bin_dir.mkdir()
    marker = root / "marker"
    fake = bin_dir / "systemctl"
    fake.write_text(FAKE_SYSTEMCTL.replace("{marker}", str(marker)))
    fake.chmod(0o755)
    port, metrics_port = free_port(), free_port()
    tls = {"cert_file": str(files["cert"]), "key_file": str(files["key"]), "client_ca_file": str(files["ca"])}
    actions_file = root / "actions.yaml"
    attempts = root / "attempts.jsonl"
    _actions_file(actions_file, port, public_key_text(key.public_key()), tls, attempts)
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "openmanager-exporter"),
            "--listen",
            f"127.0.0.1:{metrics_port}",
            "--actions-file",
            str(actions_file),
        ],
        env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_port(port)
        yield Exporter(
            port, marker, attempts, key_file, files["ca"], files["client_cert"], files["client_key"]
        )
    finally:
        process.terminate()
        process.wait(timeout=10)


def actions_settings(exporter: Exporter, **changes: Any) -> ActionsSettings:
    """The API's actions settings for this exporter (mutual TLS), with ``changes``."""
    values: dict[str, Any] = {
        "signing_key_file": exporter.key_file,
        "port": exporter.port,
        "ca_file": exporter.ca_file,
        "client_cert_file": exporter.client_cert,
        "client_key_file": exporter.client_key,
        "timeout_s": 20,
    }
    return ActionsSettings(**(values | changes))


async def open_app(settings: Settings) -> AsyncIterator[Client]:
    async with TestClient(TestServer(create_app(settings), host="127.0.0.1")) as test_client:
        redis = test_client.app[STORES].redis
        for pattern in (f"{PREFIX}*", "actions:*"):
            async for key in redis.scan_iter(match=pattern):
                await redis.delete(key)
        await test_client.app[STORES].pg.execute(
            "INSERT INTO servers (id, name, hostname, address, job) VALUES ($1, 'actions', 'actions', $2, $3)"
            " ON CONFLICT (id) DO NOTHING",
            SERVER_ID,
            f"127.0.0.1:{free_port()}",
            f"actions-{SERVER_ID.hex[:8]}",
        )
        yield test_client


@pytest.fixture
async def client(settings: Settings, exporter: Exporter) -> AsyncIterator[Client]:
    exporter.marker.unlink(missing_ok=True)
    async for test_client in open_app(settings.model_copy(update={"actions": actions_settings(exporter)})):
        yield test_client


@pytest.fixture
def pool(client: Client) -> asyncpg.Pool:
    return client.app[STORES].pg


@dataclass(frozen=True)
class Caller:
    """A user with a session, maybe TOTP, maybe the server's grant."""

    id: uuid.UUID
    username: str
    headers: dict[str, str]
    totp_secret: str | None

    def code(self) -> str:
        """A TOTP code of now."""
        assert self.totp_secret is not None
        return totp.code_at(self.totp_secret, int(time.time() // totp.STEP_S))


async def caller(client: Client, role: Role, *, granted: bool = True, with_totp: bool = True) -> Caller:
    """A new user of ``role`` with a session issued directly (a login would spend the TOTP step)."""
    pool = client.app[STORES].pg
    secret = totp.new_secret() if with_totp else None
    user = await make_user(pool, role, totp_secret=secret)
    if granted:
        await pool.execute(
            "INSERT INTO server_grants (user_id, server_id) VALUES ($1, $2)", user.id, SERVER_ID
        )
    tokens = await issue_tokens(pool, client.app[AUTH_CONFIG], user.id, role)
    return Caller(user.id, user.username, bearer(str(tokens["access_token"])), secret)


def run_path(action: str, server_id: uuid.UUID = SERVER_ID) -> str:
    return f"/api/servers/{server_id}/actions/{action}"


async def audit_entries(pool: asyncpg.Pool, user: Caller) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT status, detail FROM audit_log WHERE actor = $1 AND path LIKE '%/actions/%' ORDER BY id",
        str(user.id),
    )


async def action_events(pool: asyncpg.Pool, user: Caller) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT level, server_id, detail FROM events"
        " WHERE source = 'actions' AND detail->>'requested_by' = $1 ORDER BY id",
        user.username,
    )
    return [{"level": r["level"], "server_id": r["server_id"], **json.loads(r["detail"])} for r in rows]


async def test_an_operator_restarts_a_unit_and_sees_the_result(
    client: Client, pool: asyncpg.Pool, exporter: Exporter
) -> None:
    operator = await caller(client, "operator")
    listing = await client.get(f"/api/servers/{SERVER_ID}/actions", headers=operator.headers)
    assert listing.status == 200, await listing.text()
    listed = await listing.json()
    assert (listed["available"], listed["reason"]) == (True, None)
    offered = {action["name"]: action for action in listed["actions"]}
    assert offered["restart"]["destructive"] is True
    assert offered["restart"]["params"] == [
        {"name": "unit", "required": True, "enum": list(UNITS), "pattern": None}
    ]
    assert offered["show"]["destructive"] is False

    response = await client.post(
        run_path("restart"),
        json={"params": {"unit": "app.service"}, "totp_code": operator.code()},
        headers=operator.headers,
    )
    assert response.status == 200, await response.text()
    run = await response.json()
    assert (run["outcome"], run["exit_code"], run["requested_by"]) == ("succeeded", 0, operator.username)
    assert run["stdout"] == "fake systemctl: restart app.service\n"
    assert run["duration_s"] >= 0 and run["finished_at"] >= run["requested_at"]
    assert exporter.ran() == ["restart app.service"]

    history = await client.get(f"/api/servers/{SERVER_ID}/actions/history", headers=operator.headers)
    runs = (await history.json())["runs"]
    assert runs[0]["id"] == run["id"] and runs[0]["outcome"] == "succeeded" and "stdout" not in runs[0]
    one = await client.get(f"/api/servers/{SERVER_ID}/actions/history/{run['id']}", headers=operator.headers)
    assert (await one.json())["stdout"] == run["stdout"]

    [audit] = await audit_entries(pool, operator)
    assert audit["status"] == 200
    assert json.loads(audit["detail"])["outcome"] == "succeeded"
    [event] = await action_events(pool, operator)
    assert (event["level"], event["server_id"], event["outcome"], event["exit_code"]) == (
        "info",
        SERVER_ID,
        "succeeded",
        0,
    )
    assert exporter.logged()[-1]["outcome"] == "ok"


@dataclass(frozen=True)
class Refusal:
    role: Role
    action: str
    body: dict[str, Any]
    status: int
    code: str
    granted: bool = True
    with_totp: bool = True
    in_history: bool = True
    exporter_saw: bool = False


GOOD_CODE = "good"
"""Stands for a current code of the caller in the table below."""

REFUSALS = {
    "viewer": Refusal(
        "viewer", "status", {"params": {"unit": "app.service"}}, 403, "forbidden", in_history=False
    ),
    "operator without the grant": Refusal(
        "operator",
        "status",
        {"params": {"unit": "app.service"}},
        403,
        "forbidden",
        granted=False,
        in_history=False,
    ),
    "destructive without a code": Refusal(
        "operator", "restart", {"params": {"unit": "app.service"}}, 403, "totp_required"
    ),
    "destructive without TOTP enrolled": Refusal(
        "operator",
        "restart",
        {"params": {"unit": "app.service"}, "totp_code": "123456"},
        403,
        "totp_not_enrolled",
        with_totp=False,
    ),
    "destructive with a wrong code": Refusal(
        "operator", "restart", {"params": {"unit": "app.service"}, "totp_code": "000000"}, 403, "invalid_totp"
    ),
    "a unit outside the enum": Refusal(
        "operator",
        "restart",
        {"params": {"unit": "sshd.service"}, "totp_code": GOOD_CODE},
        422,
        "invalid_params",
        exporter_saw=True,
    ),
    "a newline in a pattern parameter": Refusal(
        "operator",
        "show",
        {"params": {"unit": "app.service\nrestart"}},
        422,
        "invalid_params",
        exporter_saw=True,
    ),
    "an action the host does not offer": Refusal("admin", "reboot", {"params": {}}, 404, "unknown_action"),
}


@pytest.mark.parametrize("case", REFUSALS.values(), ids=REFUSALS.keys())
async def test_a_refused_request_is_answered_logged_and_runs_nothing(
    client: Client, pool: asyncpg.Pool, exporter: Exporter, case: Refusal
) -> None:
    user = await caller(client, case.role, granted=case.granted, with_totp=case.with_totp)
    seen_before = len(exporter.logged())
    body = dict(case.body)
    if body.get("totp_code") == GOOD_CODE:
        body["totp_code"] = user.code()
    response = await client.post(run_path(case.action), json=body, headers=user.headers)
    assert response.status == case.status, await response.text()
    assert (await response.json())["error"]["code"] == case.code
    assert exporter.ran() == []

    [audit] = await audit_entries(pool, user)
    assert audit["status"] == case.status
    [event] = await action_events(pool, user)
    assert (event["status"], event["outcome"], event["action"]) == (case.status, "refused", case.action)
    assert event["level"] == "warning"
    history = await pool.fetch(
        "SELECT outcome, reason FROM action_runs WHERE requested_by = $1", str(user.id)
    )
    assert [tuple(row) for row in history] == ([("refused", case.code)] if case.in_history else [])
    new_attempts = exporter.logged()[seen_before:]
    if case.exporter_saw:
        await eventually(lambda: any(a["outcome"] == case.code for a in exporter.logged()[seen_before:]))
    else:
        assert not [
            a for a in new_attempts if a["action"] == case.action and a["requested_by"] == user.username
        ]


async def test_a_request_signed_by_another_key_is_refused_by_the_exporter(
    settings: Settings, exporter: Exporter, tmp_path: Path
) -> None:
    other_key = tmp_path / "other.pem"
    create_key_file(other_key)
    exporter.marker.unlink(missing_ok=True)
    changed = settings.model_copy(update={"actions": actions_settings(exporter, signing_key_file=other_key)})
    async for api in open_app(changed):
        admin = await caller(api, "admin")
        response = await api.post(
            run_path("status"), json={"params": {"unit": "app.service"}}, headers=admin.headers
        )
        assert response.status == 502
        error = (await response.json())["error"]
        assert (error["code"], error["details"]["reason"], error["details"]["exporter_status"]) == (
            "exporter_refused",
            "bad_signature",
            401,
        )
        assert exporter.ran() == []
        assert exporter.logged()[-1]["outcome"] == "bad_signature"


async def _send(exporter: Exporter, envelope: Envelope) -> tuple[int, str]:
    """``envelope`` signed with the service's key and posted to the exporter process as the service does
    (mutual TLS): its status and error code ("" for a run)."""
    signed = sign(envelope, load_key_file(exporter.key_file))
    context = ssl.create_default_context(cafile=str(exporter.ca_file))
    context.load_cert_chain(str(exporter.client_cert), str(exporter.client_key))
    url = f"https://127.0.0.1:{exporter.port}/actions/{envelope.action}"
    async with aiohttp.ClientSession() as http, http.post(url, json=signed.body(), ssl=context) as response:
        answer = await response.json()
        return response.status, answer["error"]["code"] if response.status != 200 else ""


async def test_a_captured_request_replayed_or_expired_is_refused_by_the_exporter_and_runs_nothing(
    exporter: Exporter,
) -> None:
    """What a thief of one request (or of an old one) could send: the exporter process refuses it, logs the
    attempt, and the marker shows the one genuine run only."""
    exporter.marker.unlink(missing_ok=True)
    now = int(time.time())
    captured = Envelope(str(SERVER_ID), "status", "alice", now, {"unit": "app.service"})
    assert await _send(exporter, captured) == (200, "")
    assert exporter.ran() == ["status app.service"]
    assert await _send(exporter, captured) == (409, "replayed")
    old = Envelope(str(SERVER_ID), "status", "alice", now - 120, {"unit": "app.service"}, exp=now - 60)
    assert await _send(exporter, old) == (401, "expired")
    too_long = Envelope(str(SERVER_ID), "status", "alice", now, {"unit": "app.service"}, exp=now + 3600)
    assert await _send(exporter, too_long) == (401, "expired")
    assert exporter.ran() == ["status app.service"]
    outcomes = [attempt["outcome"] for attempt in exporter.logged()[-4:]]
    assert outcomes == ["ok", "replayed", "expired", "expired"]


async def test_runs_past_the_per_user_limit_are_refused(settings: Settings, exporter: Exporter) -> None:
    limited = settings.model_copy(update={"actions": actions_settings(exporter, runs_per_minute=2)})
    exporter.marker.unlink(missing_ok=True)
    async for api in open_app(limited):
        operator = await caller(api, "operator")
        statuses = []
        for _ in range(3):
            response = await api.post(
                run_path("status"), json={"params": {"unit": "other.service"}}, headers=operator.headers
            )
            statuses.append(response.status)
        assert statuses[:2] == [200, 200] and statuses[2] == 429
        assert response.headers["Retry-After"]
        assert exporter.ran() == ["status other.service"] * 2


async def test_without_a_signing_key_actions_are_not_set_up(
    settings: Settings, exporter: Exporter, tmp_path: Path
) -> None:
    missing = settings.model_copy(
        update={"actions": actions_settings(exporter, signing_key_file=tmp_path / "none.pem")}
    )
    async for api in open_app(missing):
        operator = await caller(api, "operator")
        listing = await api.get(f"/api/servers/{SERVER_ID}/actions", headers=operator.headers)
        assert listing.status == 200
        answer = await listing.json()
        assert (answer["available"], answer["reason"], answer["actions"]) == (
            False,
            "actions_not_configured",
            [],
        )
        assert "openmanager keys init" in answer["message"]
        run = await api.post(
            run_path("status"), json={"params": {"unit": "app.service"}}, headers=operator.headers
        )
        assert run.status == 409
        assert (await run.json())["error"]["code"] == "actions_not_configured"


async def test_an_unreachable_exporter_lists_nothing_and_a_run_is_a_502(
    settings: Settings, exporter: Exporter
) -> None:
    elsewhere = settings.model_copy(update={"actions": actions_settings(exporter, port=free_port())})
    async for api in open_app(elsewhere):
        operator = await caller(api, "operator")
        listing = await api.get(f"/api/servers/{SERVER_ID}/actions", headers=operator.headers)
        answer = await listing.json()
        assert (listing.status, answer["available"], answer["reason"]) == (200, False, "connection")
        run = await api.post(
            run_path("status"), json={"params": {"unit": "app.service"}}, headers=operator.headers
        )
        assert run.status == 502
        error = (await run.json())["error"]
        assert (error["code"], error["details"]["reason"]) == ("exporter_unavailable", "connection")
        row = await api.app[STORES].pg.fetchrow(
            "SELECT outcome, reason FROM action_runs WHERE requested_by = $1", str(operator.id)
        )
        assert row is not None and tuple(row) == ("error", "connection")


async def test_a_server_without_an_address_has_no_exporter_to_ask(client: Client, pool: asyncpg.Pool) -> None:
    server_id = await make_server(pool)
    admin = await caller(client, "admin")
    response = await client.get(f"/api/servers/{server_id}/actions", headers=admin.headers)
    assert response.status == 200
    assert (await response.json())["reason"] == "no_address"


async def test_history_is_the_granted_viewers_and_a_run_of_another_server_is_not_found(
    client: Client, pool: asyncpg.Pool
) -> None:
    viewer = await caller(client, "viewer")
    outsider = await caller(client, "viewer", granted=False)
    path = f"/api/servers/{SERVER_ID}/actions/history"
    assert (await client.get(path, headers=viewer.headers)).status == 200
    assert (await client.get(path, headers=outsider.headers)).status == 403
    missing = await client.get(f"{path}/{uuid.uuid4()}", headers=viewer.headers)
    assert missing.status == 404
