"""Addresses already monitored: one spelling per endpoint, the target file's targets as the collector builds
them, and names compared through what they resolve to (a fake resolver; no DNS)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from collector.config.targets import parse_targets
from collector.monitored import (
    Endpoint,
    Monitored,
    canonical_host,
    endpoint,
    file_targets,
    find_monitored,
    from_table,
    read_target_file,
)
from collector.result import server_id_for
from collector.storage.servers import ServerAddress
from tests.loopback import FakeResolver


@pytest.mark.parametrize(
    ("address", "scheme", "expected"),
    [
        ("10.0.0.5:9100", "http", Endpoint("10.0.0.5", 9100)),
        ("0xa.0.0.5:9100", "http", Endpoint("10.0.0.5", 9100)),
        ("167772165:9100", "http", Endpoint("10.0.0.5", 9100)),
        ("[::ffff:10.0.0.5]:9100", "http", Endpoint("10.0.0.5", 9100)),
        ("[::FFFF:a00:5]:9100", "http", Endpoint("10.0.0.5", 9100)),
        ("[2001:DB8:0::1]:9100", "http", Endpoint("2001:db8::1", 9100)),
        ("Web-1.Example.ORG.:9100", "http", Endpoint("web-1.example.org", 9100)),
        ("web-1", "http", Endpoint("web-1", 80)),
        ("web-1", "https", Endpoint("web-1", 443)),
    ],
)
def test_one_spelling_per_endpoint(address: str, scheme: str, expected: Endpoint) -> None:
    assert endpoint(address, scheme) == expected


def test_canonical_host_of_names_and_addresses() -> None:
    assert canonical_host("LOCALHOST.") == "localhost"
    assert canonical_host("[::1]") == "::1"
    assert canonical_host("127.1") == "127.0.0.1"


def test_the_target_files_targets_are_read_as_the_collector_builds_them(tmp_path: Path) -> None:
    (tmp_path / "sd.json").write_text('[{"targets": ["db-1:9187"]}]')
    text = """\
scrape_configs:
  - job_name: node
    static_configs:
      - targets: ['10.0.0.5:9100', 'web-2']
  - job_name: moved
    relabel_configs:
      - source_labels: [__address__]
        target_label: __address__
        replacement: 10.0.0.9:9100
    static_configs:
      - targets: ['placeholder:1']
  - job_name: sd
    scheme: https
    file_sd_configs:
      - files: ['sd.json']
"""
    config = parse_targets(text, "t.yaml", tmp_path)
    found = {(m.job, m.endpoint) for m in file_targets(config, tmp_path)}
    assert found == {
        ("node", Endpoint("10.0.0.5", 9100)),
        ("node", Endpoint("web-2", 80)),
        ("moved", Endpoint("10.0.0.9", 9100)),
        ("sd", Endpoint("db-1", 9187)),
    }
    first = next(m for m in file_targets(config, tmp_path) if m.job == "node")
    assert first.server_id == server_id_for("node", first.address) and first.source == "file"


def test_an_unreadable_target_file_reads_as_none(tmp_path: Path) -> None:
    path = tmp_path / "targets.yaml"
    path.write_text("scrape_configs: [oops\n")
    assert read_target_file(path) is None
    assert read_target_file(tmp_path / "missing.yaml") is None


def _monitored(address: str, job: str = "node") -> Monitored:
    point = endpoint(address)
    assert point is not None
    return Monitored(address, job, server_id_for(job, address), "api", point)


@pytest.mark.parametrize(
    ("candidate", "existing", "found"),
    [
        ("127.0.0.1:9100", "127.0.0.1:9100", True),
        ("127.0.0.1:9100", "127.0.0.1:9101", False),
        ("0x7f.1:9100", "127.0.0.1:9100", True),
        ("[::ffff:127.0.0.1]:9100", "127.0.0.1:9100", True),
        ("localhost:9100", "127.0.0.1:9100", True),
        ("127.0.0.1:9100", "localhost:9100", True),
        ("[::1]:9100", "localhost:9100", True),
        ("alias.test:9100", "db.test:9100", True),
        ("alias.test:9100", "db.test:9101", False),
        ("other.test:9100", "db.test:9100", False),
        ("unknown.test:9100", "10.0.0.1:9100", False),
        ("unknown.test:9100", "UNKNOWN.test.:9100", True),
    ],
)
async def test_find_monitored(candidate: str, existing: str, found: bool) -> None:
    resolver = FakeResolver(
        {
            "localhost": ["127.0.0.1", "::1"],
            "alias.test": ["10.0.0.7"],
            "db.test": ["10.0.0.7", "10.0.0.8"],
            "other.test": ["10.0.0.9"],
        }
    )
    point = endpoint(candidate)
    assert point is not None
    match = await find_monitored(point, [_monitored("10.9.9.9:9100"), _monitored(existing)], resolver)
    assert (match is not None and match.address == existing) is found


async def test_names_are_resolved_only_on_the_same_port() -> None:
    resolver = FakeResolver({"a.test": ["10.0.0.1"], "b.test": ["10.0.0.2"]})
    point = endpoint("10.0.0.3:9100")
    assert point is not None
    assert await find_monitored(point, [_monitored("a.test:9100"), _monitored("b.test:80")], resolver) is None
    assert resolver.asked == ["a.test"]


def test_table_rows_become_monitored_addresses() -> None:
    rows = [
        ServerAddress(uuid.uuid4(), "node", "10.0.0.5:9100", "http", "discovered"),
        ServerAddress(uuid.uuid4(), "apps", "web-1", "https", "api"),
    ]
    found = from_table(rows)
    assert [(m.source, m.endpoint) for m in found] == [
        ("discovered", Endpoint("10.0.0.5", 9100)),
        ("api", Endpoint("web-1", 443)),
    ]
