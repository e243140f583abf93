"""Readers of a job's sections: credentials, TLS, params, static and file_sd targets, relabel rules."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from collector.config import job_sections
from collector.config.configfile import ConfigProblem, parse_yaml
from collector.config.fields import Fields
from collector.config.job_sections import target_address_problem, unknown_key
from collector.config.relabel import RelabelAction
from collector.config.scrape_job import Authorization, ScrapeJob
from collector.config.targets import parse_targets

FIXTURES = Path(__file__).parent.parent / "fixtures"


def only_job(text: str, base_dir: Path = FIXTURES) -> ScrapeJob:
    (job,) = parse_targets(textwrap.dedent(text), "targets.yaml", base_dir).jobs
    return job


def read_sections(text: str) -> list[ConfigProblem]:
    """Every problem the section readers find in one job's mapping ``text``, read as the file job.yaml."""
    doc = parse_yaml(textwrap.dedent(text), "job.yaml")
    problems: list[ConfigProblem] = []
    job = Fields.of(doc, (), doc.data, problems, "a job")
    assert job is not None
    job_sections.read_params(job)
    job_sections.read_auth(job, FIXTURES)
    job_sections.read_tls(job, FIXTURES)
    for group in job.sections("static_configs", "static configs"):
        job_sections.read_static(group, check_addresses=True)
    for sd in job.sections("file_sd_configs", "file_sd configs"):
        job_sections.read_file_sd(sd)
    job_sections.read_relabel_rules(job, "relabel_configs")
    job_sections.read_relabel_rules(job, "metric_relabel_configs")
    return problems


BAD_SECTIONS = [
    pytest.param(
        """\
        static_configs:
          - targets: [h:1]
            labels:
              bad-name: x
        """,
        "static_configs[0].labels.bad-name: 'bad-name': not a valid label name",
        4,
        id="bad-label-name",
    ),
    pytest.param(
        """\
        relabel_configs:
          - source_labels: [a]
            target_label: my-label
        """,
        "relabel_configs[0].target_label: 'my-label': not a valid label name",
        3,
        id="bad-target-label",
    ),
    pytest.param(
        """\
        relabel_configs:
          - source_labels: [ok, not ok]
            target_label: b
        """,
        "relabel_configs[0].source_labels[1]: 'not ok': not a valid label name",
        2,
        id="bad-source-label",
    ),
    pytest.param(
        """\
        metric_relabel_configs:
          - source_labels: [__name__]
            regex: "node_(cpu"
            action: drop
        """,
        "metric_relabel_configs[0].regex: 'node_(cpu': not a valid regular expression",
        3,
        id="bad-regex",
    ),
    pytest.param(
        """\
        relabel_configs:
          - source_labels: [__address__]
            target_label: shard
            action: hashmod
        """,
        "relabel_configs[0].modulus: 0: hashmod needs a modulus greater than 0",
        2,
        id="hashmod-without-modulus",
    ),
    pytest.param(
        """\
        relabel_configs:
          - source_labels: [a]
            action: keepequal
            target_label: b
            regex: "x.*"
        """,
        "the keepequal action takes only source_labels and target_label",
        5,
        id="keepequal-with-regex",
    ),
    pytest.param(
        """\
        relabel_configs:
          - action: lowercase
            source_labels: [a]
        """,
        "lowercase needs a target_label",
        2,
        id="lowercase-without-target",
    ),
    pytest.param(
        """\
        relabel_configs:
          - action: rename
        """,
        "relabel_configs[0].action: 'rename': unknown action; expected one of: replace, keep",
        2,
        id="unknown-action",
    ),
    pytest.param(
        """\
        relabel_configs:
          -
        """,
        "relabel_configs[0]: empty entry: fill it in or remove it",
        2,
        id="null-relabel-rule",
    ),
    pytest.param(
        """\
        basic_auth:
          username: u
          password: p
          password_file: secrets/exporter.password
        """,
        "basic_auth.password_file: give either password or password_file, not both",
        4,
        id="password-and-password-file",
    ),
    pytest.param(
        """\
        basic_auth:
          username: u
          password_file: secrets/missing.password
        """,
        "basic_auth.password_file: 'secrets/missing.password': cannot read the file",
        3,
        id="unreadable-password-file",
    ),
    pytest.param(
        """\
        authorization:
          credentials: c
          credentials_file: secrets/exporter.password
        """,
        "give either credentials or credentials_file, not both",
        3,
        id="credentials-and-credentials-file",
    ),
    pytest.param(
        """\
        authorization:
          type: Basic
          credentials: dTpw
        """,
        "use basic_auth for Basic authentication",
        2,
        id="authorization-type-basic",
    ),
    pytest.param(
        """\
        authorization:
          type: Bearer
        """,
        "give credentials or credentials_file",
        1,
        id="authorization-without-credentials",
    ),
    pytest.param(
        """\
        basic_auth:
          username: u
        authorization:
          credentials: c
        """,
        "use either basic_auth or authorization, not both",
        3,
        id="basic-auth-and-authorization",
    ),
    pytest.param(
        """\
        basic_auth:
          username: u
        bearer_token: t
        """,
        "bearer_token: cannot be combined with basic_auth or authorization",
        3,
        id="bearer-token-and-basic-auth",
    ),
    pytest.param(
        """\
        tls_config:
          cert_file: secrets/ca.pem
        """,
        "tls_config.key_file: required with cert_file",
        1,
        id="cert-without-key",
    ),
    pytest.param(
        """\
        tls_config:
          min_version: TLS14
        """,
        "expected one of: TLS10, TLS11, TLS12, TLS13",
        2,
        id="bad-tls-version",
    ),
    pytest.param(
        """\
        static_configs:
          - targets:
              - 10.0.0.1:9100
              - http://10.0.0.2:9100/metrics
        """,
        "targets[1]: 'http://10.0.0.2:9100/metrics': expected host:port with no scheme or path",
        4,
        id="target-with-scheme-and-path",
    ),
    pytest.param(
        """\
        static_configs:
          - targets: ["h:99999"]
        """,
        "the port must be between 1 and 65535",
        2,
        id="target-port-out-of-range",
    ),
    pytest.param(
        """\
        static_configs:
          - targets: ["::1:9100"]
        """,
        "expected host:port, such as 10.0.0.5:9100 or [2001:db8::1]:9100",
        2,
        id="unbracketed-ipv6-target",
    ),
    pytest.param(
        """\
        file_sd_configs:
          - files: [targets.d/*.json, targets.d/*.txt]
        """,
        "files[1]: 'targets.d/*.txt': expected a .json, .yml or .yaml file name",
        2,
        id="file-sd-pattern-not-json-or-yaml",
    ),
    pytest.param(
        """\
        file_sd_configs:
          - files:
              - "*/nodes.json"
        """,
        "a * may appear only in the last path segment",
        3,
        id="file-sd-glob-in-directory",
    ),
    pytest.param(
        """\
        file_sd_configs:
          - refresh_interval: 1m
        """,
        "file_sd_configs[0].files: required: at least one file name or pattern",
        2,
        id="file-sd-without-files",
    ),
    pytest.param(
        """\
        static_configs:
          - targets: h:1
        """,
        "targets: 'h:1': expected a list of strings",
        2,
        id="wrong-type-targets-not-a-list",
    ),
    pytest.param(
        """\
        params:
          module: http_2xx
        """,
        "params.module: 'http_2xx': expected a list of strings",
        2,
        id="wrong-type-param-not-a-list",
    ),
    pytest.param(
        """\
        static_configs:
          - targets: [h:1]
            labels:
              version: 1.10
        """,
        "labels.version: 1.1: expected a string (put the value in quotes)",
        4,
        id="wrong-type-float-label-value",
    ),
]


