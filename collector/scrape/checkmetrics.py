"""Validate a metrics page the way a scrape would, plus optional naming lint: ``openmanager check-metrics``.

Like ``promtool check metrics``: the page is parsed with the collector's own parser, so "valid" means
"a scrape of it would succeed"; an OpenMetrics page must also meet every rule of the specification
(:mod:`collector.scrape.openmetrics_strict`), which a scrape, like Prometheus's, does not insist on. The
report gives the sample count, or the first error with its line.
Lint findings follow Prometheus's naming conventions and never make a page invalid.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

from collector.scrape.families import family_of, text_sample_suffixes
from collector.scrape.openmetrics_strict import strict_error
from collector.scrape.parser import ParseError, ParseResult, parse_format
from collector.scrape.samples import Format, MetricMeta

CheckFormat = Literal["auto", "text", "openmetrics"]

_EOF_LINE: Final = b"# EOF"
_CAMEL_CASE = re.compile(r"[a-z][A-Z]")
_NON_BASE_UNITS: Final = {
    "nanoseconds": "seconds",
    "microseconds": "seconds",
    "milliseconds": "seconds",
    "minutes": "seconds",
    "hours": "seconds",
    "days": "seconds",
    "kilobytes": "bytes",
    "megabytes": "bytes",
    "gigabytes": "bytes",
    "terabytes": "bytes",
    "kibibytes": "bytes",
    "mebibytes": "bytes",
    "gibibytes": "bytes",
    "bits": "bytes",
    "percent": "ratio",
    "fahrenheit": "celsius",
}
_SUMMARY_SUFFIXES: Final = text_sample_suffixes("histogram")
"""What promtool reserves for histograms and summaries: a classic histogram's sample suffixes."""


@dataclass(frozen=True, slots=True)
class LintWarning:
    """A naming or documentation finding about one metric family."""

    metric: str
    message: str


@dataclass(frozen=True, slots=True)
class CheckReport:
    """The outcome of a check: the format used, the sample count or the first error, lint findings."""

    format: Format
    sample_count: int
    error: ParseError | None
    warnings: tuple[LintWarning, ...]

    @property
    def ok(self) -> bool:
        """True when a scrape of the page would succeed (warnings do not count)."""
        return self.error is None


def detect_format(payload: bytes) -> Format:
    """OpenMetrics when the page's last line is ``# EOF`` (blanks and line ends around it aside)."""
    stripped = payload.rstrip()
    last_line = stripped[stripped.rfind(b"\n") + 1 :]
    return "openmetrics" if last_line.strip() == _EOF_LINE else "text"


def check_metrics(payload: bytes, fmt: CheckFormat = "auto") -> CheckReport:
    """Parse ``payload`` as a scrape would and lint the metric families it declares or exposes."""
    chosen: Format = detect_format(payload) if fmt == "auto" else fmt
    try:
        result = parse_format(payload, chosen)
    except ParseError as exc:
        return CheckReport(chosen, 0, exc, ())
    if chosen == "openmetrics":
        violation = strict_error(payload)
        if violation is not None:
            return CheckReport(chosen, 0, violation, ())
    return CheckReport(chosen, len(result.samples), None, tuple(lint(result)))


def lint(result: ParseResult) -> list[LintWarning]:
    """Naming and documentation findings for each metric family of a parsed page, in page order."""
    families = _families(result)
    warnings: list[LintWarning] = []
    for name, meta in families.items():
        type_name = meta.type
        if not meta.help:
            warnings.append(LintWarning(name, "no help text"))
        if result.format == "text" and type_name == "counter" and not name.endswith("_total"):
            warnings.append(LintWarning(name, 'counter metrics should have the "_total" suffix'))
        if type_name != "counter" and name.endswith("_total"):
            warnings.append(LintWarning(name, 'non-counter metrics should not have the "_total" suffix'))
        if type_name not in ("histogram", "gaugehistogram", "summary"):
            for suffix in _SUMMARY_SUFFIXES:
                if name.endswith(suffix):
                    message = f'non-histogram and non-summary metrics should not have the "{suffix}" suffix'
                    warnings.append(LintWarning(name, message))
        if _CAMEL_CASE.search(name):
            warnings.append(LintWarning(name, "metric names should be written in snake_case, not camelCase"))
        for word in name.split("_"):
            base = _NON_BASE_UNITS.get(word)
            if base is not None:
                warnings.append(LintWarning(name, f'use the base unit "{base}" instead of "{word}"'))
    return warnings


def _families(result: ParseResult) -> dict[str, MetricMeta]:
    """Every family of the page: those with metadata, then one per sample name that none claims."""
    default_type = "unknown" if result.format == "openmetrics" else "untyped"
    families = dict(result.metadata)
    types = {name: meta.type for name, meta in result.metadata.items()}
    for sample in result.samples:
        name = sample.name
        if name not in families and family_of(name, types) is None:
            families[name] = MetricMeta(name, default_type, "", "")
    return families
