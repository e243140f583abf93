"""Request and response models of ``/api/servers/{id}/actions``: the host's actions, a run, the history."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, Field, StringConstraints

from api.openapi import BodyModel, QueryModel
from collector.actions.answers import ActionList, ActionSpec
from collector.storage.action_runs import ActionRun, Outcome

MAX_PARAMS = 32
ParamName = Annotated[str, StringConstraints(min_length=1, max_length=64)]
ParamValue = Annotated[str, StringConstraints(max_length=1024)]


class ActionParamOut(BaseModel):
    """A parameter an action takes: one of ``enum``, or a string matching ``pattern`` in full."""

    name: str
    required: bool
    enum: list[str] | None
    pattern: str | None


class ActionOut(BaseModel):
    """One action the host offers."""

    name: str
    description: str
    kind: Literal["systemd", "command"]
    destructive: bool = Field(description="needs a fresh TOTP code of the caller")
    timeout_s: float
    params: list[ActionParamOut]


class ActionListOut(BaseModel):
    """What the host offers, read from its exporter now; when it cannot be read, why (and no actions)."""

    server_id: UUID
    available: bool = Field(description="the exporter's actions listener answered the listing")
    reason: str | None = Field(
        default=None,
        description="why not: actions_not_configured, no_address, connection, timeout, tls, refused,"
        " bad_answer, or the exporter's refusal code (bad_signature, wrong_server …)",
    )
    message: str | None = None
    actions: list[ActionOut]


def action_out(spec: ActionSpec) -> ActionOut:
    """The API's form of an action."""
    return ActionOut(
        name=spec.name,
        description=spec.description,
        kind=spec.kind,
        destructive=spec.destructive,
        timeout_s=spec.timeout_s,
        params=[
            ActionParamOut(
                name=p.name,
                required=p.required,
                enum=None if p.enum is None else list(p.enum),
                pattern=p.pattern,
            )
            for p in spec.params
        ],
    )


def action_list_out(server_id: UUID, listing: ActionList) -> ActionListOut:
    """The API's form of a host's listing."""
    return ActionListOut(
        server_id=server_id, available=True, actions=[action_out(spec) for spec in listing.actions]
    )


class ActionRunBody(BodyModel):
    """Run an action: its parameters, and for a destructive action a current TOTP code of the caller."""

    params: dict[ParamName, ParamValue] = Field(default_factory=dict, max_length=MAX_PARAMS)
    totp_code: Annotated[str, StringConstraints(max_length=16)] | None = Field(
        default=None,
        description="a current code of the caller's authenticator; needed for destructive actions",
    )


class ActionRunSummary(BaseModel):
    """One request in the history, without its output."""

    id: UUID
    server_id: UUID
    action: str
    params: dict[str, str]
    destructive: bool
    requested_by: str = Field(description="the username")
    requested_at: float = Field(description="Unix seconds")
    finished_at: float | None
    outcome: Outcome = Field(
        description="running; succeeded (exit 0), failed (another exit code), timed_out; refused (here or"
        " by the exporter, nothing ran); error (no usable answer from the exporter)"
    )
    reason: str | None = Field(description="why it was refused or failed: totp_required, replayed, …")
    message: str | None
    exit_code: int | None
    duration_s: float | None


class ActionRunOut(ActionRunSummary):
    """One request with its output (each stream capped)."""

    stdout: str | None
    stderr: str | None
    truncated: bool


class ActionRunList(BaseModel):
    """A page of the history, newest first."""

    runs: list[ActionRunSummary]
    total: int
    limit: int
    offset: int


class HistoryPage(QueryModel):
    """Paging of the history."""

    limit: int = Field(default=50, ge=1, le=500)
    offset: int = Field(default=0, ge=0)


def _summary_fields(run: ActionRun) -> dict[str, object]:
    return {
        "id": run.id,
        "server_id": run.server_id,
        "action": run.action,
        "params": run.params,
        "destructive": run.destructive,
        "requested_by": run.requested_by_name,
        "requested_at": run.requested_at.timestamp(),
        "finished_at": None if run.finished_at is None else run.finished_at.timestamp(),
        "outcome": run.outcome,
        "reason": run.reason,
        "message": run.message,
        "exit_code": run.exit_code,
        "duration_s": run.duration_s,
    }


def run_summary(run: ActionRun) -> ActionRunSummary:
    """A history row without output."""
    return ActionRunSummary.model_validate(_summary_fields(run))


def run_out(run: ActionRun) -> ActionRunOut:
    """A history row with its output."""
    return ActionRunOut.model_validate(
        {**_summary_fields(run), "stdout": run.stdout, "stderr": run.stderr, "truncated": run.truncated}
    )
