"""Silences: a time window and matchers; at least one matcher must select something."""

from __future__ import annotations

import uuid

import pytest
from pydantic import ValidationError

from collector.alerts.matchers import Matcher
from collector.alerts.model import Alert
from collector.alerts.silences import Silence, is_silenced

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
