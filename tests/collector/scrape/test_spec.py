"""From a target and its job to the fetch: credentials, limits and TLS as the target file says."""

from __future__ import annotations

import ssl
from pathlib import Path

import trustme

from collector.config.scrape_job import ScrapeJob, TLSConfig
from collector.config.targets import parse_targets
from collector.discovery import Target, build_target
from collector.scrape.spec import fetch_spec, ssl_context


def _job_and_target(tmp_path: Path, job_yaml: str) -> tuple[ScrapeJob, Target]:
    text = f"scrape_configs:\n  - job_name: app\n{job_yaml}    static_configs:\n      - targets: ['h:9100']\n"
    job = parse_targets(text, "t.yaml", tmp_path).jobs[0]
    target = build_target(job, "h:9100", {})
    assert isinstance(target, Target)
    return job, target


def test_basic_auth_body_limit_and_timeout_reach_the_fetch(tmp_path: Path) -> None:
    job_yaml = (
        "    scrape_timeout: 3s\n    body_size_limit: 2MB\n"
        "    basic_auth:\n      username: prom\n      password: s3cret\n"
    )
    job, target = _job_and_target(tmp_path, job_yaml)
    spec = fetch_spec(target, job)
    assert spec.url == "http://h:9100/metrics" and spec.timeout_s == 3.0
    assert spec.body_limit_bytes == 2 * 1024 * 1024
    assert spec.basic_auth == ("prom", "s3cret") and spec.bearer_token is None


def test_bearer_and_other_authorization_types(tmp_path: Path) -> None:
    job, target = _job_and_target(tmp_path, "    authorization:\n      credentials: tok\n")
    assert fetch_spec(target, job).bearer_token == "tok"
    job, target = _job_and_target(tmp_path, "    authorization:\n      type: Token\n      credentials: abc\n")
    spec = fetch_spec(target, job)
    assert spec.headers == {"Authorization": "Token abc"} and spec.bearer_token is None


def test_tls_context_trusts_the_configured_ca_and_sets_the_minimum_version(tmp_path: Path) -> None:
    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    context = ssl_context(TLSConfig(ca_file=ca_file, min_version="TLS13"))
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.minimum_version == ssl.TLSVersion.TLSv1_3
    insecure = ssl_context(TLSConfig(insecure_skip_verify=True))
    assert insecure.verify_mode == ssl.CERT_NONE and not insecure.check_hostname
