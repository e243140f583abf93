"""Helpers of the parser's tests: samples in the tests' shape, and hypothesis strategies of pages.

The strategies draw valid pages of either format from a model (:class:`Page`, :class:`Line`) that renders
them, and break one line of a page (:func:`mutate`) where a parse must fail and says where.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace

from hypothesis import HealthCheck, assume, settings
from hypothesis import strategies as st

from collector.scrape.numbers import format_go_float
from collector.scrape.parser import ParseResult, parse_format
from collector.scrape.samples import Format, MetricMeta
from collector.scrape.seriescache import SeriesCache

Row = tuple[str, dict[str, str], float | str, int | None]
"""A sample as tests write it: name, labels, value ("NaN" for NaN), timestamp in ms."""

PROPERTY_SETTINGS = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


def rows(result: ParseResult) -> list[Row]:
    """Samples in the tests' shape, NaN made comparable."""
    return [
        (s.name, dict(s.labels), "NaN" if math.isnan(s.value) else s.value, s.timestamp_ms)
        for s in result.samples
    ]


def parse_text(page: str, cache: SeriesCache | None = None) -> ParseResult:
    return parse_format(page.encode(), "text", cache)


def parse_openmetrics(page: str, cache: SeriesCache | None = None) -> ParseResult:
    return parse_format(page.encode(), "openmetrics", cache)


# --- property tests: model, renderers -----------------------------------------------------------------

UTF8_CHAR = st.characters(codec="utf-8")
LEGACY_NAME = st.from_regex(r"[a-zA-Z_:][a-zA-Z0-9_:]{0,8}", fullmatch=True)
UTF8_NAME = st.text(UTF8_CHAR, min_size=1, max_size=6)
LABEL_NAME = st.from_regex(r"[a-zA-Z][a-zA-Z0-9_]{0,6}", fullmatch=True).filter(
    lambda n: n not in ("le", "quantile")
)
UTF8_LABEL_NAME = st.text(UTF8_CHAR, min_size=1, max_size=6).filter(
    lambda n: not n.startswith("__") and n not in ("le", "quantile")
)
LABEL_VALUE = st.text(UTF8_CHAR, max_size=8)
HELP_TEXT = st.text(UTF8_CHAR, max_size=12).filter(lambda s: s == s.strip())
SAFE_EXEMPLAR_VALUE = st.text(st.sampled_from("abc XYZ019-_.:/{},=#"), max_size=12)
LEGACY_METRIC_RE = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LEGACY_LABEL_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


def escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def is_legacy_metric_name(name: str) -> bool:
    return re.fullmatch(LEGACY_METRIC_RE, name) is not None


def label_token(name: str) -> str:
    legacy = name and name[0] not in "0123456789" and set(name) <= LEGACY_LABEL_CHARS
    return name if legacy else f'"{escape(name)}"'


def metric_token(name: str) -> str:
    return name if is_legacy_metric_name(name) else f'"{escape(name)}"'


@dataclass(frozen=True)
class Line:
    """A rendered sample line: the series text, blanks, value, and what follows the value."""

    series: str
    gap: str
    value: str
    rest: str = ""

    def text(self) -> str:
        return f"{self.series}{self.gap}{self.value}{self.rest}"


@dataclass(frozen=True)
class Page:
    """A rendered page: lines are either str (metadata, comments) or sample ``Line``s."""

    fmt: Format
    lines: tuple[str | Line, ...]
    normalized: frozenset[tuple[str, str]]
    """(sample name, label) pairs that we normalize and the oracle does not."""
    metadata: dict[str, MetricMeta]

    def text(self) -> str:
        body = "".join((line if isinstance(line, str) else line.text()) + "\n" for line in self.lines)
        return body + ("# EOF\n" if self.fmt == "openmetrics" else "")


def float_text(draw: st.DrawFn, value: float) -> str:
    """Some spelling of ``value`` that both formats accept."""
    if math.isnan(value):
        return draw(st.sampled_from(["NaN", "nan", "NAN"]))
    if math.isinf(value):
        spellings = (
            ["+Inf", "Inf", "inf", "+Infinity", "infinity"] if value > 0 else ["-Inf", "-inf", "-Infinity"]
        )
        return draw(st.sampled_from(spellings))
    options = [repr(value), repr(value).upper(), format_go_float(value)]
    if value.is_integer() and abs(value) < 1e15:
        options.append(str(int(value)))
    return draw(st.sampled_from(options))


