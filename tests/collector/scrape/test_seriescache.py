"""The series cache: a warm parse returns what a cold one does, and the cache follows the target's series."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collector.scrape.parser import ParseError, parse_format
from collector.scrape.samples import Format, MetricMeta, Sample
from collector.scrape.seriescache import CachedSeries, SeriesCache
from tests.collector.scrape.pages import (
    PROPERTY_SETTINGS,
    Line,
    float_text,
    mutate,
    openmetrics_pages,
    parse_openmetrics,
    parse_text,
    rows,
    text_pages,
)

# --- the series cache ---------------------------------------------------------------------------------


TEXT_PAGE = (
    "# HELP cpu_seconds_total Seconds.\n# TYPE cpu_seconds_total counter\n"
    'cpu_seconds_total{cpu="0",mode="idle"} 1\ncpu_seconds_total{cpu="0",mode="user"} 2\n'
    '# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 3\nh_count 2\n'
    'fs{mount="/mnt/a b",note="x\\"y"} NaN\nstamped 1 1700000000000\n'
)


def test_warm_parse_returns_what_a_cold_parse_returns() -> None:
    cache = SeriesCache()
    cold = parse_text(TEXT_PAGE)
    for _ in range(3):
        warm = parse_text(TEXT_PAGE, cache)
        assert rows(warm) == rows(cold)
        assert warm.metadata == cold.metadata
    assert len(cache) == 8


def test_warm_parse_reuses_the_parsed_labels() -> None:
    cache = SeriesCache()
    first = parse_text(TEXT_PAGE, cache)
    second = parse_text(TEXT_PAGE.replace("} 1\n", "} 5\n"), cache)
    assert all(a.labels is b.labels for a, b in zip(first.samples, second.samples, strict=True))
    assert second.samples[0] == Sample("cpu_seconds_total", (("cpu", "0"), ("mode", "idle")), 5.0, None)


def test_series_gone_from_the_page_are_evicted() -> None:
    cache = SeriesCache()
    parse_text("a 1\nb 1\nc 1\n", cache)
    assert len(cache) == 3
    parse_text("a 2\n", cache)
    assert len(cache) == 1


def test_churning_series_keep_the_cache_bounded() -> None:
    cache = SeriesCache()
    for scrape in range(50):
        page = "".join(f'requests{{id="{scrape}-{i}"}} 1\n' for i in range(20)) + "steady 1\n"
        assert len(parse_text(page, cache).samples) == 21
        assert len(cache) == 21


def test_duplicate_is_caught_with_a_warm_cache() -> None:
    cache = SeriesCache()
    parse_text("a 1\nb 1\n", cache)
    with pytest.raises(ParseError, match="duplicate sample") as caught:
        parse_text("a 1\nb 1\na 2\n", cache)
    assert caught.value.line == 3


def test_a_failed_parse_empties_the_cache_and_the_next_one_refills_it() -> None:
    cache = SeriesCache()
    parse_text("a 1\nb 1\n", cache)
    with pytest.raises(ParseError):
        parse_text("a 1\nb x\n", cache)
    assert len(cache) == 0
    assert rows(parse_text("a 1\nb 1\n", cache)) == [("a", {}, 1.0, None), ("b", {}, 1.0, None)]


def test_changed_type_is_honoured_despite_cached_labels() -> None:
    cache = SeriesCache()
    typed = '# TYPE h histogram\nh_bucket{le="1"} 1\n'
    untyped = 'h_bucket{le="1"} 1\n'
    assert rows(parse_text(typed, cache))[0][1] == {"le": "1.0"}
    assert rows(parse_text(untyped, cache))[0][1] == {"le": "1"}
    assert rows(parse_text(typed, cache))[0][1] == {"le": "1.0"}
    as_summary = '# TYPE h_bucket summary\nh_bucket{le="1"} 1\n'
    assert rows(parse_text(as_summary, cache))[0][1] == {"le": "1"}


def test_switching_format_does_not_reuse_lenient_text_entries() -> None:
    cache = SeriesCache()
    parse_text('foo{a="b",} 1\n', cache)
    with pytest.raises(ParseError, match="trailing comma"):
        parse_openmetrics('foo{a="b",} 1\n# EOF\n', cache)


def test_second_spelling_of_a_series_is_parsed_but_not_cached() -> None:
    cache = SeriesCache()
    parse_text('foo{a="1",b="2"} 1 10\nfoo{b="2",a="1"} 2 20\n', cache)
    assert len(cache) == 1
    again = parse_text('foo{a="1",b="2"} 1 10\nfoo{b="2",a="1"} 2 20\n', cache)
    assert rows(again) == [("foo", {"a": "1", "b": "2"}, 1.0, 10), ("foo", {"a": "1", "b": "2"}, 2.0, 20)]


def test_without_a_cache_every_parse_is_cold_and_equal() -> None:
    assert rows(parse_text(TEXT_PAGE)) == rows(parse_text(TEXT_PAGE))


# --- property tests: the cache never changes an outcome -----------------------------------------------


Outcome = tuple[object, ...]


def outcome(page: str, fmt: Format, cache: SeriesCache | None) -> Outcome:
    try:
        result = parse_format(page.encode(), fmt, cache)
    except ParseError as exc:
        return ("error", exc.line, str(exc))
    return ("ok", rows(result), result.metadata, result.exemplars)


@st.composite
def page_pairs(draw: st.DrawFn) -> tuple[Format, str, str]:
    """A valid page and a later scrape of the same target: lines dropped, values changed, maybe broken."""
    page = draw(st.one_of(text_pages(), openmetrics_pages()))
    kept = [line for line in page.lines if draw(st.integers(0, 4)) > 0]
    if page.fmt == "text":
        kept = [
            replace(line, value=float_text(draw, draw(st.floats()))) if isinstance(line, Line) else line
            for line in kept
        ]
    later = replace(page, lines=tuple(kept))
    mutation = mutate(draw, later) if draw(st.booleans()) else None
    return page.fmt, page.text(), later.text() if mutation is None else mutation.page


@PROPERTY_SETTINGS
@given(page_pairs())
def test_warm_cache_gives_the_cold_outcome(pair: tuple[Format, str, str]) -> None:
    fmt, first, later = pair
    cache = SeriesCache()
    assert outcome(first, fmt, cache) == outcome(first, fmt, None)
    expected = outcome(later, fmt, None)
    assert outcome(later, fmt, cache) == expected
    assert outcome(later, fmt, cache) == expected
    assert outcome(first, fmt, cache) == outcome(first, fmt, None)


# --- the cache's own operations -----------------------------------------------------------------------


def test_another_format_empties_the_cache_and_the_same_one_keeps_it() -> None:
    cache = SeriesCache()
    cache.use_format("text")
    parse_text("a 1\n", cache)
    cache.use_format("text")
    assert len(cache) == 1
    cache.use_format("openmetrics")
    assert len(cache) == 0
    assert cache.format == "openmetrics"


def test_generations_keep_counting_across_a_clear() -> None:
    cache = SeriesCache()
    first = cache.next_generation()
    cache.clear()
    assert cache.next_generation() == first + 1


def test_remembered_metadata_is_rebuilt_only_when_the_page_metadata_changes() -> None:
    cache = SeriesCache()
    helps, types, units = {"a": "A."}, {"a": "counter", "b": "gauge"}, {"a": "seconds"}
    metadata = cache.remember_metadata({}, helps, types, units, "untyped")
    assert metadata == {
        "a": MetricMeta("a", "counter", "A.", "seconds"),
        "b": MetricMeta("b", "gauge", "", ""),
    }
    assert cache.remember_metadata({}, dict(helps), dict(types), dict(units), "untyped") is metadata
    changed = cache.remember_metadata({}, {}, {"c": "summary"}, {}, "untyped")
    assert changed == {"c": MetricMeta("c", "summary", "", "")}
    assert cache.types == {"c": "summary"}


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ((), "up"),
        ((("job", "node"),), "up{job='node'}"),
        ((("a", 'x"y'), ("b", "")), "up{a='x\"y',b=''}"),
    ],
)
def test_a_cached_series_is_shown_with_its_labels(labels: tuple[tuple[str, str], ...], expected: str) -> None:
    assert CachedSeries("up", labels).text() == expected