@pytest.mark.parametrize(("text", "fragment", "line"), BAD_SECTIONS)
def test_bad_job_section_is_reported_with_line(text: str, fragment: str, line: int) -> None:
    problems = read_sections(text)
    matching = [problem for problem in problems if fragment in str(problem)]
    assert matching, f"no problem contains {fragment!r}: {[str(problem) for problem in problems]}"
    assert (matching[0].file, matching[0].line) == ("job.yaml", line)


def test_legacy_bearer_token_file_becomes_a_bearer_authorization() -> None:
    text = """\
    scrape_configs:
      - job_name: a
        bearer_token_file: secrets/exporter.password
    """
    authorization = only_job(text).authorization
    assert authorization is not None
    assert authorization.type == "Bearer"
    assert authorization.credentials.get_secret_value() == "correct horse battery staple"


def test_authorization_type_defaults_to_bearer() -> None:
    job = only_job("scrape_configs:\n  - job_name: a\n    authorization:\n      credentials: tok\n")
    assert job.authorization is not None
    assert (job.authorization.type, job.authorization.credentials.get_secret_value()) == ("Bearer", "tok")
    assert isinstance(job.authorization, Authorization)


def test_secret_files_resolve_against_the_target_file_directory(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("  s3cret \n", encoding="utf-8")
    job = only_job("scrape_configs:\n  - job_name: a\n    basic_auth:\n      password_file: pw\n", tmp_path)
    assert job.basic_auth is not None
    assert (job.basic_auth.username, job.basic_auth.password.get_secret_value()) == ("", "s3cret")


def test_relabel_action_is_case_insensitive_and_regex_scalars_are_text() -> None:
    text = """\
    scrape_configs:
      - job_name: a
        relabel_configs:
          - regex: __meta_(.+)
            action: LabelMap
          - source_labels: [__meta_scrape]
            regex: true
            action: Keep
    """
    labelmap, keep = only_job(text).relabel_configs
    assert labelmap.action is RelabelAction.LABELMAP
    assert (keep.action, keep.regex) == (RelabelAction.KEEP, "true")


def test_label_values_written_as_numbers_or_booleans_are_their_text() -> None:
    text = """\
    scrape_configs:
      - job_name: a
        static_configs:
          - targets: [h:1]
            labels: {port: 9100, canary: false}
    """
    assert only_job(text).static_configs[0].labels == (("canary", "false"), ("port", "9100"))


@pytest.mark.parametrize(
    ("address", "accepted"),
    [
        ("10.0.0.5:9100", True),
        ("node-1.example.com:9100", True),
        ("localhost", True),
        ("[2001:db8::1]:9100", True),
        ("[::1]", True),
        ("", False),
        ("host:", False),
        ("host:0", False),
        ("host:65536", False),
        ("http://host:9100", False),
        ("host:9100/metrics", False),
        ("user@host:9100", False),
        ("two words:1", False),
    ],
)
def test_target_address_forms(address: str, accepted: bool) -> None:
    assert (target_address_problem(address) is None) is accepted


@pytest.mark.parametrize(
    ("key", "fragment"),
    [
        ("scrape_config_files", "move those jobs here"),
        ("sample_limit", "set it on each job"),
        ("body_size_limit", "set it on each job"),
        ("kubernetes_sd_configs", "use static_configs or file_sd_configs"),
        ("oauth2", "check the spelling"),
        ("scrape_confgs", "check the spelling"),
    ],
)
def test_unknown_key_says_what_to_do_instead(key: str, fragment: str) -> None:
    assert fragment in unknown_key(key)
