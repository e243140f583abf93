"""The full differential run: every query of the table at several instants and as range queries with
several steps, against Debian's Prometheus on identical samples. Prints "N/M queries agree", then every
difference (deliberate ones, listed in the README, marked as such).

    .venv/bin/python tests/bench/promql_diff.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.collector.promql.differential import DELIBERATE, Oracle, engine, full_cases, run


def main() -> int:
    """Run every case; exit 1 if any difference is not a deliberate one."""
    cases = full_cases()
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as workdir:
        oracle = Oracle(Path(workdir))
        try:
            differences = [(case, diff) for case, diff in run(oracle, engine(), cases) if diff]
        finally:
            oracle.stop()
    agree = len(cases) - len(differences)
    print(f"{agree}/{len(cases)} queries agree ({time.monotonic() - started:.1f} s)")
    unexpected = 0
    for case, diff in differences:
        reason = DELIBERATE.get(case.query)
        if reason is None:
            unexpected += 1
        tag = f"deliberate: {reason}" if reason else "DIFFERENT"
        print(f"- {case.describe()}\n    {diff}\n    ({tag})")
    return 1 if unexpected else 0


if __name__ == "__main__":
    raise SystemExit(main())
