"""The target file (``targets.yaml``): the jobs to scrape, how and where, in Prometheus's shape.

The file is a Prometheus configuration reduced to what scraping needs::

    global:          scrape_interval, scrape_timeout, external_labels
                     (evaluation_interval is accepted and has no effect)
    scrape_configs:  one entry per job, see ScrapeJob

It is read once into frozen objects (:func:`load_targets`); every problem in the file is reported at once in
one :class:`~collector.config.configfile.ConfigError`, each naming the file, line, key path, value and what is
expected. The jobs are :class:`~collector.config.scrape_job.ScrapeJob` objects, their sections read by
:mod:`collector.config.job_sections`; targets are expanded from a loaded job by :mod:`collector.discovery`.

A ``prometheus.yml`` can be brought as it is, for the settings supported here. What happens to the rest:

* Prometheus sections that do not concern scraping (``rule_files``, ``alerting``, ``remote_write``,
  ``remote_read``, ``storage``, ``tracing``, ``otlp``, ``runtime``) are ignored with a warning in
  :attr:`TargetsConfig.warnings`. Prometheus's own example configuration has ``alerting`` and ``rule_files``
  sections: refusing them would fail the first file a Prometheus user tries, and ignoring them changes
  nothing about what is scraped.
* Every other unknown key is an error that names it: at the top level (a typo such as ``scrape_config``, or
  ``scrape_config_files``, whose jobs would silently not be scraped) and anywhere inside ``global`` and
  ``scrape_configs``, including Prometheus settings OpenManager does not implement (``oauth2``,
  ``proxy_url``, ``kubernetes_sd_configs`` ...). Ignoring those would scrape differently from what the file
  says (no credentials, no proxy, missing targets), and a warning at start-up is easy to miss; the error says
  what to remove.

Where OpenManager differs from Prometheus:

* the default ``scrape_interval`` is 15s (Prometheus: 1m); ``scrape_timeout`` defaults to 10s as there;
* a duration of zero is an error (Prometheus silently reads ``0s`` as "not set");
* ``scheme`` must be ``http`` or ``https`` and ``metrics_path`` must start with ``/``;
* static targets of a job without ``relabel_configs`` (the case Prometheus checks) must be ``host``,
  ``host:port`` or ``[ipv6]:port``; Prometheus only rejects a ``/``;
* ``authorization`` without credentials is an error; TLS files must be readable at load time, and
  ``password_file``/``credentials_file`` are read at load time, so a rotated secret needs a reload;
* regexes are Python ``re`` syntax with Go's flag groups translated (see :mod:`collector.config.goregex`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from collector.config.configfile import ConfigError, ConfigProblem, YamlDocument, parse_yaml, read_yaml
from collector.config.fields import Fields, LabelPairs
from collector.config.job_sections import (
    JOB_LIMITS,
    read_auth,
    read_file_sd,
    read_params,
    read_relabel_rules,
    read_static,
    read_tls,
    unknown_key,
)
from collector.config.scrape_job import DEFAULT_SCRAPE_INTERVAL_S, DEFAULT_SCRAPE_TIMEOUT_S, ScrapeJob
from collector.config.units import format_duration


@dataclass(frozen=True)
class GlobalConfig:
    """Defaults for every job, and the labels that identify this collector to outside systems."""

    scrape_interval_s: float = DEFAULT_SCRAPE_INTERVAL_S
    scrape_timeout_s: float = DEFAULT_SCRAPE_TIMEOUT_S
    external_labels: LabelPairs = ()


@dataclass(frozen=True)
class TargetsConfig:
    """A loaded target file; ``warnings`` lists the ignored Prometheus sections, for the caller to log."""

    global_: GlobalConfig
    jobs: tuple[ScrapeJob, ...]
    warnings: tuple[ConfigProblem, ...] = ()


_IGNORED_SECTIONS = (
    "rule_files",
    "alerting",
    "remote_write",
    "remote_read",
    "storage",
    "tracing",
    "otlp",
    "runtime",
)


def load_targets(path: Path) -> TargetsConfig:
    """Read and validate the target file at ``path``; raises :class:`ConfigError` listing every problem."""
    return _read(read_yaml(path), path.parent)


def parse_targets(text: str, file: str, base_dir: Path) -> TargetsConfig:
    """Validate target-file ``text``; ``file`` names it in problems, ``base_dir`` anchors relative paths."""
    return _read(parse_yaml(text, file), base_dir)


def summary(cfg: TargetsConfig) -> str:
    """One line for the start-up log, such as ``2 jobs, 5 static targets, 1 file_sd pattern``."""
    static = sum(len(group.targets) for job in cfg.jobs for group in job.static_configs)
    patterns = sum(len(sd.files) for job in cfg.jobs for sd in job.file_sd_configs)
    counts = ((len(cfg.jobs), "job"), (static, "static target"), (patterns, "file_sd pattern"))
    return ", ".join(f"{n} {noun}" if n == 1 else f"{n} {noun}s" for n, noun in counts)


def _read(doc: YamlDocument, base_dir: Path) -> TargetsConfig:
    problems: list[ConfigProblem] = []
    top = Fields.of(doc, (), doc.data, problems, "the target file (global and scrape_configs)")
    if top is None:
        raise ConfigError(problems)
    top.check_keys(("global", "scrape_configs", *_IGNORED_SECTIONS), unknown_key)
    warnings = tuple(
        doc.problem((key,), "a Prometheus section that the target file does not use; it is ignored")
        for key in _IGNORED_SECTIONS
        if top.data.get(key)
    )
    global_fields = top.section("global", "the global section") or Fields(doc, ("global",), {}, problems)
    global_ = _global(global_fields)
    jobs: list[ScrapeJob] = []
    first_use: dict[str, int] = {}
    for index, fields in enumerate(top.sections("scrape_configs", "scrape configs (each with a job_name)")):
        job = _job(fields, global_, base_dir)
        if job.job_name in first_use:
            where = f"scrape_configs[{first_use[job.job_name]}]"
            fields.problem("job_name", f"already the name of {where}; job names must be unique", job.job_name)
        elif job.job_name:
            first_use[job.job_name] = index
        jobs.append(job)
    if problems:
        raise ConfigError(problems)
    return TargetsConfig(global_=global_, jobs=tuple(jobs), warnings=warnings)


def _global(fields: Fields) -> GlobalConfig:
    fields.check_keys(
        ("scrape_interval", "scrape_timeout", "external_labels", "evaluation_interval"), unknown_key
    )
    interval_s, timeout_s = _interval_and_timeout(
        fields, DEFAULT_SCRAPE_INTERVAL_S, DEFAULT_SCRAPE_TIMEOUT_S, "the default scrape_interval"
    )
    return GlobalConfig(interval_s, timeout_s, fields.labels("external_labels"))


def _interval_and_timeout(
    fields: Fields, inherited_interval_s: float, inherited_timeout_s: float, inherited_name: str
) -> tuple[float, float]:
    interval = fields.duration_s("scrape_interval")
    timeout = fields.duration_s("scrape_timeout")
    interval_s = inherited_interval_s if interval is None else interval
    if timeout is None:
        # An inherited timeout longer than this interval is lowered to it, as Prometheus does.
        return interval_s, min(inherited_timeout_s, interval_s)
    if timeout > interval_s and not fields.failed("scrape_interval"):
        name = "scrape_interval" if interval is not None else inherited_name
        expected = f"must not be longer than {name} ({format_duration(interval_s)})"
        fields.problem("scrape_timeout", expected, fields.data["scrape_timeout"])
    return interval_s, timeout


def _job(fields: Fields, global_: GlobalConfig, base_dir: Path) -> ScrapeJob:
    fields.check_keys(_JOB_KEYS, unknown_key)
    name = fields.required_text("job_name")
    interval_s, timeout_s = _interval_and_timeout(
        fields, global_.scrape_interval_s, global_.scrape_timeout_s, "the global scrape_interval"
    )
    metrics_path = fields.text("metrics_path", "/metrics")
    if not metrics_path.startswith("/"):
        fields.problem("metrics_path", "must start with /", metrics_path)
    basic_auth, authorization = read_auth(fields, base_dir)
    # Prometheus checks static addresses only without relabel_configs, which may turn a URL into an address.
    check_addresses = not fields.data.get("relabel_configs")
    return ScrapeJob(
        job_name=name,
        scrape_interval_s=interval_s,
        scrape_timeout_s=timeout_s,
        metrics_path=metrics_path,
        scheme=fields.choice("scheme", ("http", "https"), "http"),
        params=read_params(fields),
        honor_labels=fields.boolean("honor_labels", False),
        honor_timestamps=fields.boolean("honor_timestamps", True),
        basic_auth=basic_auth,
        authorization=authorization,
        tls_config=read_tls(fields, base_dir),
        sample_limit=fields.count("sample_limit"),
        label_limit=fields.count("label_limit"),
        label_name_length_limit=fields.count("label_name_length_limit"),
        label_value_length_limit=fields.count("label_value_length_limit"),
        body_size_limit_bytes=fields.size_bytes("body_size_limit"),
        static_configs=tuple(
            read_static(group, check_addresses)
            for group in fields.sections("static_configs", "static configs")
        ),
        file_sd_configs=tuple(
            read_file_sd(sd) for sd in fields.sections("file_sd_configs", "file_sd configs")
        ),
        relabel_configs=read_relabel_rules(fields, "relabel_configs"),
        metric_relabel_configs=read_relabel_rules(fields, "metric_relabel_configs"),
    )


_JOB_KEYS = (
    "job_name",
    "scrape_interval",
    "scrape_timeout",
    "metrics_path",
    "scheme",
    "params",
    "honor_labels",
    "honor_timestamps",
    "basic_auth",
    "authorization",
    "bearer_token",
    "bearer_token_file",
    "tls_config",
    *JOB_LIMITS,
    "body_size_limit",
    "static_configs",
    "file_sd_configs",
    "relabel_configs",
    "metric_relabel_configs",
)
