"""The event of a remote action request: who, what, the outcome and its level, whatever answered it."""

from __future__ import annotations

import uuid

import pytest
from aiohttp.test_utils import make_mocked_request

from api.action_log import SOURCE, event_for, note
from api.auth.principal import PRINCIPAL, Principal


def _request(server_id: str) -> object:
    request = make_mocked_request(
        "POST", f"/api/servers/{server_id}/actions/restart", match_info={"id": server_id, "name": "restart"}
    )
    request[PRINCIPAL] = Principal(uuid.uuid4(), "ana", "operator", "user", "jti")
    return request


@pytest.mark.parametrize(
    ("status", "notes", "level", "outcome"),
    [
        (200, {"outcome": "succeeded", "exit_code": 0}, "info", "succeeded"),
        (200, {"outcome": "failed", "exit_code": 3}, "warning", "failed"),
        (403, {}, "warning", "refused"),
        (502, {"outcome": "error", "reason": "connection"}, "error", "error"),
    ],
)
def test_the_event_names_the_outcome_at_its_level(
    status: int, notes: dict[str, object], level: str, outcome: str
) -> None:
    server_id = uuid.uuid4()
    request = _request(str(server_id))
    note(request, params={"unit": "app.service"}, **notes)  # type: ignore[arg-type]
    event = event_for(request, status, None if notes else "forbidden")  # type: ignore[arg-type]
    assert (event.source, event.level, event.server_id) == (SOURCE, level, server_id)
    assert event.detail is not None
    assert (event.detail["outcome"], event.detail["requested_by"], event.detail["status"]) == (
        outcome,
        "ana",
        status,
    )
    assert event.detail["params"] == {"unit": "app.service"}
    assert "'restart' requested by ana" in event.message


def test_an_id_that_is_not_a_uuid_names_no_server() -> None:
    event = event_for(_request("not-a-uuid"), 404, "not_found")  # type: ignore[arg-type]
    assert event.server_id is None and event.detail is not None and event.detail["reason"] == "not_found"
