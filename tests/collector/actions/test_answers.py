"""The exporter's answers read strictly: the protocol's shapes parse, anything else is a BadAnswerError."""

from __future__ import annotations

import pytest

from collector.actions.answers import BadAnswerError, parse_list, parse_run

GOOD_LIST: dict[str, object] = {
    "server_id": "s1",
    "actions": [
        {
            "name": "restart",
            "description": "Restart",
            "kind": "systemd",
            "destructive": True,
            "timeout_s": 30,
            "params": [{"name": "unit", "required": True, "enum": ["a.service"], "pattern": None}],
        }
    ],
}
GOOD_RUN: dict[str, object] = {
    "action": "restart",
    "exit_code": None,
    "duration_s": 30.0,
    "stdout": "",
    "stderr": "killed",
    "truncated": False,
    "timed_out": True,
}


def test_a_listing_and_a_run_parse() -> None:
    listing = parse_list(GOOD_LIST)
    restart = listing.get("restart")
    assert restart is not None and restart.destructive and restart.timeout_s == 30.0
    assert restart.params[0].enum == ("a.service",) and listing.get("stop") is None
    run = parse_run(GOOD_RUN)
    assert run.exit_code is None and run.timed_out


GOOD_ACTION: dict[str, object] = dict(GOOD_LIST["actions"][0])  # type: ignore[index]


def _action(**changes: object) -> dict[str, object]:
    return {"server_id": "s1", "actions": [{**GOOD_ACTION, **changes}]}


@pytest.mark.parametrize(
    "answer",
    [
        [],
        {"actions": []},
        _action(kind="shell"),
        _action(destructive="yes"),
        _action(timeout_s=True),
        _action(params=[{"name": "unit", "required": True, "enum": "a.service"}]),
        _action(params=[{"name": "unit", "required": True, "pattern": 5}]),
        _action(params=["unit"]),
    ],
)
def test_a_listing_of_another_shape_is_refused(answer: object) -> None:
    with pytest.raises(BadAnswerError):
        parse_list(answer)


@pytest.mark.parametrize(
    "answer",
    ["ok", {**GOOD_RUN, "exit_code": "0"}, {**GOOD_RUN, "exit_code": False}, {**GOOD_RUN, "stdout": None}],
)
def test_a_run_result_of_another_shape_is_refused(answer: object) -> None:
    with pytest.raises(BadAnswerError):
        parse_run(answer)
