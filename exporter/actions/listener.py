"""The actions listener: ``GET /actions`` and ``POST /actions/<name>``, on its own port, apart from /metrics.

Handlers are thin: parse (envelope.parse_run_body / parse_authorization), verify (envelope.verify, checks 1
to 8), take a slot under the concurrency limit (check 9), run (runner.run_argv). Every request ends in exactly
one audit line, whatever its outcome; errors use the protocol's shape ``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict

from aiohttp import hdrs, web

from exporter.actions.audit import Attempt, AuditLog
from exporter.actions.envelope import (
    Envelope,
    NonceMemory,
    RefusedError,
    parse_authorization,
    parse_run_body,
    verify,
)
from exporter.actions.runner import run_argv
from exporter.actions.spec import ActionsConfig

BODY_LIMIT_BYTES = 16 * 1024
Clock = Callable[[], float]


class Slots:
    """A non-blocking concurrency limit: a request either gets a slot now or is refused as busy."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_use = 0

    def take(self) -> bool:
        """Take a slot; False when all are in use."""
        if self.in_use >= self.limit:
            return False
        self.in_use += 1
        return True

    def give_back(self) -> None:
        """Release a slot taken with take()."""
        self.in_use -= 1


CONFIG_KEY = web.AppKey("actions_config", ActionsConfig)
CLOCK_KEY: web.AppKey[Clock] = web.AppKey("actions_clock")
NONCES_KEY = web.AppKey("actions_nonces", NonceMemory)
SLOTS_KEY = web.AppKey("actions_slots", Slots)
AUDIT_KEY = web.AppKey("actions_audit", AuditLog)


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


@web.middleware
async def _json_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Routing errors (unknown path, wrong method) in the protocol's error shape."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status, "bad_request")
        return _error(exc.status, code, exc.reason)


def _attempt(request: web.Request, action: str, envelope: Envelope | None) -> Attempt:
    attempt = Attempt(remote=request.remote, action=action)
    if envelope is not None:
        attempt.server_id = envelope.server_id
        attempt.requested_by = envelope.requested_by
        attempt.nonce = envelope.nonce
        attempt.params = dict(envelope.params)
    return attempt


def _refuse(request: web.Request, attempt: Attempt, refusal: RefusedError, started: float) -> web.Response:
    attempt.outcome = refusal.code
    attempt.duration_s = time.monotonic() - started
    request.app[AUDIT_KEY].record(attempt)
    return _error(refusal.status, refusal.code, refusal.message)


async def list_actions(request: web.Request) -> web.Response:
    """``GET /actions``: what this host offers, for a signed listing envelope."""
    started = time.monotonic()
    app = request.app
    config = app[CONFIG_KEY]
    envelope = None
    try:
        raw, signature = parse_authorization(request.headers.get(hdrs.AUTHORIZATION))
        envelope, _ = verify(config, app[NONCES_KEY], "", raw, signature, now=app[CLOCK_KEY]())
    except RefusedError as refusal:
        return _refuse(request, _attempt(request, "", envelope), refusal, started)
    attempt = _attempt(request, "", envelope)
    attempt.duration_s = time.monotonic() - started
    app[AUDIT_KEY].record(attempt)
    return web.json_response(
        {"server_id": config.server_id, "actions": [action.describe() for action in config.actions.values()]}
    )


async def run_action(request: web.Request) -> web.Response:
    """``POST /actions/<name>``: verify the signed envelope, then run the action and return its result."""
    started = time.monotonic()
    app = request.app
    name = request.match_info["name"]
    envelope = None
    try:
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise RefusedError(400, "bad_request", f"the body is over {BODY_LIMIT_BYTES} bytes") from None
        raw, signature = parse_run_body(body)
        envelope, action = verify(
            app[CONFIG_KEY], app[NONCES_KEY], name, raw, signature, now=app[CLOCK_KEY]()
        )
        assert action is not None
        if not app[SLOTS_KEY].take():
            raise RefusedError(429, "busy", "the concurrency limit is reached; try again later")
    except RefusedError as refusal:
        return _refuse(request, _attempt(request, name, envelope), refusal, started)
    attempt = _attempt(request, name, envelope)
    try:
        values = {key: str(value) for key, value in envelope.params.items()}
        result = await run_argv(action.build_argv(values), action.timeout_s, action.output_limit_bytes)
    except asyncio.CancelledError:
        # Shutdown mid-run: the runner killed the command; the attempt still gets its line.
        attempt.outcome = "cancelled"
        attempt.duration_s = time.monotonic() - started
        app[AUDIT_KEY].record(attempt)
        raise
    finally:
        app[SLOTS_KEY].give_back()
    attempt.exit_code = result.exit_code
    attempt.duration_s = result.duration_s
    attempt.outcome = "ok"
    app[AUDIT_KEY].record(attempt)
    return web.json_response({"action": name, **asdict(result)})


async def _resources(app: web.Application) -> AsyncIterator[None]:
    app[AUDIT_KEY] = AuditLog(app[CONFIG_KEY].log_file)
    try:
        yield
    finally:
        app[AUDIT_KEY].close()


def create_actions_app(config: ActionsConfig, clock: Clock = time.time) -> web.Application:
    """The actions listener's application; the audit log is opened in cleanup_ctx."""
    app = web.Application(middlewares=[_json_errors], client_max_size=BODY_LIMIT_BYTES)
    app[CONFIG_KEY] = config
    app[CLOCK_KEY] = clock
    app[NONCES_KEY] = NonceMemory()
    app[SLOTS_KEY] = Slots(config.max_concurrent)
    app.cleanup_ctx.append(_resources)
    app.router.add_get("/actions", list_actions)
    app.router.add_post("/actions/{name}", run_action)
    return app
