"""The models of the actions routes: the run body's limits, and runs and listings in the API's form."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from api.action_models import MAX_PARAMS, ActionRunBody, action_list_out, run_out, run_summary
from collector.actions.answers import ActionList, ActionParam, ActionSpec
from collector.storage.action_runs import ActionRun


@pytest.mark.parametrize(
    "body",
    [
        {"params": {f"p{i}": "v" for i in range(MAX_PARAMS + 1)}},
        {"params": {"unit": "x" * 1025}},
        {"params": {"": "v"}},
        {"params": {"unit": 5}},
        {"command": "rm -rf /"},
    ],
)
def test_a_body_past_its_limits_is_refused(body: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        ActionRunBody.model_validate(body)


def test_a_body_keeps_newlines_for_the_exporter_to_refuse() -> None:
    body = ActionRunBody.model_validate({"params": {"unit": "a\nb"}, "totp_code": "123456"})
    assert body.params == {"unit": "a\nb"} and body.totp_code == "123456"


def test_runs_and_listings_in_the_apis_form() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    run = ActionRun(
        uuid.uuid4(),
        uuid.uuid4(),
        "restart",
        {"unit": "a"},
        True,
        "id",
        "ana",
        at,
        None,
        "running",
        None,
        None,
        None,
        None,
        "out",
        None,
        False,
    )
    summary = run_summary(run)
    assert (summary.requested_by, summary.requested_at, summary.finished_at) == ("ana", at.timestamp(), None)
    assert "stdout" not in summary.model_dump()
    assert run_out(run).stdout == "out"
    listing = ActionList(
        "s", (ActionSpec("restart", "", "systemd", True, 30.0, (ActionParam("unit", True, ("a",), None),)),)
    )
    out = action_list_out(uuid.UUID(int=1), listing)
    assert out.actions[0].params[0].enum == ["a"]
