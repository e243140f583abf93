"""Servers registered through the API join the target configuration as static targets."""

from __future__ import annotations

import uuid
from pathlib import Path

from collector.discovery import Target, build_targets, discover
from collector.registered import with_registered
from collector.storage.servers import RegisteredServer
from collector.targets import parse_targets

FILE = """\
global:
  scrape_interval: 30s
  scrape_timeout: 20s
scrape_configs:
  - job_name: node
    scrape_interval: 15s
    scrape_timeout: 5s
    static_configs:
      - targets: ['a:9100']
"""


def _server(job: str, address: str, **extra: object) -> RegisteredServer:
    values: dict[str, object] = {
        "id": uuid.uuid4(),
        "name": address,
        "job": job,
        "address": address,
        "scheme": "http",
        "metrics_path": "/metrics",
        "labels": {},
        "scrape_interval_s": None,
    }
    values.update(extra)
    return RegisteredServer(**values)  # type: ignore[arg-type]


def _targets(tmp_path: Path, servers: list[RegisteredServer]) -> dict[str, Target]:
    config = with_registered(parse_targets(FILE, "t.yaml", tmp_path), servers)
    out = {}
    for job in config.jobs:
        groups = [g for source in discover(job, tmp_path) for g in source.groups]
        targets, dropped = build_targets(job, groups)
        assert not dropped
        out.update({t.url: t for t in targets})
    return out


def test_no_registered_servers_leaves_the_configuration_alone(tmp_path: Path) -> None:
    config = parse_targets(FILE, "t.yaml", tmp_path)
    assert with_registered(config, []) is config


def test_a_server_of_a_file_job_is_scraped_with_that_jobs_settings(tmp_path: Path) -> None:
    targets = _targets(tmp_path, [_server("node", "b:9100", name="db-primary", labels={"team": "db"})])
    added = targets["http://b:9100/metrics"]
    assert added.job_name == "node" and added.scrape_interval_s == 15 and added.scrape_timeout_s == 5
    assert dict(added.labels) == {"instance": "b:9100", "job": "node", "team": "db", "name": "db-primary"}
    assert "http://a:9100/metrics" in targets


def test_a_server_of_a_new_job_gets_the_global_settings_and_its_own_scheme_path_and_interval(
    tmp_path: Path,
) -> None:
    server = _server("apps", "c:8443", scheme="https", metrics_path="/custom", scrape_interval_s=10.0)
    target = _targets(tmp_path, [server, _server("apps", "d:80")])["https://c:8443/custom"]
    assert target.job_name == "apps" and target.scrape_interval_s == 10 and target.scrape_timeout_s == 10
    other = _targets(tmp_path, [_server("apps", "d:80")])["http://d:80/metrics"]
    assert other.scrape_interval_s == 30 and other.scrape_timeout_s == 20


def test_a_name_label_of_the_server_wins_over_its_name(tmp_path: Path) -> None:
    server = _server("node", "c:9100", name="db-replica", labels={"name": "replica-1"})
    assert dict(_targets(tmp_path, [server])["http://c:9100/metrics"].labels)["name"] == "replica-1"