def series_text(draw: st.DrawFn, name: str, labels: list[tuple[str, str]], fmt: Format) -> str:
    blank = st.sampled_from(["", " ", "\t", " \t "]) if fmt == "text" else st.just("")
    pairs = [f'{label_token(k)}{draw(blank)}={draw(blank)}"{escape(v)}"' for k, v in labels]
    quoted = not is_legacy_metric_name(name)
    if quoted:
        pairs.insert(draw(st.integers(0, len(pairs))), f'"{escape(name)}"')
    if not pairs and not draw(st.booleans()):
        return name
    inner = "".join(f"{draw(blank)}{pair}{draw(blank)}," for pair in pairs)
    if not inner or (fmt == "openmetrics" or not draw(st.booleans())):
        inner = inner[:-1]  # the trailing comma is text-format only
    head = "" if quoted else name + draw(blank)
    return f"{head}{{{inner}{draw(blank)}}}"


def label_sets() -> st.SearchStrategy[list[list[tuple[str, str]]]]:
    """One to three distinct label sets of a family (pairs sorted by name)."""
    one = st.dictionaries(st.one_of(LABEL_NAME, UTF8_LABEL_NAME), LABEL_VALUE, max_size=3).map(
        lambda labels: sorted(labels.items())
    )
    return st.lists(one, min_size=1, max_size=3, unique_by=tuple)


@st.composite
def text_pages(draw: st.DrawFn) -> Page:
    """A valid text-format page with the metadata it declares."""
    lines: list[str | Line] = []
    normalized: set[tuple[str, str]] = set()
    metadata: dict[str, MetricMeta] = {}
    gap = st.sampled_from([" ", "\t", "  ", " \t"])
    for index in range(draw(st.integers(0, 6))):
        type_name = draw(st.sampled_from(["counter", "gauge", "untyped", "histogram", "summary", None]))
        name = (
            draw(st.one_of(LEGACY_NAME, UTF8_NAME))
            + f"_f{index}"
            + ("_total" if type_name == "counter" else "")
        )
        help_text = draw(st.none() | HELP_TEXT)
        if draw(st.booleans()):
            lines.append(draw(st.sampled_from(["", "# just a comment", "#", "  "])))
        if help_text is not None:
            escaped_help = help_text.replace("\\", "\\\\").replace("\n", "\\n")
            lines.append(f"# HELP {metric_token(name)} {escaped_help}")
        if type_name is not None:
            lines.append(f"# TYPE {metric_token(name)} {type_name}")
        if help_text is not None or type_name is not None:
            metadata[name] = MetricMeta(name, type_name or "untyped", help_text or "", "")
        for labels in draw(label_sets()):
            if type_name == "histogram":
                bounds = draw(
                    st.lists(st.floats(allow_nan=False, allow_infinity=False), unique=True, max_size=3)
                )
                members = [(name + "_bucket", [*labels, ("le", float_text(draw, b))]) for b in sorted(bounds)]
                members += [
                    (name + "_bucket", [*labels, ("le", "+Inf")]),
                    (name + "_sum", labels),
                    (name + "_count", labels),
                ]
                normalized.add((name + "_bucket", "le"))
            elif type_name == "summary":
                quantiles = draw(st.lists(st.floats(0, 1), unique=True, max_size=3))
                members = [(name, [*labels, ("quantile", float_text(draw, q))]) for q in quantiles]
                members += [(name + "_sum", labels), (name + "_count", labels)]
                normalized.add((name, "quantile"))
            else:
                members = [(name, labels)]
            for sample_name, pairs in members:
                value = float_text(draw, draw(st.floats()))
                stamp = draw(st.none() | st.integers(0, 2**63 - 1))
                rest = "" if stamp is None else " " * draw(st.integers(1, 2)) + str(stamp)
                series = draw(st.sampled_from(["", " ", "\t"])) + series_text(
                    draw, sample_name, pairs, "text"
                )
                lines.append(Line(series, draw(gap), value, rest + draw(st.sampled_from(["", " ", "\t"]))))
    return Page("text", tuple(lines), frozenset(normalized), metadata)


