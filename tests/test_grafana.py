"""``deploy/grafana/``: the provisioning files are what Grafana reads, and every dashboard query is PromQL
that our engine evaluates over our exporter's metrics.

The data: our exporter's collectors read this machine once, in-process, and the page is replayed as two
servers over half an hour (counters growing, gauges wobbling), plus the synthetic series a scrape adds.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from prometheus_client import generate_latest

from collector.promql import Engine, InstantVector, Matrix, MemorySource, Series
from collector.promql.parse import VectorSelector, parse
from collector.scrape.parser import parse_format
from exporter.config import CollectorOptions
from exporter.registry import HostCollectors, build_registry

ROOT = Path(__file__).resolve().parent.parent
GRAFANA = ROOT / "deploy" / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
INSTANCES = ("host-a:9110", "host-b:9110")
END_MS = 1_764_000_000_000
STEP_MS = 15_000
POINTS = 120
SYNTHETIC = ("up", "scrape_duration_seconds", "scrape_samples_scraped")
GRAFANA_VARIABLES = {
    "$__rate_interval": "1m",
    "$__interval": "15s",
    "$job": "node",
    "$instance": INSTANCES[0],
}
PANEL_TYPES = {"stat", "gauge", "timeseries", "table", "bargauge", "text"}


def _load(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


def _targets() -> list[tuple[str, str, str]]:
    """(dashboard, panel, expression) of every query of every dashboard."""
    out: list[tuple[str, str, str]] = []
    for path in DASHBOARDS:
        for panel in _load(path)["panels"]:
            out.extend((path.name, panel["title"], target["expr"]) for target in panel.get("targets", []))
    return out


def _substituted(expr: str) -> str:
    for name in sorted(GRAFANA_VARIABLES, key=len, reverse=True):
        expr = expr.replace(name, GRAFANA_VARIABLES[name])
    assert "$" not in expr, f"unknown Grafana variable in {expr!r}"
    return expr


def _metric_names(node: object) -> set[str]:
    """The metric names every selector of a parsed query names."""
    if isinstance(node, VectorSelector):
        return {node.name} if node.name else set()
    names: set[str] = set()
    if dataclasses.is_dataclass(node):
        for field in dataclasses.fields(node):
            value = getattr(node, field.name)
            for item in value if isinstance(value, tuple) else (value,):
                names |= _metric_names(item)
    return names


@pytest.fixture(scope="module")
def exporter_page() -> list[tuple[str, dict[str, str], float]]:
    """Our exporter's metrics on this machine: (name, labels, value) of every sample."""
    host = HostCollectors(CollectorOptions())
    try:
        page = generate_latest(build_registry(host))
    finally:
        host.close()
    return [(s.name, dict(s.labels), s.value) for s in parse_format(page, "text").samples]


@pytest.fixture(scope="module")
def engine(exporter_page: list[tuple[str, dict[str, str], float]]) -> Engine:
    ts = END_MS - STEP_MS * np.arange(POINTS, dtype=np.int64)[::-1]
    rng = np.random.default_rng(14)
    source = MemorySource()
    for instance in INSTANCES:
        base = {"job": "node", "instance": instance}
        for name, labels, value in exporter_page:
            if name.endswith("_total"):
                values = value + np.cumsum(rng.random(POINTS) * 10)
            else:
                values = value * (1 + 0.05 * rng.standard_normal(POINTS))
            source.add(Series({"__name__": name, **labels, **base}, ts, values))
        for name, value in zip(SYNTHETIC, (1.0, 0.05, float(len(exporter_page))), strict=True):
            source.add(Series({"__name__": name, **base}, ts, np.full(POINTS, value)))
    return Engine(source)


def test_the_data_source_is_our_api_with_a_bearer_token_from_the_environment() -> None:
    provisioning = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "openmanager.yml").read_text())
    assert provisioning["apiVersion"] == 1
    [source] = provisioning["datasources"]
    assert (source["type"], source["uid"], source["access"]) == ("prometheus", "openmanager", "proxy")
    assert source["url"] == "${OPENMANAGER_URL}"
    assert source["jsonData"]["httpHeaderName1"] == "Authorization"
    assert source["secureJsonData"]["httpHeaderValue1"] == "Bearer ${OPENMANAGER_TOKEN}"


def test_the_dashboard_provider_reads_a_folder_of_files() -> None:
    provisioning = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "openmanager.yml").read_text())
    [provider] = provisioning["providers"]
    assert provider["type"] == "file" and provider["options"]["path"].startswith("/")


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboard_structure(path: Path) -> None:
    dashboard = _load(path)
    assert {"uid", "title", "panels", "templating", "schemaVersion", "time"} <= dashboard.keys()
    assert re.fullmatch(r"[a-z0-9-]{1,40}", dashboard["uid"])
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    panels = dashboard["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    cells: set[tuple[int, int]] = set()
    for panel in panels:
        assert panel["type"] in PANEL_TYPES, panel["title"]
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["w"] > 0 and grid["x"] + grid["w"] <= 24 and grid["h"] > 0
        mine = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not cells & mine, f"panel {panel['title']!r} overlaps another"
        cells |= mine
        refs = [t["refId"] for t in panel["targets"]]
        assert refs and len(set(refs)) == len(refs)
        for target in panel["targets"]:
            assert target["expr"].strip()
            used = set(re.findall(r"\$\w+", target["expr"]))
            assert used <= {*GRAFANA_VARIABLES, *(f"${name}" for name in variables)}, used
    for variable in variables.values():
        if variable["type"] == "query":
            match = re.fullmatch(r"label_values\((.+), (\w+)\)", variable["query"]["query"])
            assert match, variable["query"]
            parse(match.group(1))


@pytest.mark.parametrize(("dashboard", "panel", "expr"), _targets())
async def test_every_query_parses_and_evaluates_over_our_metrics(
    engine: Engine,
    exporter_page: list[tuple[str, dict[str, str], float]],
    dashboard: str,
    panel: str,
    expr: str,
) -> None:
    query = _substituted(expr)
    names = _metric_names(parse(query))
    sources = "\n".join(p.read_text() for p in (ROOT / "exporter" / "collectors").glob("*.py"))
    on_page = {name for name, _, _ in exporter_page} | set(SYNTHETIC)
    for name in names:
        # Every metric is ours: on this machine's page, or named by an exporter collector (sensors and
        # systemd units exist only where the hardware or the configuration has them).
        assert name in on_page or f'"{name}"' in sources, f"{dashboard} / {panel}: no metric {name}"
    ranged = await engine.range_query(query, END_MS - 20 * STEP_MS, END_MS, STEP_MS)
    instant = await engine.instant_query(query, END_MS)
    assert isinstance(ranged, Matrix)
    assert isinstance(instant, InstantVector)
    if names <= on_page:
        assert ranged.series, f"{dashboard} / {panel}: {query} answered nothing over the test data"
