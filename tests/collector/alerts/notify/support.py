"""What the notifier tests share: a controllable clock, alerts, channels, a real HTTP receiver on loopback."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from collector.alerts.model import ALERTNAME, SERVER_ID, SEVERITY, Alert, AlertState, Severity, fingerprint
from collector.alerts.notify.channels import ChannelConfig, StoredChannel, WebhookChannel

T0 = 1_780_000_000.0
"""A fixed start time (2026) that timelines count from."""


class FakeClock:
    """A clock that moves only when the test says so."""

    def __init__(self, start: float = T0) -> None:
        self.t = start

    def now(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


def alert(
    name: str = "HighCpu",
    *,
    state: AlertState = "firing",
    severity: Severity = "warning",
    server: str = "web-1",
    at: float = T0,
    **labels: str,
) -> Alert:
    """An alert of rule ``name`` on ``server`` in ``state``; its fingerprint follows from its labels."""
    all_labels = {
        ALERTNAME: name,
        SEVERITY: severity,
        SERVER_ID: server,
        "instance": f"{server}:9100",
        **labels,
    }
    return Alert(
        fingerprint=fingerprint(all_labels),
        rule_id=name.lower(),
        server_id=None,
        severity=severity,
        state=state,
        labels=all_labels,
        annotations={"title": f"{name} on {server}", "message": f"{name} is over its threshold on {server}"},
        value=97.5,
        active_since=at - 60,
        fired_at=None if state == "pending" else at,
        resolved_at=at if state == "resolved" else None,
    )


def resolved(a: Alert, at: float) -> Alert:
    """``a`` resolved at ``at``."""
    return replace(a, state="resolved", resolved_at=at)


def refired(a: Alert, at: float) -> Alert:
    """``a`` firing again from ``at``."""
    return replace(a, state="firing", fired_at=at, resolved_at=None)


def stored(config: ChannelConfig) -> StoredChannel:
    """A channel as if read from the store."""
    stamp = datetime.fromtimestamp(T0, UTC)
    return StoredChannel(uuid.uuid4(), config, stamp, stamp)


def webhook(url: str = "http://127.0.0.1:9/hook", **overrides: object) -> WebhookChannel:
    """A webhook channel with test timings unless overridden."""
    settings: dict[str, object] = {
        "name": f"hook-{uuid.uuid4().hex[:6]}",
        "url": url,
        "group_wait_s": 30,
        "group_interval_s": 300,
        "repeat_interval_s": 3600,
        "timeout_s": 5,
        **overrides,
    }
    return WebhookChannel.model_validate(settings)


@dataclass
class Receiver:
    """A real HTTP server on 127.0.0.1 that records JSON bodies and answers as scripted."""

    url: str = ""
    statuses: list[int] = field(default_factory=list)
    """Answers to give, in order; 200 once they run out."""
    received: list[dict[str, Any]] = field(default_factory=list)
    """Bodies of the requests answered 2xx (JSON documents, whose shape the tests check)."""
    requests: int = 0
    headers: list[dict[str, str]] = field(default_factory=list)
    hang: asyncio.Event | None = None
    """When set up, every request waits for this event before it is answered."""
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when the first request comes in."""
    answered: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when a request has been taken (answered 2xx)."""

    async def handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        self.arrived.set()
        self.headers.append(dict(request.headers))
        if self.hang is not None:
            await self.hang.wait()
        status = self.statuses.pop(0) if self.statuses else 200
        if status < 300:
            self.received.append(await request.json())
            self.answered.set()
        return web.Response(status=status, text="ok" if status < 300 else "nope")


@asynccontextmanager
async def receiver() -> AsyncIterator[Receiver]:
    """Serve a :class:`Receiver` at ``/hook`` on a free loopback port for the block."""
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/hook", rec.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    rec.url = f"http://127.0.0.1:{port}/hook"
    try:
        yield rec
    finally:
        if rec.hang is not None:
            rec.hang.set()
        await runner.cleanup()
