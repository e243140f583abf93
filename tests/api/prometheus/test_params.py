"""Reading parameters as Prometheus does: times, durations, selectors, limits, the form before the query."""

from __future__ import annotations

import pytest

from api.prometheus.params import (
    Form,
    label_name,
    limit_param,
    parse_duration_ms,
    parse_duration_ns,
    parse_time,
    required_time,
    selectors,
    time_param,
)
from collector.promql.errors import BadDataError
from collector.storage.samples_read import MAX_MS, MIN_MS


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("1700000000", 1_700_000_000_000),
        ("1700000000.123", 1_700_000_000_123),
        ("1700000000.1235", 1_700_000_000_124),  # rounded to the millisecond, half away from zero
        ("-1.5", -1_500),
        ("1e3", 1_000_000),
        (".5", 500),
        ("2023-11-14T22:13:20Z", 1_700_000_000_000),
        ("2023-11-14T22:13:20.5Z", 1_700_000_000_500),
        ("2023-11-14t22:13:20.123456789z", 1_700_000_000_123),  # nanoseconds are cut to milliseconds
        ("2023-11-15T07:13:20+09:00", 1_700_000_000_000),
        ("-292273086-05-16T16:47:06Z", MIN_MS),  # Prometheus's minimum time, as clients send it
        ("292277025-08-18T07:12:54.999999999Z", MAX_MS),
    ],
)
def test_times_are_unix_seconds_or_rfc3339(text: str, ms: int) -> None:
    assert parse_time(text) == ms


@pytest.mark.parametrize(
    "text", ["", "now", "1_000", "Inf", "NaN", "2023-11-14", "2023-11-14T22:13:20", "0x10"]
)
def test_other_times_are_refused_in_prometheus_s_words(text: str) -> None:
    with pytest.raises(ValueError, match=f'cannot parse "{text}" to a valid timestamp'):
        parse_time(text)


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("15", 15_000),
        ("0.5", 500),
        ("1m30s", 90_000),
        ("1h", 3_600_000),
        ("250ms", 250),
        ("0", 0),
        ("0.0004", 0),
    ],
)
def test_durations_are_seconds_or_prometheus_durations(text: str, ms: int) -> None:
    assert parse_duration_ms(text) == ms


def test_durations_keep_nanoseconds_and_refuse_overflow() -> None:
    assert parse_duration_ns("0.000001") == 1_000
    with pytest.raises(ValueError, match="overflows int64"):
        parse_duration_ns("1e12")
    with pytest.raises(ValueError, match='cannot parse "1x" to a valid duration'):
        parse_duration_ns("1x")


def test_the_form_body_comes_before_the_query_string_and_keeps_repeats() -> None:
    form = Form((("time", "1"), ("match[]", "a"), ("time", "2"), ("match[]", "b")))
    assert form.get("time") == "1"
    assert form.get("absent") == ""
    assert form.all("match[]") == ["a", "b"]


def test_time_parameters_name_themselves_in_errors() -> None:
    form = Form((("start", "x"),))
    assert time_param(form, "end", 7) == 7
    with pytest.raises(BadDataError, match='invalid parameter "start": cannot parse "x"'):
        time_param(form, "start", None)
    with pytest.raises(BadDataError, match='invalid parameter "end": cannot parse "" to a valid timestamp'):
        required_time(form, "end")


def test_selectors_are_series_selectors_only() -> None:
    form = Form((("match[]", 'up{job="a"}'), ("match[]", '{__name__=~"node_.*"}')))
    found = selectors(form, required=True)
    assert [sorted((m.name, m.op, m.value) for m in matchers) for matchers in found] == [
        [("__name__", "=", "up"), ("job", "=", "a")],
        [("__name__", "=~", "node_.*")],
    ]
    assert selectors(Form(()), required=False) == []
    with pytest.raises(BadDataError, match="no match\\[\\] parameter provided"):
        selectors(Form(()), required=True)
    for text in ("rate(up[5m])", "up offset 5m", "up{", "1"):
        with pytest.raises(BadDataError, match='invalid parameter "match\\[\\]"'):
            selectors(Form((("match[]", text),)), required=True)


@pytest.mark.parametrize(("text", "limit"), [("", None), ("0", None), ("5", 5)])
def test_limits(text: str, limit: int | None) -> None:
    assert limit_param(Form((("limit", text),))) == limit


@pytest.mark.parametrize("text", ["-1", "x", "1.5"])
def test_bad_limits(text: str) -> None:
    with pytest.raises(BadDataError, match='invalid parameter "limit"'):
        limit_param(Form((("limit", text),)))


def test_label_names_are_checked() -> None:
    assert label_name("__name__") == "__name__"
    with pytest.raises(BadDataError, match='invalid label name: "a-b"'):
        label_name("a-b")
