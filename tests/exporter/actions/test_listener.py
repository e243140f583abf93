"""The actions listener on loopback: signed requests run a fake systemctl; bad ones are refused and logged.

The fake systemctl (first on PATH) appends its arguments to a marker file, so a refused request can prove
that nothing ran.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
import trustme
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from exporter.actions.commands import listener_context, load_checked
from exporter.actions.listener import BODY_LIMIT_BYTES, SLOTS_KEY, create_actions_app
from exporter.server import start
from tests.exporter.actions.conftest import (
    FakeSystemctl,
    authorization,
    envelope_bytes,
    public_text,
    run_body,
    write_actions,
)
from tests.polling import eventually

ACTIONS = """
server_id: web-01
public_keys: ["{public}"]
listener: {listener}
log_file: actions.jsonl
max_concurrent: 1
actions:
  restart:
    kind: systemd
    verb: restart
    units: [nginx.service, postgresql.service]
    description: Restart a web or database unit
  unit-status:
    kind: command
    argv: [systemctl, status, "{{unit}}"]
    params:
      # Loose on purpose: [^/] matches a newline, so only the explicit refusal of \\n stops an injection.
      unit: {{pattern: "[^/]+\\\\.service"}}
  wait:
    kind: command
    argv: ["{wait_script}"]
    destructive: false
"""


@dataclass
class Listener:
    """A running listener: its URL, app, audit log and the client to reach it."""

    url: str
    app: web.Application
    log_file: Path
    session: aiohttp.ClientSession

    def audit(self) -> list[dict[str, object]]:
        """The audit log's entries so far."""
        return [json.loads(line) for line in self.log_file.read_text().splitlines()]

    async def post(self, name: str, body: bytes) -> tuple[int, dict[str, object]]:
        """POST a body to /actions/<name>; the status and the JSON answer."""
        async with self.session.post(f"{self.url}/actions/{name}", data=body) as response:
            return response.status, await response.json()


StartListener = Callable[..., Awaitable[Listener]]


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    """A throw-away CA for the listener's and the client's certificates."""
    return trustme.CA()


@pytest.fixture
def wait_script(tmp_path: Path) -> Path:
    """A command that notes its start in `wait-started`, then waits until `release` exists."""
    script = tmp_path / "wait.sh"
    script.write_text(
        f"#!/bin/sh\necho started >> '{tmp_path / 'wait-started'}'\n"
        f"while [ ! -e '{tmp_path / 'release'}' ]; do sleep 0.02; done\necho released\n"
    )
    script.chmod(0o755)
    return script


@pytest.fixture
async def start_listener(
    tmp_path: Path, key: Ed25519PrivateKey, wait_script: Path, fake_systemctl: FakeSystemctl
) -> AsyncIterator[StartListener]:
    """Start the listener from an actions file on 127.0.0.1:<free port>, plain HTTP or TLS."""
    runners: list[web.AppRunner] = []
    sessions: list[aiohttp.ClientSession] = []

    async def _start(
        listener: str = "{address: '127.0.0.1:0', plain_http: true}", client_ssl: ssl.SSLContext | bool = True
    ) -> Listener:
        text = ACTIONS.format(public=public_text(key), listener=listener, wait_script=wait_script)
        config = load_checked(write_actions(tmp_path, text))
        app = create_actions_app(config)
        context = listener_context(config)
        runner, addresses = await start(app, "127.0.0.1", 0, context)
        runners.append(runner)
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=client_ssl))
        sessions.append(session)
        scheme = "https" if context else "http"
        return Listener(f"{scheme}://127.0.0.1:{addresses[0][1]}", app, config.log_file, session)

    yield _start
    for session in sessions:
        await session.close()
    for runner in runners:
        await runner.cleanup()


