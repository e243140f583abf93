"""Loading and validating the target file: Prometheus configurations accepted, every mistake located."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from collector.config.configfile import ConfigError
from collector.config.relabel import RelabelAction
from collector.config.scrape_job import ScrapeJob
from collector.config.targets import GlobalConfig, TargetsConfig, load_targets, parse_targets, summary

FIXTURES = Path(__file__).parent.parent / "fixtures"
REPO_ROOT = Path(__file__).parents[3]


def parse(text: str, base_dir: Path = FIXTURES) -> TargetsConfig:
    return parse_targets(textwrap.dedent(text), "targets.yaml", base_dir)


def only_job(text: str, base_dir: Path = FIXTURES) -> ScrapeJob:
    (job,) = parse(text, base_dir).jobs
    return job


BAD_FILES = [
    pytest.param(
        """\
        scrape_configs:
          - job_name: a
          - job_name: b
          - job_name: a
        """,
        "already the name of scrape_configs[0]; job names must be unique",
        4,
        id="duplicate-job-name",
    ),
    pytest.param(
        """\
        global:
          scrape_interval: 15 seconds
        """,
        "global.scrape_interval: '15 seconds': expected a duration",
        2,
        id="bad-duration",
    ),
    pytest.param(
        """\
        scrape_configs:
          - job_name: a
            scrape_interval: 15
        """,
        "scrape_configs[0].scrape_interval: 15: expected a duration with a unit",
        3,
        id="duration-without-unit",
    ),
    pytest.param(
        """\
        scrape_configs:
          - job_name: a
            scrape_interval: 0s
        """,
        "must be longer than zero",
        3,
        id="zero-duration",
    ),
    pytest.param(
        """\
        scrape_configs:
          - job_name: a
            scrape_interval: 5s
            scrape_timeout: 10s
        """,
        "scrape_configs[0].scrape_timeout: '10s': must not be longer than scrape_interval (5s)",
        4,
        id="timeout-above-job-interval",
    ),
    pytest.param(
        """\
        global:
          scrape_interval: 10s
        scrape_configs:
          - job_name: a
            scrape_timeout: 20s
        """,
        "must not be longer than the global scrape_interval (10s)",
        5,
        id="timeout-above-inherited-interval",
    ),
    pytest.param(
        """\
        global:
          scrape_interval: 5s
          scrape_timeout: 6s
        """,
        "global.scrape_timeout: '6s': must not be longer than scrape_interval (5s)",
        3,
        id="global-timeout-above-global-interval",
    ),
    pytest.param(
        """\
        global:
          external_labels:
            1st: x
        """,
        "not a valid label name",
        3,
        id="bad-external-label-name",
    ),
    pytest.param(
        """\
        scrape_configs:
          - job_name: a
            scrape_intervall: 5s
        """,
        "scrape_configs[0].scrape_intervall: unknown key",
        3,
        id="unknown-job-key",
    ),
    pytest.param(
        """\
        scrape_config:
          - job_name: a
        """,
        "scrape_config: unknown key",
        1,
        id="unknown-top-level-key",
    ),
    pytest.param(
        """\
        global:
          scrape_interval: 15s
          scrape_protocols: [PrometheusText0.0.4]
        """,
        "global.scrape_protocols: unknown key",
        3,
        id="unsupported-global-key",
    ),
    pytest.param(
        """\
        scrape_configs:
          - job_name: a
            oauth2:
              client_id: x
        """,
        "are not supported",
        3,
        id="unsupported-prometheus-job-setting",
    ),
    pytest.param(
        """\
        scrape_configs:
          - job_name: a
            kubernetes_sd_configs:
              - role: node
        """,
        "this service discovery is not supported; use static_configs or file_sd_configs",
        3,
        id="unsupported-service-discovery",
    ),
    pytest.param(
        """\
        scrape_config_files: [more/*.yml]
        """,
        "move those jobs here",
        1,
        id="scrape-config-files",
    ),
    pytest.param(
        """\
        global:
          sample_limit: 100
        """,
        "set it on each job in scrape_configs",
        2,
        id="global-limit",
    ),
    pytest.param(
        """\
        scrape_configs:
          - job_name: a
            body_size_limit: 10 megabytes
        """,
        "body_size_limit: '10 megabytes': expected a size such as 0 (no limit), 512KB, 10MB or 1GiB",
        3,
        id="bad-body-size-limit",
    ),
    pytest.param(
        """\
        scrape_configs:
          - job_name: a
            scheme: ftp
        """,
        "scheme: 'ftp': expected one of: http, https",
        3,
        id="bad-scheme",
    ),
    pytest.param(
        """\
        scrape_configs:
          - job_name: a
            metrics_path: metrics
        """,
        "metrics_path: 'metrics': must start with /",
        3,
        id="relative-metrics-path",
    ),
    pytest.param(
        """\
        scrape_configs:
          - job_name: a
            job_name: b
        """,
        "scrape_configs[0].job_name: this key is given twice",
        3,
        id="duplicate-yaml-key",
    ),
    pytest.param(
        """\
        scrape_configs:
          - job_name: a
            static_configs: [
        """,
        "(syntax): not valid YAML",
        4,
        id="yaml-syntax-error",
    ),
    pytest.param(
        """\
        scrape_configs:
          - scrape_interval: 5s
        """,
        "scrape_configs[0].job_name: required key is missing or empty",
        2,
        id="missing-job-name",
    ),
    pytest.param(
        """\
        - job_name: a
        """,
        "(top level): [{'job_name': 'a'}]: expected the target file",
        1,
        id="wrong-type-top-level",
    ),
    pytest.param(
        """\
        scrape_configs:
          job_name: a
        """,
        "scrape_configs: {'job_name': 'a'}: expected a list of scrape configs",
        1,
        id="wrong-type-scrape-configs",
    ),
    pytest.param(
        """\
        scrape_configs:
          - job_name: a
            honor_labels: "yes"
        """,
        "honor_labels: 'yes': expected true or false",
        3,
        id="wrong-type-bool",
    ),
    pytest.param(
        """\
        scrape_configs:
          - job_name: a
            sample_limit: -1
        """,
        "sample_limit: -1: expected a whole number, 0 or more",
        3,
        id="wrong-type-negative-limit",
    ),
    pytest.param(
        """\
        scrape_configs:
          - job_name: a
            static_configs:
              targets: [h:1]
        """,
        "static_configs: {'targets': ['h:1']}: expected a list of static configs",
        3,
        id="wrong-type-static-configs-not-a-list",
    ),
]


@pytest.mark.parametrize(("text", "fragment", "line"), BAD_FILES)
def test_bad_target_file_is_reported_with_line(text: str, fragment: str, line: int) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(text)
    matching = [problem for problem in caught.value.problems if fragment in str(problem)]
    assert matching, f"no problem contains {fragment!r}:\n{caught.value}"
    assert matching[0].line == line
    assert matching[0].file == "targets.yaml"


def test_every_problem_in_the_file_is_reported_at_once() -> None:
    text = """\
    global:
      scrape_interval: soon
    scrape_configs:
      - job_name: a
        scheme: ftp
        static_configs:
          - targets: ["http://x/"]
      - job_name: a
        relabel_configs:
          - action: hashmod
    """
    with pytest.raises(ConfigError) as caught:
        parse(text)
    located = sorted((problem.line or 0, problem.key) for problem in caught.value.problems)
    assert located == [
        (2, "global.scrape_interval"),
        (5, "scrape_configs[0].scheme"),
        (7, "scrape_configs[0].static_configs[0].targets[0]"),
        (8, "scrape_configs[1].job_name"),
        (10, "scrape_configs[1].relabel_configs[0].modulus"),
        (10, "scrape_configs[1].relabel_configs[0].target_label"),
    ]


def test_problem_names_file_line_key_value_and_expectation() -> None:
    with pytest.raises(ConfigError) as caught:
        parse("scrape_configs:\n  - job_name: a\n    scrape_interval: 5 s\n")
    assert str(caught.value) == (
        "targets.yaml:3: scrape_configs[0].scrape_interval: '5 s': "
        "expected a duration with a unit, such as 15s, 1m30s or 500ms"
    )


def test_prometheus_example_configuration_is_accepted() -> None:
    cfg = load_targets(FIXTURES / "prometheus_example.yml")
    assert cfg.global_ == GlobalConfig(scrape_interval_s=15.0, scrape_timeout_s=10.0)
    (job,) = cfg.jobs
    assert job.job_name == "prometheus"
    assert (job.metrics_path, job.scheme) == ("/metrics", "http")
    assert job.static_configs[0].targets == ("localhost:9090",)
    assert job.static_configs[0].labels == (("app", "prometheus"),)
    # The empty rule_files section is silent; the alerting section is ignored with a warning.
    assert [(warning.key, warning.line) for warning in cfg.warnings] == [("alerting", 10)]
    assert "ignored" in str(cfg.warnings[0])


def test_node_exporter_configuration_is_read_into_typed_fields() -> None:
    cfg = load_targets(FIXTURES / "node_exporter.yml")
    assert cfg.global_.external_labels == (("collector", "c1"), ("site", "lab"))
    (job,) = cfg.jobs
    assert (job.scrape_interval_s, job.scrape_timeout_s) == (15.0, 5.0)
    assert job.scheme == "https"
    assert job.params == (("collect[]", ("cpu", "meminfo", "filesystem")),)
    assert job.basic_auth is not None
    assert job.basic_auth.username == "prometheus"
    assert job.basic_auth.password.get_secret_value() == "correct horse battery staple"
    assert job.tls_config is not None
    assert job.tls_config.ca_file == FIXTURES / "secrets" / "ca.pem"
    assert (job.tls_config.server_name, job.tls_config.min_version) == ("node.lab.example", "TLS12")
    assert (job.sample_limit, job.label_limit) == (50000, 64)
    assert (job.label_name_length_limit, job.label_value_length_limit) == (128, 2048)
    assert job.body_size_limit_bytes == 10 * 1024 * 1024
    assert job.static_configs[0].targets[2] == "[2001:db8::5]:9100"
    assert job.file_sd_configs[0].files == ("file_sd/*.json", "file_sd/*.yml")
    assert job.file_sd_configs[0].refresh_interval_s == 60.0
    assert [rule.action for rule in job.relabel_configs] == [
        RelabelAction.HASHMOD,
        RelabelAction.KEEP,
        RelabelAction.LABELMAP,
        RelabelAction.REPLACE,
        RelabelAction.UPPERCASE,
        RelabelAction.REPLACE,
    ]
    assert job.relabel_configs[0].modulus == 2
    assert [rule.action for rule in job.metric_relabel_configs] == [
        RelabelAction.DROP,
        RelabelAction.DROP,
        RelabelAction.LABELDROP,
        RelabelAction.REPLACE,
    ]
    assert job.metric_relabel_configs[1].separator == "@"


def test_urls_as_targets_are_accepted_when_relabel_configs_rewrite_them() -> None:
    (job,) = load_targets(FIXTURES / "blackbox.yml").jobs
    assert job.static_configs[0].targets[0] == "https://openmanager.example.org"
    assert job.params == (("module", ("http_2xx",)),)


def test_secrets_never_show_in_repr() -> None:
    cfg = load_targets(FIXTURES / "node_exporter.yml")
    assert "horse" not in repr(cfg)
    assert "horse" not in str(cfg.jobs[0].basic_auth)


def test_empty_file_has_no_jobs_and_default_global_settings() -> None:
    cfg = parse("")
    assert cfg == TargetsConfig(global_=GlobalConfig(15.0, 10.0, ()), jobs=())


def test_job_without_settings_gets_prometheus_defaults() -> None:
    job = only_job("scrape_configs:\n  - job_name: a\n")
    assert job == ScrapeJob(job_name="a")
    assert (job.scrape_interval_s, job.scrape_timeout_s, job.metrics_path, job.scheme) == (
        15.0,
        10.0,
        "/metrics",
        "http",
    )
    assert (job.honor_labels, job.honor_timestamps) == (False, True)


def test_job_inherits_global_interval_and_timeout() -> None:
    text = """\
    global:
      scrape_interval: 1m
      scrape_timeout: 20s
    scrape_configs:
      - job_name: a
    """
    assert (only_job(text).scrape_interval_s, only_job(text).scrape_timeout_s) == (60.0, 20.0)


def test_job_interval_below_inherited_timeout_lowers_the_timeout() -> None:
    text = """\
    scrape_configs:
      - job_name: fast
        scrape_interval: 5s
    """
    job = only_job(text)
    assert (job.scrape_interval_s, job.scrape_timeout_s) == (5.0, 5.0)


def test_global_interval_below_default_timeout_lowers_the_timeout() -> None:
    cfg = parse("global:\n  scrape_interval: 2s\n")
    assert (cfg.global_.scrape_interval_s, cfg.global_.scrape_timeout_s) == (2.0, 2.0)


def test_evaluation_interval_is_accepted_and_ignored() -> None:
    assert parse("global:\n  evaluation_interval: whatever\n").global_ == GlobalConfig()


def test_ignored_prometheus_sections_give_warnings_not_errors() -> None:
    text = """\
    remote_write:
      - url: http://mimir:9009/api/v1/push
    rule_files: [alerts.yml]
    storage:
      tsdb:
        out_of_order_time_window: 10m
    scrape_configs:
      - job_name: a
    """
    cfg = parse(text)
    assert [warning.key for warning in cfg.warnings] == ["rule_files", "remote_write", "storage"]
    assert len(cfg.jobs) == 1


def test_summary_counts_jobs_static_targets_and_file_patterns() -> None:
    assert (
        summary(load_targets(FIXTURES / "node_exporter.yml")) == "1 job, 3 static targets, 2 file_sd patterns"
    )
    assert summary(parse("")) == "0 jobs, 0 static targets, 0 file_sd patterns"


def test_missing_target_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot be read"):
        load_targets(tmp_path / "targets.yaml")


def test_shipped_targets_file_scrapes_the_local_exporter() -> None:
    cfg = load_targets(REPO_ROOT / "targets.yaml")
    (job,) = cfg.jobs
    assert job.job_name == "node"
    assert job.scrape_interval_s == 15.0
    assert job.static_configs[0].targets == ("127.0.0.1:9110",)
    assert cfg.warnings == ()


def test_shipped_targets_file_examples_are_valid_when_uncommented(tmp_path: Path) -> None:
    # Every commented-out job in targets.yaml ("  # - job_name: ...") must load once uncommented.
    lines = (REPO_ROOT / "targets.yaml").read_text(encoding="utf-8").splitlines()
    jobs, in_job = [], False
    for line in lines:
        in_job = line.startswith("  # - job_name:") or (in_job and line.startswith("  #   "))
        if in_job:
            jobs.append("  " + line[4:])
    assert sum(line.startswith("  - job_name:") for line in jobs) == 3
    (tmp_path / "secrets").mkdir()
    for name in ("exporter.password", "ca.pem"):
        (tmp_path / "secrets" / name).write_text("x\n", encoding="utf-8")
    cfg = parse_targets("scrape_configs:\n" + "\n".join(jobs) + "\n", "examples", tmp_path)
    assert [job.job_name for job in cfg.jobs] == ["node_exporter", "inventory", "secured_exporter"]
