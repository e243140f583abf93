"""Target discovery (static and file_sd) and building scrape targets the way Prometheus does."""

from __future__ import annotations

import hashlib
import json
import textwrap
from pathlib import Path

import pytest

from collector.config.scrape_job import ScrapeJob
from collector.config.targets import load_targets, parse_targets
from collector.discovery import (
    DroppedTarget,
    SourceResult,
    Target,
    TargetGroup,
    build_target,
    build_targets,
    discover,
    merge_discovered,
    read_file_sd,
)

FIXTURES = Path(__file__).parent / "fixtures"


def job_from(text: str, base_dir: Path = FIXTURES) -> ScrapeJob:
    (job,) = parse_targets(textwrap.dedent(text), "targets.yaml", base_dir).jobs
    return job


def built(job: ScrapeJob, address: str, labels: dict[str, str] | None = None) -> Target:
    target = build_target(job, address, labels or {})
    assert isinstance(target, Target), target
    return target


def dropped(job: ScrapeJob, address: str, labels: dict[str, str] | None = None) -> DroppedTarget:
    target = build_target(job, address, labels or {})
    assert isinstance(target, DroppedTarget), target
    return target


def test_discover_reads_static_groups_and_every_file_sd_file() -> None:
    (job,) = load_targets(FIXTURES / "node_exporter.yml").jobs
    results = discover(job, FIXTURES)
    assert [result.source for result in results] == [
        "static",
        str(FIXTURES / "file_sd" / "nodes.json"),
        str(FIXTURES / "file_sd" / "extra.yml"),
    ]
    assert all(not result.problems for result in results)
    static, nodes, extra = (result.groups for result in results)
    assert static == (
        TargetGroup(
            "static:0",
            ("10.0.0.11:9100", "10.0.0.12:9100", "[2001:db8::5]:9100"),
            (("env", "production"), ("rack", "r1")),
        ),
    )
    nodes_file = str(FIXTURES / "file_sd" / "nodes.json")
    assert nodes[0] == TargetGroup(
        f"{nodes_file}:0",
        ("10.0.1.21:9100", "10.0.1.22:9100"),
        (("__meta_filepath", nodes_file), ("__meta_inventory_team", "storage"), ("env", "staging")),
    )
    assert nodes[1].labels == (("__meta_filepath", nodes_file),)
    assert extra[0].targets == ("10.0.2.31:9100",)


def test_file_pattern_matching_nothing_yields_no_source(tmp_path: Path) -> None:
    job = job_from(
        "scrape_configs:\n  - job_name: a\n    file_sd_configs:\n      - files: [none/*.json]\n", tmp_path
    )
    assert discover(job, tmp_path) == []


