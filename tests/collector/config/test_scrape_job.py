"""The scrape job model: Prometheus's defaults, and secrets that never show."""

from __future__ import annotations

from pydantic import SecretStr

from collector.config.scrape_job import Authorization, BasicAuth, FileSDConfig, ScrapeJob


def test_job_defaults_are_prometheus_defaults_with_a_15s_interval() -> None:
    job = ScrapeJob(job_name="a")
    assert (job.scrape_interval_s, job.scrape_timeout_s, job.metrics_path, job.scheme) == (
        15.0,
        10.0,
        "/metrics",
        "http",
    )
    assert (job.honor_labels, job.honor_timestamps, job.follow_redirects) == (False, True, True)
    assert (job.sample_limit, job.body_size_limit_bytes, job.line_limit) == (0, 0, 0)
    assert FileSDConfig(files=("a.json",)).refresh_interval_s == 300.0


def test_credentials_never_show_in_repr_or_str() -> None:
    job = ScrapeJob(
        job_name="a",
        basic_auth=BasicAuth("prometheus", SecretStr("horse-password")),
        authorization=Authorization("Bearer", SecretStr("horse-token")),
    )
    for text in (repr(job), str(job), repr(job.basic_auth), str(job.authorization)):
        assert "horse" not in text
    assert job.basic_auth is not None and job.basic_auth.password.get_secret_value() == "horse-password"
