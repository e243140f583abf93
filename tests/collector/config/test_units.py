"""Prometheus durations and sizes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collector.config.units import format_duration, parse_duration, parse_size


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("0", 0),
        ("0s", 0),
        ("15s", 15),
        ("1m30s", 90),
        ("90s", 90),
        ("2h", 7200),
        ("500ms", 0.5),
        ("1m500ms", 60.5),
        ("1d", 86400),
        ("1w", 7 * 86400),
        ("1y", 365 * 86400),
        ("1y2w3d4h5m6s7ms", 365 * 86400 + 2 * 7 * 86400 + 3 * 86400 + 4 * 3600 + 5 * 60 + 6 + 0.007),
    ],
)
def test_parse_duration_reads_prometheus_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "15", "1.5m", "15 s", "1s1m", "-1s", "1x", "s", "1h 30m", "1M"])
def test_parse_duration_rejects_other_forms_naming_the_expected_one(text: str) -> None:
    with pytest.raises(ValueError, match=r"expected e\.g\. 15s, 1m30s"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (0.5, "500ms"),
        (15, "15s"),
        (90, "1m30s"),
        (3600, "1h"),
        (86400 + 1, "1d1s"),
        (7 * 86400, "7d"),
    ],
)
def test_format_duration_writes_the_shortest_form(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@given(st.integers(min_value=0, max_value=10**11))
def test_format_duration_round_trips_whole_milliseconds(milliseconds: int) -> None:
    assert parse_duration(format_duration(milliseconds / 1000)) == pytest.approx(milliseconds / 1000)


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("0", 0),
        ("100", 100),
        ("100B", 100),
        ("512KB", 512 * 1024),
        ("512KiB", 512 * 1024),
        ("10MB", 10 * 1024 * 1024),
        ("1GiB", 1 << 30),
        ("2TB", 2 << 40),
        (" 1MB ", 1 << 20),
    ],
)
def test_parse_size_reads_powers_of_1024(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "MB", "1.5MB", "10 MB", "-1", "10mb", "10M", "10XB"])
def test_parse_size_rejects_other_forms_naming_the_expected_one(text: str) -> None:
    with pytest.raises(ValueError, match=r"expected e\.g\. 0, 512KB, 10MB"):
        parse_size(text)
