"""The sample-name suffixes of each family type, and which family a sample name belongs to."""

from __future__ import annotations

import pytest

from collector.scrape.families import family_of, sample_suffixes, text_sample_names, text_sample_suffixes


@pytest.mark.parametrize(
    ("type_name", "openmetrics", "text"),
    [
        ("counter", ("_total", "_created"), ("",)),
        ("gauge", ("",), ("",)),
        ("histogram", ("_bucket", "_count", "_sum", "_created"), ("_bucket", "_sum", "_count")),
        ("gaugehistogram", ("_bucket", "_gcount", "_gsum"), ("",)),
        ("summary", ("", "_count", "_sum", "_created"), ("", "_sum", "_count")),
        ("info", ("_info",), ("",)),
        ("stateset", ("",), ("",)),
        ("unknown", ("",), ("",)),
        ("untyped", ("",), ("",)),
    ],
)
def test_sample_suffixes_per_type_and_format(
    type_name: str, openmetrics: tuple[str, ...], text: tuple[str, ...]
) -> None:
    assert sample_suffixes(type_name) == openmetrics
    assert text_sample_suffixes(type_name) == text


def test_a_text_type_line_covers_the_classic_series_of_its_family() -> None:
    assert text_sample_names("rpc", "histogram") == ("rpc_bucket", "rpc_sum", "rpc_count")
    assert text_sample_names("up", "gauge") == ("up",)


TYPES = {"rpc": "histogram", "q": "gaugehistogram", "req": "counter", "temp": "gauge", "build": "info"}


@pytest.mark.parametrize(
    ("name", "family"),
    [
        ("rpc", "rpc"),
        ("rpc_bucket", "rpc"),
        ("rpc_created", "rpc"),
        ("q_gsum", "q"),  # also ends with _sum, but q_g is no family
        ("req_total", "req"),
        ("build_info", "build"),
        ("temp", "temp"),
        ("temp_total", None),  # a gauge has no _total sample
        ("req_bucket", None),
        ("other_sum", None),
    ],
)
def test_a_sample_name_belongs_to_the_family_whose_type_gives_it_its_suffix(
    name: str, family: str | None
) -> None:
    assert family_of(name, TYPES) == family
