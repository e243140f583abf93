"""``/api/servers/{id}/actions``: a host's remote actions, running one, and the history of runs.

The host decides what can run: its exporter's actions file names each action (argv, timeout, parameters
each an enum or a pattern, destructive or not). The service never sends a command, only a signed request
naming an action and its parameters (:mod:`collector.actions`). A run request passes, in this order:

1. the operator role and the server's grant (403; the role matrix of the API);
2. the per-user rate limit, ``actions.runs_per_minute`` (429 ``rate_limited``);
3. the signing key (409 ``actions_not_configured`` until ``openmanager keys init``);
4. the action, as the host lists it now (404 ``unknown_action``; 502/504 when the exporter cannot be asked);
5. for a destructive action, a fresh TOTP code of the caller (403 ``totp_not_enrolled``, ``totp_required``,
   ``invalid_totp``);
6. the exporter's own checks (signature, time, server id, nonce, parameters, concurrency): a refusal is
   answered with the exporter's status where the caller can act on it (404, 409, 422, 429), else 502
   ``exporter_refused``.

The answer comes when the action has finished (its timeout on the host bounds the wait): 200 with the run,
whatever its exit code. Every request from step 2 on is a row of the history (``GET …/actions/history``),
refusals included; every request at all is in the audit log and the event log (:mod:`api.action_log`).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Literal
from uuid import UUID

from aiohttp import web

from api.action_checks import signing_key, spend_rate, step_up
from api.action_log import RUN_ROUTE, note
from api.action_models import (
    ActionListOut,
    ActionRunBody,
    ActionRunList,
    ActionRunOut,
    HistoryPage,
    action_list_out,
    run_out,
    run_summary,
)
from api.auth.authz import require_principal
from api.auth.principal import Principal
from api.errors import ApiError
from api.keys import ACTIONS_CLIENT, AUTH_CONFIG, RESOLVER, SETTINGS, STORES
from api.openapi import ApiRoutes, body_of, query_of
from api.servers import granted_server
from collector.actions.answers import ActionList, RunResult
from collector.actions.client import (
    ActionsClient,
    ActionsClientError,
    ExporterRefusal,
    Requester,
    host_of,
)
from collector.storage import action_runs as runs
from collector.storage import servers as store

routes = ApiRoutes()

RELAYED_REFUSALS = frozenset({404, 409, 422, 429})
"""Exporter refusals answered with the exporter's own status: the caller can act on them. The others (401
bad signature or expired, 403 wrong server) are the service's configuration's problem: 502."""


async def _server(
    request: web.Request, minimum: Literal["viewer", "operator"]
) -> tuple[Principal, store.ServerRecord]:
    record = await granted_server(request, minimum)
    return require_principal(request), record


def _requester(principal: Principal, record: store.ServerRecord) -> Requester:
    if record.address is None:
        raise ApiError(
            422,
            "this server has no registered address, so its exporter cannot be asked",
            code="no_address",
        )
    return Requester(server_id=record.id, host=host_of(record.address), username=principal.username)


def _client_error(exc: ActionsClientError, run_id: UUID | None = None) -> ApiError:
    details: dict[str, object] = {"reason": exc.code}
    if run_id is not None:
        details["run_id"] = str(run_id)
    if isinstance(exc, ExporterRefusal):
        details["exporter_status"] = exc.status
        if exc.status in RELAYED_REFUSALS:
            return ApiError(
                exc.status, f"the exporter refused: {exc.message}", code=exc.code, details=details
            )
        return ApiError(502, f"the exporter refused: {exc.message}", code="exporter_refused", details=details)
    status = 504 if exc.code == "timeout" else 502
    return ApiError(status, exc.message, code="exporter_unavailable", details=details)


def _reason(exc: ApiError) -> str:
    """The most precise code of a refusal: the exporter's or the connection's, else the API error's."""
    reason = exc.details.get("reason") if isinstance(exc.details, dict) else None
    return reason if isinstance(reason, str) else exc.code


async def _listing(request: web.Request, principal: Principal, record: store.ServerRecord) -> ActionList:
    key = await signing_key(request.app[SETTINGS])
    try:
        return await request.app[ACTIONS_CLIENT].list_actions(key, _requester(principal, record))
    except ActionsClientError as exc:
        raise _client_error(exc) from None


@routes.get(
    "/api/servers/{id}/actions",
    name="servers.actions.list",
    summary="List a server's remote actions",
    tag="actions",
    role="viewer",
    response=ActionListOut,
)
async def actions_list(request: web.Request) -> ActionListOut:
    """What the host offers, asked of its exporter now (a signed listing request). A host whose actions
    cannot be read (no signing key, no address, no listener, a refusal) is answered with ``available``
    false and the reason, as most hosts run no actions listener: that is a state, not an error."""
    principal, record = await _server(request, "viewer")
    try:
        return action_list_out(record.id, await _listing(request, principal, record))
    except ApiError as exc:
        return ActionListOut(
            server_id=record.id,
            available=False,
            reason=_reason(exc),
            message=exc.message,
            actions=[],
        )


def _cap(text: str, limit: int) -> tuple[str, bool]:
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text, False
    return data[:limit].decode("utf-8", errors="ignore"), True


