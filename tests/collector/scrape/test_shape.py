"""The steady-state fast path reads only pages of exactly the shape of an accepted one."""

from __future__ import annotations

import pytest

from collector.scrape.shape import PageShape

PAGE = '# HELP a A thing.\n# TYPE a gauge\na 1\nb{x="1 2"} 2.5\n'
TEXT = "text/plain; version=0.0.4"


def test_same_shape_gives_the_new_values_in_page_order() -> None:
    shape = PageShape(PAGE, TEXT, openmetrics=False)
    assert shape.count == 2
    assert shape.values(b'# HELP a A thing.\n# TYPE a gauge\na 7\nb{x="1 2"} -1e-3\n', TEXT) == [7.0, -0.001]


@pytest.mark.parametrize(
    "page",
    [
        PAGE.replace("a 1", "a NaN"),
        PAGE.replace("a 1", "a 1_0"),
        PAGE.replace("a 1", "a ١"),
        PAGE.replace("a 1", "a 0x1"),
        PAGE.replace("a 1", "a 1e"),
        PAGE.replace("A thing.", "A thing!"),
        PAGE.replace("gauge", "counter"),
        PAGE.replace("a 1", "a 1 1700000000000"),
        PAGE + "c 3\n",
        PAGE.replace("a 1\n", ""),
        PAGE.replace('x="1 2"', 'x="1 3"'),
    ],
    ids=[
        "nan",
        "underscore",
        "unicode_digit",
        "hex",
        "bad_exponent",
        "help",
        "type",
        "timestamp",
        "added_line",
        "removed_line",
        "label_value",
    ],
)
def test_any_other_difference_means_the_full_parser(page: str) -> None:
    assert PageShape(PAGE, TEXT, openmetrics=False).values(page.encode(), TEXT) is None


def test_other_content_type_or_invalid_utf8_means_the_full_parser() -> None:
    shape = PageShape(PAGE, TEXT, openmetrics=False)
    assert shape.values(PAGE.encode(), "application/openmetrics-text; version=1.0.0") is None
    assert shape.values(PAGE.encode().replace(b"a 1", b"a \xff"), TEXT) is None


def test_openmetrics_negative_values_take_the_full_parser() -> None:
    page = "# TYPE c counter\nc_total 1\n# EOF\n"
    shape = PageShape(page, "application/openmetrics-text", openmetrics=True)
    content_type = "application/openmetrics-text"
    assert shape.values(page.replace(" 1", " 2").encode(), content_type) == [2.0]
    assert shape.values(page.replace(" 1", " -2").encode(), content_type) is None


def test_page_without_samples_has_no_fast_path() -> None:
    shape = PageShape("# TYPE a gauge\n", TEXT, openmetrics=False)
    assert shape.count == 0 and shape.values(b"# TYPE a gauge\n", TEXT) is None
