"""What the engine and the notifier share: bounded matchers of alert configuration, time conversions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import TypeAdapter, ValidationError

from collector.alerts.model import (
    MAX_MATCHER_NAME_CHARS,
    MAX_MATCHER_VALUE_CHARS,
    AlertMatcher,
    to_datetime,
    to_seconds,
)
from collector.alerts.notify.channels import parse_channel
from collector.alerts.rules import Rule
from collector.alerts.silences import Silence

ALERT_MATCHER: TypeAdapter[AlertMatcher] = TypeAdapter(AlertMatcher)


def test_an_alert_matcher_may_be_as_long_as_the_limits() -> None:
    name, value = "n" * MAX_MATCHER_NAME_CHARS, "v" * MAX_MATCHER_VALUE_CHARS
    matcher = ALERT_MATCHER.validate_python({"name": name, "op": "=~", "value": value})
    assert (matcher.name, matcher.value) == (name, value)


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"name": "n" * (MAX_MATCHER_NAME_CHARS + 1), "value": "x"}, "label name may have at most 128"),
        ({"name": "job", "value": "v" * (MAX_MATCHER_VALUE_CHARS + 1)}, "'job' may have at most 1024"),
        ({"name": "job", "op": "=~", "value": "(" * 2000}, "at most 1024"),
        ({"name": "job", "op": "=~", "value": "("}, "not a valid regular expression"),
    ],
)
def test_an_alert_matcher_over_a_limit_is_refused(data: dict[str, str], fragment: str) -> None:
    with pytest.raises(ValidationError, match=fragment):
        ALERT_MATCHER.validate_python(data)


LONG = [{"name": "instance", "op": "=~", "value": "web-.*" + "|x" * MAX_MATCHER_VALUE_CHARS}]


@pytest.mark.parametrize(
    ("model", "data"),
    [
        (Rule.model_validate, {"name": "Down", "kind": "down", "matchers": LONG}),
        (Silence.model_validate, {"matchers": LONG, "starts_at": 0, "ends_at": 60, "created_by": "op"}),
        (parse_channel, {"kind": "slack", "name": "s", "url": "https://hooks.example/x", "matchers": LONG}),
    ],
    ids=["rule", "silence", "channel"],
)
def test_alert_configuration_refuses_a_matcher_over_the_limits(
    model: object, data: dict[str, object]
) -> None:
    assert callable(model)
    with pytest.raises(ValidationError, match="may have at most 1024 characters"):
        model(data)


def test_unix_seconds_and_aware_datetimes_convert_both_ways() -> None:
    at = to_datetime(1_800_000_000.25)
    assert at == datetime(2027, 1, 15, 8, 0, 0, 250_000, tzinfo=UTC)
    assert to_seconds(at) == 1_800_000_000.25
    assert to_datetime(None) is None and to_seconds(None) is None
