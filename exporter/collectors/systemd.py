"""State of the systemd units named in the config: ``openmanager_systemd_unit_state{name,state}``.

Only the units listed in the configuration file are ever queried; their names were validated against a
strict pattern at start-up. ``systemctl show`` is run with an argument list (never a shell), ``--`` before
the names, a minimal environment and a timeout. For each unit one series per possible ``ActiveState`` is
reported, 1 for the current state and 0 for the others, as node_exporter's systemd collector does, so
``openmanager_systemd_unit_state{state="failed"} == 1`` is a complete alert.

A host without systemd (a container, another init) is not an error: the collector reports nothing and
says so once in the log at info level.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence

from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from exporter.collectors.cache import TTLCache

log = logging.getLogger(__name__)

# Every ActiveState value systemd defines, so exactly one series per unit is 1.
ACTIVE_STATES = (
    "active",
    "reloading",
    "inactive",
    "failed",
    "activating",
    "deactivating",
    "maintenance",
    "refreshing",
)
SYSTEMCTL_TIMEOUT_S = 5.0

# Returns systemctl's standard output, or None when systemctl is missing or failed.
SystemctlRunner = Callable[[Sequence[str]], str | None]


def run_systemctl(args: Sequence[str]) -> str | None:
    """Run ``systemctl ARGS`` without a shell; None when it is absent, fails or times out."""
    systemctl = shutil.which("systemctl", path="/usr/bin:/bin:/usr/sbin:/sbin")
    if systemctl is None:
        return None
    try:
        completed = subprocess.run(  # noqa: S603 (fixed binary, argv list, names validated at start-up)
            [systemctl, *args],
            capture_output=True,
            text=True,
            timeout=SYSTEMCTL_TIMEOUT_S,
            env={"LC_ALL": "C", "PATH": "/usr/bin:/bin"},
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.debug("systemctl failed: %s", exc)
        return None
    if completed.returncode != 0:
        log.debug("systemctl exited with %d: %s", completed.returncode, completed.stderr.strip())
        return None
    return completed.stdout


def parse_show_output(text: str) -> list[dict[str, str]]:
    """Split ``systemctl show`` output into one property mapping per unit, in the order asked."""
    blocks: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if current:
                blocks.append(current)
                current = {}
            continue
        key, _, value = line.partition("=")
        current[key] = value
    if current:
        blocks.append(current)
    return blocks


class SystemdCollector(Collector):
    """Reads ActiveState and LoadState of the configured units."""

    def __init__(
        self,
        units: Sequence[str],
        runner: SystemctlRunner = run_systemctl,
        cache_ttl_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._units = tuple(units)
        self._runner = runner
        self._states = TTLCache(self.read_states, cache_ttl_s, clock)
        self._said_absent = False
        self._warned_not_found: set[str] = set()

    def read_states(self) -> dict[str, str]:
        """The ActiveState of each configured unit; empty when systemd is not available."""
        if not self._units:
            return {}
        output = self._runner(
            ["show", "--no-pager", "--property=Id,LoadState,ActiveState", "--", *self._units]
        )
        if output is None:
            if not self._said_absent:
                log.info("systemd is not available here; no unit states will be reported")
                self._said_absent = True
            return {}
        self._said_absent = False
        blocks = parse_show_output(output)
        if len(blocks) != len(self._units):
            log.warning(
                "systemctl show returned %d units for %d asked; ignoring it", len(blocks), len(self._units)
            )
            return {}
        states = {}
        for unit, block in zip(self._units, blocks, strict=True):
            if block.get("LoadState") == "not-found" and unit not in self._warned_not_found:
                log.warning("systemd unit %s from the config does not exist on this host", unit)
                self._warned_not_found.add(unit)
            states[unit] = block.get("ActiveState", "")
        return states

    def collect(self) -> Iterator[Metric]:
        """Report the unit states, read at most once per cache TTL."""
        states = self._states.get()
        if not states:
            return
        family = GaugeMetricFamily(
            "openmanager_systemd_unit_state",
            "1 for the unit's current ActiveState, 0 for the other states.",
            labels=["name", "state"],
        )
        for unit, current in states.items():
            for state in ACTIVE_STATES:
                family.add_metric([unit, state], 1.0 if state == current else 0.0)
        yield family
