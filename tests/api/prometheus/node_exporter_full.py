"""Grafana's "Node Exporter Full" dashboard as data: every panel query and template variable, filled in.

The dashboard (``tests/data/grafana/node-exporter-full.json``) keeps its queries in panels and in the
panels of rows (collapsed rows nest them). `panel_queries()` lists every target's expression with what
Grafana needs to ask for it (instant, range, minimum interval, the panel's data points); hidden targets are
included, so every expression of the dashboard is compared. `template_variables()` lists the ``query``
variables (``$job``, ``$nodename``, ``$node``) in the order Grafana resolves them, each a
``label_values(selector, label)`` call.

`fill()` substitutes the dashboard's variables as Grafana's Prometheus data source does for a single-valued
variable: ``$name`` and ``${name}`` become the selected value with backslashes and single quotes escaped
(``prometheusRegularEscape``); multi-value and "All" variables do not occur in this dashboard. Grafana's
built-in time variables (``$__rate_interval`` …) are `grafana_requests`'s business.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DASHBOARD = Path(__file__).resolve().parents[2] / "data" / "grafana" / "node-exporter-full.json"
DASHBOARD_WIDTH_PX = 1920
"""The screen width a panel's width is taken from when it sets no ``maxDataPoints``."""
GRID_COLUMNS = 24
_LABEL_VALUES = re.compile(r"label_values\((?:(?P<selector>.+),\s*)?(?P<label>[a-zA-Z_]\w*)\)", re.DOTALL)
_VARIABLE = re.compile(r"\$\{(\w+)\}|\$(\w+)")


@dataclass(frozen=True)
class PanelQuery:
    """One target of one panel: its expression and how Grafana asks for it."""

    panel: str
    ref_id: str
    expr: str
    instant: bool
    range: bool
    min_interval: str
    """The target's ``interval`` (Grafana's "Min step"); empty: the data source's scrape interval."""
    max_data_points: int
    """The panel's ``maxDataPoints``, else its width in pixels (the browser sends that)."""
    hidden: bool

    def describe(self) -> str:
        """The query in one line."""
        return f"{self.panel} / {self.ref_id}"


@dataclass(frozen=True)
class TemplateVariable:
    """A ``query`` variable: ``label_values(selector, label)``."""

    name: str
    selector: str
    """The series selector, empty for ``label_values(label)``."""
    label: str


def load(path: Path = DASHBOARD) -> dict[str, Any]:
    """The dashboard's JSON."""
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def _data_points(panel: dict[str, Any]) -> int:
    if panel.get("maxDataPoints"):
        return int(panel["maxDataPoints"])
    return DASHBOARD_WIDTH_PX * int(panel["gridPos"]["w"]) // GRID_COLUMNS


def panel_queries(dashboard: dict[str, Any]) -> list[PanelQuery]:
    """Every target of every panel, rows' panels included, in the dashboard's order."""
    out = []
    for panel in _panels(dashboard["panels"]):
        for target in panel.get("targets", []):
            instant = bool(target.get("instant"))
            # Grafana runs a target that asks for neither as a range query (dashboards older than the flags).
            ranged = bool(target.get("range")) or not instant
            out.append(
                PanelQuery(
                    panel=panel["title"],
                    ref_id=target["refId"],
                    expr=target["expr"],
                    instant=instant,
                    range=ranged,
                    min_interval=target.get("interval") or "",
                    max_data_points=_data_points(panel),
                    hidden=bool(target.get("hide")),
                )
            )
    return out


def template_variables(dashboard: dict[str, Any]) -> list[TemplateVariable]:
    """The ``query`` variables in the dashboard's order (each may use the ones before it)."""
    out = []
    for variable in dashboard["templating"]["list"]:
        if variable["type"] != "query":
            continue
        query = variable["query"]
        text = query["query"] if isinstance(query, dict) else query
        match = _LABEL_VALUES.fullmatch(text.strip())
        if match is None:
            raise ValueError(f"variable {variable['name']}: not a label_values() query: {text!r}")
        out.append(TemplateVariable(variable["name"], match["selector"] or "", match["label"]))
    return out


def _escaped(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


def fill(text: str, values: Mapping[str, str]) -> str:
    """``text`` with the dashboard variables of ``values`` substituted; Grafana's built-ins are left."""

    def substitute(match: re.Match[str]) -> str:
        name = match[1] or match[2]
        return _escaped(values[name]) if name in values else match[0]

    return _VARIABLE.sub(substitute, text)
