"""The OpenMetrics project's parser test suite, vendored in ``openmetrics_suite/`` (see its README)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

SUITE = Path(__file__).parent / "openmetrics_suite" / "parsers"


@dataclass(frozen=True)
class SuiteCase:
    """One case: its name, the page, and whether the specification lets a parser accept it."""

    name: str
    page: bytes
    should_parse: bool


def suite_cases() -> list[SuiteCase]:
    """Every case of the suite, by name."""
    cases = []
    for directory in sorted(SUITE.iterdir()):
        spec = json.loads((directory / "test.json").read_text())
        page = (directory / spec["file"]).read_bytes()
        cases.append(SuiteCase(directory.name, page, bool(spec["shouldParse"])))
    return cases