def test_file_matched_by_two_patterns_is_read_once(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text('[{"targets": ["h:1"]}]', encoding="utf-8")
    text = "scrape_configs:\n  - job_name: a\n    file_sd_configs:\n      - files: ['*.json', a.json]\n"
    assert len(discover(job_from(text, tmp_path), tmp_path)) == 1


@pytest.mark.parametrize(
    ("name", "content", "fragment", "line"),
    [
        ("broken.json", '[{"targets": ["h:1"]', "(syntax): not valid JSON", 1),
        ("broken.yml", "- targets: [h:1\n", "(syntax): not valid YAML", 2),
        ("object.json", '{"targets": ["h:1"]}', "expected a list of target groups", None),
        ("labels.yml", "- targets: [h:1]\n  labels:\n    bad-name: x\n", "[0].labels.bad-name", 3),
        ("typo.yml", "- targets: [h:1]\n  label: {a: b}\n", "[0].label: unknown key", 2),
        ("null.yml", "- targets: [h:1]\n-\n", "[1]: empty entry", 2),
        ("targets.json", '[{"targets": "h:1"}]', "expected a list of strings", None),
    ],
)
def test_broken_file_sd_file_reports_problems_and_no_groups(
    tmp_path: Path, name: str, content: str, fragment: str, line: int | None
) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    result = read_file_sd(path)
    assert result.groups == ()
    matching = [problem for problem in result.problems if fragment in str(problem)]
    assert matching, result.problems
    assert matching[0].line == line
    assert matching[0].file == str(path)


def test_unknown_keys_in_json_file_sd_groups_are_ignored_as_in_prometheus(tmp_path: Path) -> None:
    path = tmp_path / "extra.json"
    path.write_text(json.dumps([{"targets": ["h:1"], "comment": "from the CMDB"}]), encoding="utf-8")
    result = read_file_sd(path)
    assert result.problems == ()
    assert result.groups[0].targets == ("h:1",)


def test_empty_file_sd_file_has_no_groups(tmp_path: Path) -> None:
    (tmp_path / "empty.yml").write_text("", encoding="utf-8")
    assert read_file_sd(tmp_path / "empty.yml") == SourceResult(str(tmp_path / "empty.yml"), ())


def test_broken_file_keeps_its_previous_groups_and_deleted_file_loses_them(tmp_path: Path) -> None:
    good, other = tmp_path / "good.json", tmp_path / "other.json"
    good.write_text('[{"targets": ["h:1"]}]', encoding="utf-8")
    other.write_text('[{"targets": ["h:2"]}]', encoding="utf-8")
    job = job_from(
        "scrape_configs:\n  - job_name: a\n    file_sd_configs:\n      - files: ['*.json']\n", tmp_path
    )
    first = merge_discovered({}, discover(job, tmp_path))
    assert sorted(first) == [str(good), str(other)]

    good.write_text('[{"targets": ["h:1", ', encoding="utf-8")  # mid-edit
    other.unlink()
    results = discover(job, tmp_path)
    assert [bool(result.problems) for result in results] == [True]
    second = merge_discovered(first, results)
    assert second == {str(good): first[str(good)]}


def test_file_that_never_read_cleanly_has_no_groups(tmp_path: Path) -> None:
    broken = read_file_sd(tmp_path / "missing.json")
    assert "cannot be read" in str(broken.problems[0])
    assert merge_discovered({}, [broken]) == {}


def test_target_labels_before_relabeling_are_built_as_in_prometheus() -> None:
    job = job_from(
        """\
        scrape_configs:
          - job_name: node
            scrape_interval: 1m30s
            scrape_timeout: 500ms
            params:
              collect[]: [cpu, meminfo]
              empty: []
        """
    )
    target = built(job, "h:9100", {"env": "prod", "__address__": "ignored:1"})
    assert target.discovered_labels == (
        ("__address__", "h:9100"),
        ("__metrics_path__", "/metrics"),
        ("__param_collect[]", "cpu"),
        ("__scheme__", "http"),
        ("__scrape_interval__", "1m30s"),
        ("__scrape_timeout__", "500ms"),
        ("env", "prod"),
        ("job", "node"),
    )
    assert target.labels == (("env", "prod"), ("instance", "h:9100"), ("job", "node"))
    assert target.url == "http://h:9100/metrics?collect%5B%5D=cpu&collect%5B%5D=meminfo"
    assert (target.scrape_interval_s, target.scrape_timeout_s) == (90.0, 0.5)


def test_group_labels_may_override_job_scheme_and_path() -> None:
    job = job_from("scrape_configs:\n  - job_name: node\n")
    group = {"job": "custom", "__scheme__": "https", "__metrics_path__": "/probe", "__param_module": "icmp"}
    target = built(job, "h:1", group)
    assert target.url == "https://h:1/probe?module=icmp"
    assert dict(target.labels)["job"] == "custom"
    assert target.params == (("module", ("icmp",)),)


def test_a_params_label_gives_every_value_of_a_parameter() -> None:
    job = job_from("scrape_configs:\n  - job_name: node\n    params:\n      collect[]: [cpu, meminfo]\n")
    target = built(job, "h:1", {"__params_collect[]": "netdev,,diskstats"})
    assert target.params == (("collect[]", ("netdev", "diskstats")),)
    assert target.url == "http://h:1/metrics?collect%5B%5D=netdev&collect%5B%5D=diskstats"


def test_relabeled_labels_decide_url_interval_and_timeout() -> None:
    job = job_from(
        """\
        scrape_configs:
          - job_name: node
            scrape_interval: 30s
            relabel_configs:
              - target_label: __scrape_interval__
                replacement: 10s
              - target_label: __scrape_timeout__
                replacement: 2s
              - target_label: __metrics_path__
                replacement: /custom metrics
              - target_label: __param_format
                replacement: text
              - target_label: __tmp_note
                replacement: private
        """
    )
    target = built(job, "h:1")
    assert (target.scrape_interval_s, target.scrape_timeout_s) == (10.0, 2.0)
    assert target.url == "http://h:1/custom%20metrics?format=text"
    assert all(not name.startswith("__") for name, _ in target.labels)


def test_meta_labels_are_removed_and_instance_defaults_to_address() -> None:
    job = job_from(
        """\
        scrape_configs:
          - job_name: node
            relabel_configs:
              - regex: __meta_inventory_(.+)
                action: labelmap
        """
    )
    target = built(job, "h:1", {"__meta_inventory_team": "web", "__meta_filepath": "/x.json"})
    assert target.labels == (("instance", "h:1"), ("job", "node"), ("team", "web"))


def test_target_kept_instance_when_relabeling_set_one() -> None:
    job = job_from(
        """\
        scrape_configs:
          - job_name: node
            relabel_configs:
              - source_labels: [__address__]
                regex: "(.+):\\\\d+"
                target_label: instance
        """
    )
    assert dict(built(job, "web1:9100").labels)["instance"] == "web1"


def test_target_dropped_by_relabeling_is_not_an_error() -> None:
    job = job_from(
        """\
        scrape_configs:
          - job_name: node
            relabel_configs:
              - source_labels: [env]
                regex: test
                action: drop
        """
    )
    target = dropped(job, "h:1", {"env": "test"})
    assert (target.reason, target.is_error) == ("dropped by relabel_configs", False)
    assert ("env", "test") in target.discovered_labels


@pytest.mark.parametrize(
    ("label", "value", "reason"),
    [
        ("__scrape_interval__", "soon", "__scrape_interval__ 'soon' after relabeling: expected a duration"),
        ("__scrape_interval__", "0s", "__scrape_interval__ '0s' after relabeling: must be longer than zero"),
        ("__scrape_timeout__", "1.5s", "__scrape_timeout__ '1.5s' after relabeling: expected a duration"),
        ("__scrape_timeout__", "1m", "__scrape_timeout__ '1m' is longer than __scrape_interval__ '15s'"),
        (
            "__address__",
            "http://h:1/metrics",
            "__address__ 'http://h:1/metrics' after relabeling: expected host",
        ),
        ("__address__", "", "no __address__ label after relabeling"),
        ("__scheme__", "ftp", "__scheme__ 'ftp' after relabeling: expected http or https"),
    ],
)
def test_unscrapable_labels_after_relabeling_drop_the_target_with_a_reason(
    label: str, value: str, reason: str
) -> None:
    job = job_from(
        f"""\
        scrape_configs:
          - job_name: node
            relabel_configs:
              - target_label: {label}
                replacement: "{value}"
        """
    )
    target = dropped(job, "h:1")
    assert target.is_error
    assert target.reason.startswith(reason)


def test_identity_is_stable_and_changes_with_labels_url_and_job() -> None:
    job = job_from("scrape_configs:\n  - job_name: node\n")
    first = built(job, "h:1", {"env": "prod"})
    assert built(job, "h:1", {"env": "prod"}).identity == first.identity
    assert len(first.identity) == 64
    assert built(job, "h:1", {"env": "dev"}).identity != first.identity
    assert built(job, "h:2", {"env": "prod"}).identity != first.identity
    # Same labels and URL, but another job: a different target.
    renamed = job_from(
        """\
        scrape_configs:
          - job_name: node2
            relabel_configs:
              - target_label: job
                replacement: node
        """
    )
    assert built(renamed, "h:1", {"env": "prod"}).identity != first.identity


def test_build_targets_scrapes_an_address_listed_twice_once() -> None:
    job = job_from("scrape_configs:\n  - job_name: node\n")
    groups = [TargetGroup("static:0", ("h:1", "h:2")), TargetGroup("static:1", ("h:1",))]
    targets, dropped_targets = build_targets(job, groups)
    assert [dict(target.labels)["instance"] for target in targets] == ["h:1", "h:2"]
    assert dropped_targets == []


def test_node_exporter_fixture_shards_and_relabels_as_configured() -> None:
    (job,) = load_targets(FIXTURES / "node_exporter.yml").jobs
    groups = [group for result in discover(job, FIXTURES) for group in result.groups]
    targets, dropped_targets = build_targets(job, groups)
    addresses = [address for group in groups for address in group.targets]
    # The job keeps shard 0 of 2: MD5 of the address, low 64 bits, modulo 2.
    shard_0 = [a for a in addresses if int(hashlib.md5(a.encode()).hexdigest()[16:], 16) % 2 == 0]
    assert [target.discovered_labels[0][1] for target in targets] == shard_0
    assert len(dropped_targets) == len(addresses) - len(shard_0)
    assert all(not target.is_error for target in dropped_targets)
    for target in targets:
        labels = dict(target.labels)
        assert labels["instance"] == target.discovered_labels[0][1].rsplit(":", 1)[0]
        assert labels["team"] in {"storage", "web", "unowned"}
        assert labels.get("env", "X").isupper()
        assert target.url.startswith("https://")


def test_blackbox_fixture_probes_urls_through_the_exporter() -> None:
    (job,) = load_targets(FIXTURES / "blackbox.yml").jobs
    targets, _ = build_targets(job, discover(job, FIXTURES)[0].groups)
    assert [target.url for target in targets] == [
        "http://127.0.0.1:9115/probe?module=http_2xx&target=https%3A%2F%2Fopenmanager.example.org",
        "http://127.0.0.1:9115/probe?module=http_2xx&target=http%3A%2F%2Fintranet.example.org%3A8080%2Fhealth",
    ]
    assert dict(targets[0].labels)["instance"] == "https://openmanager.example.org"