def openmetrics_family(
    draw: st.DrawFn, name: str
) -> tuple[str, list[tuple[str, list[tuple[str, str]], float]]]:
    """A family's type and samples (name, labels, value) meeting every OpenMetrics rule the oracle checks."""
    type_name = draw(
        st.sampled_from(
            ["counter", "gauge", "histogram", "gaugehistogram", "summary", "info", "stateset", "unknown"]
        )
    )
    out: list[tuple[str, list[tuple[str, str]], float]] = []
    counts = st.integers(0, 10**6).map(float)
    for labels in draw(label_sets()):
        if type_name == "counter":
            out.append((name + "_total", labels, draw(st.floats(min_value=0))))
            if draw(st.booleans()):
                out.append((name + "_created", labels, draw(st.floats(0, 2e9))))
        elif type_name in ("histogram", "gaugehistogram"):
            bounds = sorted(draw(st.lists(st.floats(0, 1e9), unique=True, max_size=3)))
            total = 0.0
            for bound in bounds:
                total += draw(counts)
                out.append((name + "_bucket", [*labels, ("le", float_text(draw, bound))], total))
            # prometheus_client insists on the canonical "+Inf" here; we, like Prometheus, take any spelling.
            total += draw(counts)
            out.append((name + "_bucket", [*labels, ("le", "+Inf")], total))
            prefix = "_g" if type_name == "gaugehistogram" else "_"
            out.append((f"{name}{prefix}count", labels, total))
            out.append((f"{name}{prefix}sum", labels, draw(st.floats(0, 1e9))))
        elif type_name == "summary":
            for quantile in draw(st.lists(st.floats(0, 1), unique=True, max_size=3)):
                value = draw(st.floats(min_value=0) | st.just(math.nan))
                out.append((name, [*labels, ("quantile", float_text(draw, quantile))], value))
            out.append((name + "_count", labels, draw(counts)))
            out.append((name + "_sum", labels, draw(st.floats(0, 1e9))))
        elif type_name == "info":
            out.append((name + "_info", labels, 1.0))
        elif type_name == "stateset":
            state_labels = [pair for pair in labels if pair[0] != name]
            for state in draw(st.lists(LABEL_VALUE, min_size=1, max_size=3, unique=True)):
                out.append((name, sorted([*state_labels, (name, state)]), float(draw(st.integers(0, 1)))))
        else:
            out.append((name, labels, draw(st.floats())))
    return type_name, out


@st.composite
def openmetrics_pages(draw: st.DrawFn) -> Page:
    """A valid OpenMetrics page, valid for prometheus_client's stricter family checks as well."""
    lines: list[str | Line] = []
    normalized: set[tuple[str, str]] = set()
    metadata: dict[str, MetricMeta] = {}
    for index in range(draw(st.integers(0, 6))):
        quoted = draw(st.booleans())
        name = draw(UTF8_NAME if quoted else LEGACY_NAME) + f"_f{index}"
        if name.startswith("__"):
            name = "x" + name  # a stateset's label is named after it, and "__" label names are reserved
        type_name, samples = openmetrics_family(draw, name)
        # prometheus_client needs a TYPE line for a quoted family name.
        typed = quoted or type_name != "unknown" or draw(st.booleans())
        help_text = draw(st.none() | HELP_TEXT)
        # The name ends in _f<index>, so f<index> is a unit that fits it.
        unit = draw(st.none() | st.just(f"f{index}")) if type_name not in ("info", "stateset") else None
        meta_lines = []
        if typed:
            meta_lines.append(f"# TYPE {metric_token(name)} {type_name}")
        if help_text is not None:
            meta_lines.append(f"# HELP {metric_token(name)} {escape(help_text)}")
        if unit is not None:
            meta_lines.append(f"# UNIT {metric_token(name)} {unit}")
        lines.extend(draw(st.permutations(meta_lines)))
        if meta_lines:
            metadata[name] = MetricMeta(name, type_name if typed else "unknown", help_text or "", unit or "")
        if type_name in ("histogram", "gaugehistogram"):
            normalized.add((name + "_bucket", "le"))
        if type_name == "summary":
            normalized.add((name, "quantile"))
        stamp = draw(st.none() | st.tuples(st.integers(0, 2**31), st.none() | st.integers(0, 999)))
        stamp_text = (
            "" if stamp is None else f" {stamp[0]}" + ("" if stamp[1] is None else f".{stamp[1]:03d}")
        )
        for sample_name, pairs, value in samples:
            rest = stamp_text
            exemplar_ok = (type_name == "counter" and sample_name.endswith("_total")) or (
                type_name in ("histogram", "gaugehistogram") and sample_name.endswith("_bucket")
            )
            if exemplar_ok and draw(st.booleans()):
                ex_labels = draw(st.dictionaries(LABEL_NAME, SAFE_EXEMPLAR_VALUE, max_size=2))
                ex_value = float_text(draw, draw(st.floats(allow_nan=False, allow_infinity=False)))
                ex_stamp = draw(st.none() | st.integers(0, 2**31))
                inner = ",".join(f'{k}="{v}"' for k, v in ex_labels.items())
                rest += f" # {{{inner}}} {ex_value}" + ("" if ex_stamp is None else f" {ex_stamp}")
            lines.append(
                Line(series_text(draw, sample_name, pairs, "openmetrics"), " ", float_text(draw, value), rest)
            )
    return Page("openmetrics", tuple(lines), frozenset(normalized), metadata)


