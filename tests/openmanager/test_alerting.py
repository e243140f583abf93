"""End to end: a host's CPU crosses the threshold, and ``openmanager run`` fires, mails, streams and clears.

Every part is real: an HTTP exporter on loopback whose CPU reading the test sets, the service as a process
with its rules file, an e-mail channel created through the API, an SMTP server (aiosmtpd) receiving the mail,
and the SSE stream read as a browser would.
"""

from __future__ import annotations

import asyncio
import email
import json
import threading
from collections.abc import AsyncIterator, Iterator
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.api.auth.conftest import PASSWORD, make_user
from tests.openmanager.running import Service, wait_healthy
from tests.polling import eventually
from tests.ports import free_port

RULES = """\
- name: HighCpu
  kind: threshold
  metric: cpu
  op: ">"
  threshold: 90
  clear_threshold: 80
  for_s: 3s
  severity: critical
"""


class Host:
    """An exporter on loopback that reports whatever CPU usage the test sets."""

    def __init__(self) -> None:
        self.cpu = 12.0
        host = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = (
                    "# TYPE openmanager_cpu_usage_percent gauge\n"
                    f"openmanager_cpu_usage_percent {host.cpu}\n"
                    "# TYPE openmanager_memory_usage_percent gauge\n"
                    "openmanager_memory_usage_percent 40\n"
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Mailbox:
    """An aiosmtpd handler that keeps every message it is given."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"

    def subjects(self) -> list[str]:
        return [str(m["Subject"]) for m in self.messages]


@pytest.fixture
def host() -> Iterator[Host]:
    h = Host()
    yield h
    h.close()


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    mailbox, port = Mailbox(), free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield mailbox, port
    controller.stop()


async def _admin_token(pg_dsn: str, port: int) -> str:
    pool = await asyncpg.create_pool(pg_dsn, min_size=1, max_size=1)
    try:
        username = (await make_user(pool, "admin")).username
    finally:
        await pool.close()
    async with aiohttp.ClientSession() as session:
        login = {"username": username, "password": PASSWORD}
        async with session.post(f"http://127.0.0.1:{port}/api/auth/login", json=login) as response:
            assert response.status == 200, await response.text()
            token: str = (await response.json())["access_token"]
            return token


async def _alert_events(session: aiohttp.ClientSession, url: str) -> AsyncIterator[dict[str, Any]]:
    """The ``alert`` events of the SSE stream at ``url``, parsed."""
    async with session.get(url, timeout=aiohttp.ClientTimeout(total=None, sock_read=None)) as response:
        assert response.status == 200 and response.content_type == "text/event-stream"
        event = ""
        async for raw in response.content:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: ") and event == "alert":
                yield json.loads(line.removeprefix("data: "))


async def _firing(session: aiohttp.ClientSession, base: str, expected: list[str]) -> list[str]:
    """The names of the firing alerts that ``GET /api/alerts`` lists, polled until they are ``expected``
    (the engine stores changes in the background, soon after it publishes them) or 10 s have passed."""
    names: list[str] = []
    for _ in range(50):
        async with session.get(f"{base}/api/alerts", params={"state": "firing"}) as response:
            assert response.status == 200
            names = [a["name"] for a in (await response.json())["items"]]
        if names == expected:
            break
        await asyncio.sleep(0.2)
    return names


async def test_a_cpu_crossing_fires_mails_streams_and_clears(
    tmp_path: Path,
    fresh_pg_dsn: str,
    redis_url: str,
    service_factory: list[Service],
    host: Host,
    smtp: tuple[Mailbox, int],
) -> None:
    mailbox, smtp_port = smtp
    rules = tmp_path / "rules.yml"
    rules.write_text(RULES)
    targets = (
        "scrape_configs:\n  - job_name: node\n    scrape_interval: 1s\n    scrape_timeout: 1s\n"
        f"    static_configs:\n      - targets: ['{host.address}']\n"
    )
    service = Service(
        tmp_path, fresh_pg_dsn, redis_url, targets=targets, env={"OM_ALERTS_RULES_FILE": str(rules)}
    )
    service_factory.append(service)
    await asyncio.to_thread(wait_healthy, service.proc, service.port)
    base = f"http://127.0.0.1:{service.port}"
    token = await _admin_token(fresh_pg_dsn, service.port)
    headers = {"Authorization": f"Bearer {token}"}

    async with aiohttp.ClientSession(headers=headers) as session:
        channel = {
            "kind": "email",
            "name": "ops mail",
            "to": ["ops@example.com"],
            "from_address": "openmanager@example.com",
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp_port,
            "starttls": False,
            "group_wait_s": 0,
            "group_interval_s": 1,
        }
        async with session.post(f"{base}/api/alerts/channels", json=channel) as response:
            assert response.status == 201, await response.text()

        seen: list[dict[str, Any]] = []

        async def stream() -> None:
            async for alert in _alert_events(session, f"{base}/api/events"):
                seen.append(alert)

        reader = asyncio.create_task(stream())
        try:
            await asyncio.sleep(2)  # the notifier rereads its channels on its next tick (1 s)
            assert not seen and not mailbox.messages, "nothing fires while the CPU is low"

            host.cpu = 97.0
            await eventually(lambda: any(a["state"] == "firing" for a in seen), timeout_s=40)
            firing = next(a for a in seen if a["state"] == "firing")
            assert (firing["name"], firing["severity"]) == ("HighCpu", "critical") and firing["value"] > 90
            assert await _firing(session, base, ["HighCpu"]) == ["HighCpu"]
            await eventually(lambda: len(mailbox.messages) >= 1, timeout_s=40)
            assert "HighCpu" in mailbox.subjects()[0] and "FIRING" in mailbox.subjects()[0].upper()

            host.cpu = 85.0  # under the firing threshold but over the clear one: still firing (hysteresis)
            await asyncio.sleep(3)
            assert not any(a["state"] == "resolved" for a in seen)

            host.cpu = 20.0
            await eventually(lambda: any(a["state"] == "resolved" for a in seen), timeout_s=40)
            await eventually(lambda: len(mailbox.messages) >= 2, timeout_s=40)
            assert "RESOLVED" in mailbox.subjects()[1].upper()
            assert await _firing(session, base, []) == []
        finally:
            reader.cancel()
            with pytest.raises(asyncio.CancelledError):
                await reader

    assert [a["state"] for a in seen if a["state"] != "pending"] == ["firing", "resolved"]
    assert len(mailbox.messages) == 2, mailbox.subjects()
    code, _, err = service.stop()
    assert code == 0, err[-2000:]
