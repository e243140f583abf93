"""One parse pass: the hot loops over cached series, the slow path, and what a pass reports when it stops."""

from __future__ import annotations

import pytest

from collector.scrape.parsepass import InvalidLineError, OverSampleLimitError, ParsePass, TypesChangedError
from collector.scrape.samples import Format, MetricMeta, Sample
from collector.scrape.seriescache import SeriesCache


def run(page: str, cache: SeriesCache, fmt: Format = "text", *, sample_limit: int = 0) -> ParsePass:
    """A pass over ``page`` (without ``# EOF``: the parser strips it), warm when the cache has series."""
    parse_pass = ParsePass(page.splitlines(), fmt, cache, True, len(cache) > 0, sample_limit=sample_limit)
    parse_pass.run()
    return parse_pass


def test_a_cold_pass_fills_the_cache_and_a_warm_one_takes_its_series_from_it() -> None:
    cache = SeriesCache()
    cold = run('# TYPE m gauge\nm{a="1"} 1\nm{a="2"} 2\n', cache)
    assert cold.samples == [Sample("m", (("a", "1"),), 1.0, None), Sample("m", (("a", "2"),), 2.0, None)]
    assert set(cache.keys) == {'m{a="1"}', 'm{a="2"}'}
    warm = run('# TYPE m gauge\nm{a="1"} 3\nm{a="2"} 4\n', cache)
    assert [s.value for s in warm.samples] == [3.0, 4.0]
    assert all(w.labels is c.labels for w, c in zip(warm.samples, cold.samples, strict=True))


def test_a_pass_returns_the_metadata_of_its_families() -> None:
    cache = SeriesCache()
    metadata = ParsePass(["# HELP m M.", "# TYPE m gauge", "m 1"], "text", cache, True, False).run()
    assert metadata == {"m": MetricMeta("m", "gauge", "M.", "")}


@pytest.mark.parametrize(
    ("fmt", "lines", "number", "message"),
    [
        ("text", ["a 1", "b x"], 2, "invalid number"),
        ("text", ["a 1", "a 2"], 2, "duplicate sample"),
        ("text", ["a 1", "# TYPE a gauge"], 2, "after its sample"),
        ("openmetrics", ["# TYPE a gauge", "# UNIT a seconds"], 2, "not a suffix"),
        ("openmetrics", ["a 1", ""], 2, "blank line"),
    ],
)
def test_an_invalid_line_is_reported_with_its_number(
    fmt: Format, lines: list[str], number: int, message: str
) -> None:
    with pytest.raises(InvalidLineError) as caught:
        ParsePass(lines, fmt, SeriesCache(), True, False).run()
    assert caught.value.number == number
    assert caught.value.line == lines[number - 1]
    assert message in caught.value.error.message


@pytest.mark.parametrize("warm", [False, True])
def test_a_pass_over_its_sample_limit_stops(warm: bool) -> None:
    cache = SeriesCache()
    page = "".join(f'm{{i="{i}"}} 1\n' for i in range(10))
    if warm:
        run(page, cache)
    with pytest.raises(OverSampleLimitError):
        run(page, cache, sample_limit=5)


def test_a_warm_pass_stops_when_a_type_changed() -> None:
    cache = SeriesCache()
    run('# TYPE h histogram\nh_bucket{le="1"} 1\n', cache)
    with pytest.raises(TypesChangedError):
        run('# TYPE h gauge\nh_bucket{le="1"} 1\n', cache)
    with pytest.raises(TypesChangedError):
        run('h_bucket{le="1"} 1\n', cache)