# --- property tests: invalid pages --------------------------------------------------------------------

BAD_VALUES = ("1_2", "0x1p-3", "1e", "--1", "1.2.3", "0x10", "one", "1\u00a0", "\u0661", "+nan", "-NaN")
LAXER_ORACLE: dict[Format, frozenset[str]] = {
    # prometheus_client hands values to int()/float(), which take Unicode digits and a signed NaN; its
    # text parser also strips Unicode blanks around the value, and ignores a "\r" line ending.
    # It does not check escapes, duplicate series, text timestamps, or "#" after a text-format value.
    "text": frozenset(
        {"\u0661", "+nan", "-NaN", "1\u00a0", "crlf", "duplicate", "text_exemplar", "negative_timestamp"}
    ),
    "openmetrics": frozenset({"\u0661", "+nan", "-NaN", "duplicate"}),
}


@dataclass(frozen=True)
class Mutation:
    """An invalid page made from a valid one, where we must fail and what the oracle does."""

    page: str
    fmt: Format
    line: int
    fragments: tuple[str, ...]
    oracle_rejects: bool


def mutate(draw: st.DrawFn, page: Page) -> Mutation | None:
    """Break one sample line of ``page`` (None when the page has no sample line)."""
    indices = [i for i, line in enumerate(page.lines) if isinstance(line, Line)]
    if not indices:
        return None
    index = draw(st.sampled_from(indices))
    line = page.lines[index]
    assert isinstance(line, Line)
    kinds = ["bad_value", "bad_label_name", "crlf"]
    if not line.rest.partition(" # ")[0].strip():
        # Without a timestamp only: a second sample at the same timestamp is dropped, as Prometheus does.
        kinds.append("duplicate")
    if line.series.endswith('"}'):
        kinds.append("unclosed_quote")
    kinds += ["text_exemplar", "negative_timestamp"] if page.fmt == "text" else ["blank", "two_spaces"]
    kind = draw(st.sampled_from(kinds))
    lines: list[str | Line] = list(page.lines)
    number = index + 1
    if kind == "bad_value":
        bad = draw(st.sampled_from(BAD_VALUES))
        lines[index] = replace(line, value=bad)
        fragments: tuple[str, ...] = ("invalid number",)
        kind = bad
    elif kind == "bad_label_name":
        brace = line.series.find("{")
        series = (
            line.series + '{1x="y"}'
            if brace < 0
            else f'{line.series[: brace + 1]}1x="y",{line.series[brace + 1 :]}'
        )
        lines[index] = replace(line, series=series)
        fragments = ("expected a label name",)
    elif kind == "duplicate":
        lines.insert(index + 1, line)
        number += 1
        fragments = ("duplicate sample",)
    elif kind == "crlf":
        lines[index] = replace(line, rest=line.rest + "\r")
        fragments = ("carriage return",)
    elif kind == "unclosed_quote":
        lines[index] = replace(line, series=line.series[:-2] + "}")
        fragments = ("unterminated quoted string", "expected", "invalid")
    elif kind == "text_exemplar":
        lines[index] = replace(line, rest=line.rest + ' # {a="b"} 1')
        fragments = ("exemplars exist only in OpenMetrics",)
    elif kind == "negative_timestamp":
        lines[index] = replace(line, rest=" -5")
        fragments = ("invalid timestamp",)
    elif kind == "blank":
        lines.insert(index, "")
        fragments = ("blank line",)
    else:
        lines[index] = replace(line, gap="  ")
        fragments = ("single space",)
    broken = replace(page, lines=tuple(lines)).text()
    return Mutation(broken, page.fmt, number, fragments, kind not in LAXER_ORACLE[page.fmt])


@st.composite
def mutations(draw: st.DrawFn) -> Mutation:
    page = draw(st.one_of(text_pages(), openmetrics_pages()))
    mutation = mutate(draw, page)
    assume(mutation is not None)
    assert mutation is not None
    return mutation