def _run_end(result: RunResult, limit: int) -> runs.RunEnd:
    stdout, cut_out = _cap(result.stdout, limit)
    stderr, cut_err = _cap(result.stderr, limit)
    outcome: runs.Outcome = "succeeded" if result.exit_code == 0 else "failed"
    if result.timed_out or result.exit_code is None:
        outcome = "timed_out"
    return runs.RunEnd(
        outcome,
        exit_code=result.exit_code,
        duration_s=result.duration_s,
        stdout=stdout,
        stderr=stderr,
        truncated=result.truncated or cut_out or cut_err,
    )


@routes.post(
    "/api/servers/{id}/actions/{name}",
    name=RUN_ROUTE,
    summary="Run a remote action",
    tag="actions",
    role="operator",
    body=ActionRunBody,
    response=ActionRunOut,
    errors=(
        (404, "No such server, or the host offers no such action"),
        (409, "Remote actions are not set up, or the exporter saw this request before"),
        (429, "Too many actions requested, or the host is busy"),
        (502, "The exporter refused or cannot be reached"),
        (504, "The exporter did not answer in time"),
    ),
)
async def action_run(request: web.Request) -> ActionRunOut:
    """Run the action on the host and answer when it has finished: the run with its exit code, duration and
    output (each stream capped), whatever the exit code. A destructive action needs ``totp_code``."""
    body = body_of(request, ActionRunBody)
    name = request.match_info["name"]
    note(request, params=body.params)
    principal, record = await _server(request, "operator")
    stores, settings = request.app[STORES], request.app[SETTINGS]
    base = runs.RunRequest(record.id, name, body.params, False, principal.actor, principal.username)
    try:
        now = request.app[AUTH_CONFIG].clock()
        await spend_rate(stores.redis, principal.user_id, settings.actions.runs_per_minute, now=now)
        listing = await _listing(request, principal, record)
        spec = listing.get(name)
        if spec is None:
            raise ApiError(404, f"the host offers no action {name!r}", code="unknown_action")
        base = runs.RunRequest(
            record.id, name, body.params, spec.destructive, principal.actor, principal.username
        )
        if spec.destructive:
            await step_up(stores, principal, body.totp_code, now=now)
    except ApiError as exc:
        # Nothing was sent to run: refused here, or the exporter could not even be asked (an error).
        outcome: runs.Outcome = "error" if exc.status >= 500 else "refused"
        reason = _reason(exc)
        refused = await runs.record_refusal(stores.pg, base, reason, exc.message, outcome=outcome)
        note(request, run_id=str(refused.id), outcome=outcome, reason=reason)
        raise
    run_id = await runs.start_run(stores.pg, base)
    note(request, run_id=str(run_id), destructive=spec.destructive)
    started = time.monotonic()
    try:
        result = await request.app[ACTIONS_CLIENT].run_action(
            await signing_key(settings), _requester(principal, record), name, body.params
        )
    except ActionsClientError as exc:
        outcome = "refused" if isinstance(exc, ExporterRefusal) else "error"
        await runs.finish_run(
            stores.pg,
            run_id,
            runs.RunEnd(outcome, reason=exc.code, message=exc.message, duration_s=time.monotonic() - started),
        )
        note(request, outcome=outcome, reason=exc.code)
        raise _client_error(exc, run_id) from None
    finished = await runs.finish_run(stores.pg, run_id, _run_end(result, settings.actions.output_limit_bytes))
    note(request, outcome=finished.outcome, exit_code=finished.exit_code, duration_s=finished.duration_s)
    return run_out(finished)


@routes.get(
    "/api/servers/{id}/actions/history",
    name="servers.actions.history",
    summary="The history of a server's remote actions",
    tag="actions",
    role="viewer",
    query=HistoryPage,
    response=ActionRunList,
)
async def actions_history(request: web.Request) -> ActionRunList:
    """Requests for the server's actions, newest first: who, when, what, the outcome (without output)."""
    page = query_of(request, HistoryPage)
    _, record = await _server(request, "viewer")
    found, total = await runs.list_runs(
        request.app[STORES].pg, record.id, limit=page.limit, offset=page.offset
    )
    return ActionRunList(
        runs=[run_summary(run) for run in found], total=total, limit=page.limit, offset=page.offset
    )


@routes.get(
    "/api/servers/{id}/actions/history/{run_id}",
    name="servers.actions.run_record",
    summary="One remote action run, with its output",
    tag="actions",
    role="viewer",
    response=ActionRunOut,
)
async def action_run_record(request: web.Request) -> ActionRunOut:
    """One request of the history with its output; ``outcome`` is ``running`` until it has finished."""
    _, record = await _server(request, "viewer")
    raw = request.match_info["run_id"]
    try:
        run_id = UUID(raw)
    except ValueError:
        raise ApiError(404, f"no such run: {raw}") from None
    found = await runs.get_run(request.app[STORES].pg, record.id, run_id)
    if found is None:
        raise ApiError(404, f"no such run: {raw}")
    return run_out(found)


def setup_actions(app: web.Application) -> None:
    """Register the routes and the client of the exporters' listeners (one HTTP session per process)."""
    routes.register(app)

    async def client_ctx(app: web.Application) -> AsyncIterator[None]:
        settings = app[SETTINGS]
        client = ActionsClient(settings.actions, settings.registration, resolver=app.get(RESOLVER))
        client.open()
        app[ACTIONS_CLIENT] = client
        yield
        await client.close()

    app.cleanup_ctx.append(client_ctx)