async def test_a_signed_request_runs_the_action_and_returns_its_result(
    start_listener: StartListener, key: Ed25519PrivateKey, fake_systemctl: FakeSystemctl
) -> None:
    listener = await start_listener()
    raw = envelope_bytes(params={"unit": "postgresql.service"})
    status, answer = await listener.post("restart", run_body(key, raw))
    assert status == 200
    assert answer["exit_code"] == 0 and answer["timed_out"] is False and answer["truncated"] is False
    assert (answer["action"], answer["stdout"], answer["stderr"]) == (
        "restart",
        "did restart of postgresql.service\n",
        "to stderr\n",
    )
    assert isinstance(answer["duration_s"], float)
    assert fake_systemctl.calls() == ["restart postgresql.service"]
    [entry] = listener.audit()
    assert entry["outcome"] == "ok" and entry["exit_code"] == 0
    assert (entry["action"], entry["requested_by"], entry["server_id"], entry["remote"]) == (
        "restart",
        "alice",
        "web-01",
        "127.0.0.1",
    )
    assert json.loads(raw)["nonce"] == entry["nonce"]
    assert {"ts", "duration_s"} <= set(entry)


def _refused_cases(key: Ed25519PrivateKey) -> dict[str, tuple[str, bytes, int, str]]:
    other = Ed25519PrivateKey.generate()
    late = envelope_bytes(iat=1_000_000_000, exp=1_000_000_030)
    now = int(time.time())
    return {
        "expired": ("restart", run_body(key, late), 401, "expired"),
        "lives over 60 s": ("restart", run_body(key, envelope_bytes(iat=now, exp=now + 61)), 401, "expired"),
        "signed by another key": ("restart", run_body(other, envelope_bytes()), 401, "bad_signature"),
        "wrong server_id": ("restart", run_body(key, envelope_bytes(server_id="db-01")), 403, "wrong_server"),
        "unknown action": (
            "reboot",
            run_body(key, envelope_bytes(action="reboot")),
            404,
            "unknown_action",
        ),
        "param outside the enum": (
            "restart",
            run_body(key, envelope_bytes(params={"unit": "sshd.service"})),
            422,
            "invalid_params",
        ),
        "newline injection in a pattern param": (
            "unit-status",
            run_body(
                key, envelope_bytes(action="unit-status", params={"unit": "nginx.service\nsshd.service"})
            ),
            422,
            "invalid_params",
        ),
        "oversized body": (
            "restart",
            b'{"envelope": "' + b"A" * BODY_LIMIT_BYTES + b'"}',
            400,
            "bad_request",
        ),
        "not JSON": ("restart", b"unit=nginx.service", 400, "bad_request"),
    }


REFUSED_NAMES = [
    "expired",
    "lives over 60 s",
    "signed by another key",
    "wrong server_id",
    "unknown action",
    "param outside the enum",
    "newline injection in a pattern param",
    "oversized body",
    "not JSON",
]


@pytest.mark.parametrize("case", REFUSED_NAMES)
async def test_a_bad_request_is_refused_logged_and_runs_nothing(
    start_listener: StartListener, key: Ed25519PrivateKey, fake_systemctl: FakeSystemctl, case: str
) -> None:
    listener = await start_listener()
    name, body, expected_status, expected_code = _refused_cases(key)[case]
    status, answer = await listener.post(name, body)
    assert (status, answer["error"]["code"]) == (expected_status, expected_code)  # type: ignore[index]
    assert fake_systemctl.calls() == []
    [entry] = listener.audit()
    assert entry["outcome"] == expected_code and entry["exit_code"] is None and entry["action"] == name


async def test_a_replayed_request_is_refused_and_runs_once(
    start_listener: StartListener, key: Ed25519PrivateKey, fake_systemctl: FakeSystemctl
) -> None:
    listener = await start_listener()
    body = run_body(key, envelope_bytes())
    assert (await listener.post("restart", body))[0] == 200
    status, answer = await listener.post("restart", body)
    assert (status, answer["error"]) == (409, {"code": "replayed", "message": "this nonce was already used"})
    assert fake_systemctl.calls() == ["restart nginx.service"]
    assert [entry["outcome"] for entry in listener.audit()] == ["ok", "replayed"]


