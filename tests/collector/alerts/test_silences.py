"""Silences: a time window and matchers; at least one matcher must select something."""

from __future__ import annotations

import uuid

import pytest
from pydantic import ValidationError

from collector.alerts.model import Alert
from collector.alerts.silences import Silence, confined_servers, is_silenced
from collector.matchers import Matcher

ALERT = Alert(
    fingerprint="f1",
    rule_id="r1",
    server_id=uuid.uuid4(),
    severity="warning",
    state="firing",
    labels={"alertname": "HighCpu", "job": "node", "instance": "web-1:9100"},
)


def silence(start: float = 100.0, end: float = 200.0, *matchers: Matcher) -> Silence:
    return Silence(
        matchers=matchers or (Matcher(name="alertname", value="HighCpu"),),
        starts_at=start,
        ends_at=end,
        created_by="alice",
        comment="maintenance",
    )


@pytest.mark.parametrize(
    ("t", "expected"), [(99.9, False), (100.0, True), (150.0, True), (199.9, True), (200.0, False)]
)
def test_silence_mutes_from_start_inclusive_to_end_exclusive(t: float, expected: bool) -> None:
    assert silence().mutes(ALERT, t) is expected
    assert is_silenced(ALERT, [silence()], t) is expected


def test_silence_mutes_only_matching_alerts() -> None:
    other = silence(100, 200, Matcher(name="alertname", value="HighMemory"))
    regex = silence(100, 200, Matcher(name="instance", op="=~", value="web-.*"))
    assert not is_silenced(ALERT, [other], 150) and is_silenced(ALERT, [other, regex], 150)


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"ends_at": 100.0}, "ends_at must be after starts_at"),
        ({"matchers": []}, "at least 1 item"),
        ({"matchers": [{"name": "job", "op": "=~", "value": ".*"}]}, "match every alert"),
        ({"created_by": ""}, "at least 1 character"),
    ],
)
def test_bad_silence_is_refused(fields: dict[str, object], fragment: str) -> None:
    data: dict[str, object] = {
        "matchers": [{"name": "alertname", "value": "HighCpu"}],
        "starts_at": 100.0,
        "ends_at": 200.0,
        "created_by": "alice",
        **fields,
    }
    with pytest.raises(ValidationError, match=fragment):
        Silence.model_validate(data)


A = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
B = "1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e"


@pytest.mark.parametrize(
    ("matchers", "expected"),
    [
        ([("alertname", "=", "HighCpu")], None),
        ([("alertname", "=~", ".+")], None),
        ([("server_id", "=", A)], {A}),
        ([("alertname", "=", "HighCpu"), ("server_id", "=", A)], {A}),
        ([("server_id", "=~", f"{A}|{B}")], {A, B}),
        ([("server_id", "=~", f"{A}|{B}"), ("server_id", "=", B)], {B}),
        ([("server_id", "=", A), ("server_id", "=", B)], set()),
        ([("server_id", "=~", f"{A}|.*")], None),
        ([("server_id", "=~", f"({A})")], None),
        ([("server_id", "=~", A.upper())], None),
        ([("server_id", "=~", A.replace("-", ""))], None),
        ([("server_id", "!=", A)], None),
        ([("server_id", "!~", A)], None),
        ([("server_id", "=", "not-an-id")], {"not-an-id"}),
    ],
)
def test_confined_servers_reads_the_server_id_matchers(
    matchers: list[tuple[str, str, str]], expected: set[str] | None
) -> None:
    made = [Matcher.model_validate({"name": n, "op": op, "value": v}) for n, op, v in matchers]
    confined = confined_servers(made)
    assert confined == (None if expected is None else frozenset(expected))
    if confined is not None:
        # What it answers holds: the silence's server_id matchers admit no other server.
        for server in (A, B, str(uuid.UUID(int=3))):
            labels = {"alertname": "HighCpu", "server_id": server}
            if all(m.matches(labels) for m in made if m.name == "server_id"):
                assert server in confined