async def test_a_request_over_the_concurrency_limit_is_busy(
    start_listener: StartListener, key: Ed25519PrivateKey, tmp_path: Path
) -> None:
    listener = await start_listener()
    first = asyncio.create_task(
        listener.post("wait", run_body(key, envelope_bytes(action="wait", params={})))
    )
    await eventually(lambda: listener.app[SLOTS_KEY].in_use == 1)
    status, answer = await listener.post("wait", run_body(key, envelope_bytes(action="wait", params={})))
    assert (status, answer["error"]["code"]) == (429, "busy")  # type: ignore[index]
    (tmp_path / "release").touch()
    status, answer = await first
    assert (status, answer["stdout"]) == (200, "released\n")
    assert (tmp_path / "wait-started").read_text() == "started\n"
    assert [entry["outcome"] for entry in listener.audit()] == ["busy", "ok"]


async def test_the_listing_describes_every_action(
    start_listener: StartListener, key: Ed25519PrivateKey
) -> None:
    listener = await start_listener()
    header = authorization(key, envelope_bytes(action="", params={}))
    async with listener.session.get(f"{listener.url}/actions", headers={"Authorization": header}) as response:
        assert response.status == 200
        listing = await response.json()
    assert listing["server_id"] == "web-01"
    by_name = {action["name"]: action for action in listing["actions"]}
    assert by_name["restart"] == {
        "name": "restart",
        "description": "Restart a web or database unit",
        "kind": "systemd",
        "destructive": True,
        "timeout_s": 30.0,
        "params": [
            {
                "name": "unit",
                "required": True,
                "enum": ["nginx.service", "postgresql.service"],
                "pattern": None,
            }
        ],
    }
    assert by_name["unit-status"]["params"][0]["pattern"] == "[^/]+\\.service"
    assert by_name["wait"]["destructive"] is False
    assert [entry["outcome"] for entry in listener.audit()] == ["ok"]


@pytest.mark.parametrize(
    ("header", "status", "code"),
    [(None, 400, "bad_request"), ("OM-Ed25519 e30.AAAA", 400, "bad_request")],
)
async def test_an_unsigned_listing_is_refused(
    start_listener: StartListener, header: str | None, status: int, code: str
) -> None:
    listener = await start_listener()
    headers = {"Authorization": header} if header else {}
    async with listener.session.get(f"{listener.url}/actions", headers=headers) as response:
        assert (response.status, (await response.json())["error"]["code"]) == (status, code)
    assert listener.audit()[0]["outcome"] == code


async def test_unknown_paths_answer_in_the_error_shape(start_listener: StartListener) -> None:
    listener = await start_listener()
    async with listener.session.get(f"{listener.url}/metrics") as response:
        assert response.status == 404
        assert (await response.json())["error"]["code"] == "not_found"


def _tls_listener(tmp_path: Path, ca: trustme.CA) -> str:
    server = ca.issue_cert("127.0.0.1")
    server.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "server.pem"))
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    return (
        "{address: '127.0.0.1:0', tls: {cert_file: server.pem, key_file: server.pem, client_ca_file: ca.pem}}"
    )


def _client_context(ca: trustme.CA, with_certificate: bool) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    ca.configure_trust(context)
    if with_certificate:
        ca.issue_cert("collector.example").configure_cert(context)
    return context


@pytest.mark.parametrize("with_certificate", [True, False], ids=["with a client certificate", "without"])
async def test_over_tls_only_a_client_with_a_certificate_gets_an_action_run(
    start_listener: StartListener,
    key: Ed25519PrivateKey,
    fake_systemctl: FakeSystemctl,
    tmp_path: Path,
    ca: trustme.CA,
    with_certificate: bool,
) -> None:
    listener = await start_listener(_tls_listener(tmp_path, ca), _client_context(ca, with_certificate))
    assert listener.url.startswith("https://")
    body = run_body(key, envelope_bytes())
    if with_certificate:
        status, answer = await listener.post("restart", body)
        assert (status, answer["exit_code"]) == (200, 0)
        assert fake_systemctl.calls() == ["restart nginx.service"]
        return
    with pytest.raises(aiohttp.ClientError):
        await listener.post("restart", body)
    # The handshake fails before HTTP: nothing reaches the listener, nothing runs.
    assert fake_systemctl.calls() == []
    assert listener.audit() == []
