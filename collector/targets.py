"""The target file (``targets.yaml``): the jobs to scrape, how and where, in Prometheus's shape.

The file is a Prometheus configuration reduced to what scraping needs::

    global:          scrape_interval, scrape_timeout, external_labels
                     (evaluation_interval is accepted and has no effect)
    scrape_configs:  one entry per job, see ScrapeJob

It is read once into frozen objects (:func:`load_targets`); every problem in the file is reported at once in
one :class:`~collector.configfile.ConfigError`, each naming the file, line, key path, value and what is
expected. Targets are expanded from a loaded job by :mod:`collector.discovery`.

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
* regexes are Python ``re`` syntax with Go's flag groups translated (see :mod:`collector.scrape.relabel`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from collector.config_fields import Fields, LabelPairs
from collector.configfile import ConfigError, ConfigProblem, YamlDocument, parse_yaml, read_yaml
from collector.scrape.relabel import (
    DEFAULT_REGEX,
    DEFAULT_REPLACEMENT,
    DEFAULT_SEPARATOR,
    InvalidRelabelRuleError,
    RelabelAction,
    RelabelRule,
)
from collector.units import format_duration

__all__ = [
    "Authorization",
    "BasicAuth",
    "FileSDConfig",
    "GlobalConfig",
    "LabelPairs",
    "Params",
    "RelabelRule",
    "ScrapeJob",
    "StaticConfig",
    "TLSConfig",
    "TargetsConfig",
    "load_targets",
    "parse_targets",
    "summary",
    "target_address_problem",
]

DEFAULT_SCRAPE_INTERVAL_S = 15.0
DEFAULT_SCRAPE_TIMEOUT_S = 10.0
DEFAULT_FILE_SD_REFRESH_S = 300.0

Params = tuple[tuple[str, tuple[str, ...]], ...]
"""URL query parameters as (name, values) pairs sorted by name."""


@dataclass(frozen=True)
class GlobalConfig:
    """Defaults for every job, and the labels that identify this collector to outside systems."""

    scrape_interval_s: float = DEFAULT_SCRAPE_INTERVAL_S
    scrape_timeout_s: float = DEFAULT_SCRAPE_TIMEOUT_S
    external_labels: LabelPairs = ()


@dataclass(frozen=True)
class BasicAuth:
    """HTTP basic authentication; ``password`` never shows in a repr or a log line."""

    username: str
    password: SecretStr


@dataclass(frozen=True)
class Authorization:
    """An ``Authorization: <type> <credentials>`` header (``bearer_token`` is read into this, type Bearer)."""

    type: str
    credentials: SecretStr


@dataclass(frozen=True)
class TLSConfig:
    """TLS settings for an https job; file paths are resolved against the target file's directory."""

    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    server_name: str | None = None
    insecure_skip_verify: bool = False
    min_version: str | None = None


@dataclass(frozen=True)
class StaticConfig:
    """A group of targets written in the file, and labels for all of them."""

    targets: tuple[str, ...]
    labels: LabelPairs = ()


@dataclass(frozen=True)
class FileSDConfig:
    """Files (glob patterns, relative to the target file) listing target groups, re-read periodically."""

    files: tuple[str, ...]
    refresh_interval_s: float = DEFAULT_FILE_SD_REFRESH_S


@dataclass(frozen=True)
class ScrapeJob:
    """One ``scrape_configs`` entry with its defaults filled in from ``global``.

    Limits of 0 mean "no limit", as in Prometheus.
    """

    job_name: str
    scrape_interval_s: float = DEFAULT_SCRAPE_INTERVAL_S
    scrape_timeout_s: float = DEFAULT_SCRAPE_TIMEOUT_S
    metrics_path: str = "/metrics"
    scheme: str = "http"
    params: Params = ()
    honor_labels: bool = False
    honor_timestamps: bool = True
    basic_auth: BasicAuth | None = None
    authorization: Authorization | None = None
    tls_config: TLSConfig | None = None
    sample_limit: int = 0
    label_limit: int = 0
    label_name_length_limit: int = 0
    label_value_length_limit: int = 0
    body_size_limit_bytes: int = 0
    static_configs: tuple[StaticConfig, ...] = ()
    file_sd_configs: tuple[FileSDConfig, ...] = ()
    relabel_configs: tuple[RelabelRule, ...] = ()
    metric_relabel_configs: tuple[RelabelRule, ...] = ()


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
_UNKNOWN_KEY = (
    "unknown key: check the spelling; Prometheus settings that the target file does not document"
    " (such as oauth2 or proxy_url) are not supported"
)
_JOB_LIMITS = ("sample_limit", "label_limit", "label_name_length_limit", "label_value_length_limit")
_FILE_SD_PATTERN = re.compile(r"[^*]*(?:\*[^/]*)?\.(?:json|yml|yaml|JSON|YML|YAML)")
_ADDRESS = re.compile(r"(?:\[[0-9A-Za-z:.%]+\]|[^\s:/\[\]@?#]+)(?::(?P<port>\d{1,5}))?")


def _unknown_key(key: str) -> str:
    if key == "scrape_config_files":
        return "including scrape configs from other files is not supported; move those jobs here"
    if key == "body_size_limit" or key in _JOB_LIMITS:
        return "a global default for this limit is not supported; set it on each job in scrape_configs"
    if key.endswith("_sd_configs"):
        return "this service discovery is not supported; use static_configs or file_sd_configs"
    return _UNKNOWN_KEY


def target_address_problem(address: str) -> str | None:
    """Why ``address`` cannot be scraped as written (``host``, ``host:port``, ``[ipv6]:port``), or None."""
    if "/" in address:
        return "expected host:port with no scheme or path (a URL as target needs relabel_configs)"
    match = _ADDRESS.fullmatch(address)
    if match is None:
        return "expected host:port, such as 10.0.0.5:9100 or [2001:db8::1]:9100"
    port = match.group("port")
    if port is not None and not 0 < int(port) < 65536:
        return "the port must be between 1 and 65535"
    return None


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
    top.check_keys(("global", "scrape_configs", *_IGNORED_SECTIONS), _unknown_key)
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
        ("scrape_interval", "scrape_timeout", "external_labels", "evaluation_interval"), _unknown_key
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
    fields.check_keys(_JOB_KEYS, _unknown_key)
    name = fields.required_text("job_name")
    interval_s, timeout_s = _interval_and_timeout(
        fields, global_.scrape_interval_s, global_.scrape_timeout_s, "the global scrape_interval"
    )
    metrics_path = fields.text("metrics_path", "/metrics")
    if not metrics_path.startswith("/"):
        fields.problem("metrics_path", "must start with /", metrics_path)
    basic_auth, authorization = _auth(fields, base_dir)
    # Prometheus checks static addresses only without relabel_configs, which may turn a URL into an address.
    check_addresses = not fields.data.get("relabel_configs")
    return ScrapeJob(
        job_name=name,
        scrape_interval_s=interval_s,
        scrape_timeout_s=timeout_s,
        metrics_path=metrics_path,
        scheme=fields.choice("scheme", ("http", "https"), "http"),
        params=_params(fields),
        honor_labels=fields.boolean("honor_labels", False),
        honor_timestamps=fields.boolean("honor_timestamps", True),
        basic_auth=basic_auth,
        authorization=authorization,
        tls_config=_tls(fields, base_dir),
        sample_limit=fields.count("sample_limit"),
        label_limit=fields.count("label_limit"),
        label_name_length_limit=fields.count("label_name_length_limit"),
        label_value_length_limit=fields.count("label_value_length_limit"),
        body_size_limit_bytes=fields.size_bytes("body_size_limit"),
        static_configs=tuple(
            _static(group, check_addresses) for group in fields.sections("static_configs", "static configs")
        ),
        file_sd_configs=tuple(_file_sd(sd) for sd in fields.sections("file_sd_configs", "file_sd configs")),
        relabel_configs=_relabel_rules(fields, "relabel_configs"),
        metric_relabel_configs=_relabel_rules(fields, "metric_relabel_configs"),
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
    *_JOB_LIMITS,
    "body_size_limit",
    "static_configs",
    "file_sd_configs",
    "relabel_configs",
    "metric_relabel_configs",
)


def _params(fields: Fields) -> Params:
    section = fields.section("params", "query parameters (name: [values])")
    if section is None:
        return ()
    params = []
    for name in section.data:
        if isinstance(name, str):
            params.append((name, section.text_list(name)))
        else:
            section.problem(str(name), "parameter names must be strings", name)
    return tuple(sorted(params))


def _auth(fields: Fields, base_dir: Path) -> tuple[BasicAuth | None, Authorization | None]:
    basic = fields.section("basic_auth", "basic_auth settings (username, password)")
    header = fields.section("authorization", "authorization settings (type, credentials)")
    if basic is not None and header is not None:
        fields.problem("authorization", "use either basic_auth or authorization, not both")
    legacy = next((key for key in ("bearer_token", "bearer_token_file") if fields.present(key)), None)
    if legacy is not None and (basic is not None or header is not None):
        fields.problem(legacy, "cannot be combined with basic_auth or authorization; keep only one")
    basic_auth = authorization = None
    if basic is not None:
        basic.check_keys(("username", "username_file", "password", "password_file"), _unknown_key)
        username = basic.secret("username", "username_file", base_dir) or ""
        basic_auth = BasicAuth(username, SecretStr(basic.secret("password", "password_file", base_dir) or ""))
    if header is not None:
        header.check_keys(("type", "credentials", "credentials_file"), _unknown_key)
        kind = header.text("type", "").strip() or "Bearer"
        if kind.lower() == "basic":
            header.problem("type", "use basic_auth for Basic authentication", kind)
        credentials = header.secret("credentials", "credentials_file", base_dir)
        if not credentials and not header.failed("credentials", "credentials_file"):
            header.problem("credentials", "required: give credentials or credentials_file")
        authorization = Authorization(kind, SecretStr(credentials or ""))
    token = fields.secret("bearer_token", "bearer_token_file", base_dir)
    if token and authorization is None:
        authorization = Authorization("Bearer", SecretStr(token))
    return basic_auth, authorization


def _tls(fields: Fields, base_dir: Path) -> TLSConfig | None:
    tls = fields.section("tls_config", "TLS settings")
    if tls is None:
        return None
    tls.check_keys(
        ("ca_file", "cert_file", "key_file", "server_name", "insecure_skip_verify", "min_version"),
        _unknown_key,
    )
    for given, missing in (("cert_file", "key_file"), ("key_file", "cert_file")):
        if tls.present(given) and not tls.present(missing):
            tls.problem(
                missing, f"required with {given}: a client certificate needs both cert_file and key_file"
            )
    return TLSConfig(
        ca_file=tls.file("ca_file", base_dir),
        cert_file=tls.file("cert_file", base_dir),
        key_file=tls.file("key_file", base_dir),
        server_name=tls.text("server_name", "") or None,
        insecure_skip_verify=tls.boolean("insecure_skip_verify", False),
        min_version=tls.choice("min_version", ("TLS10", "TLS11", "TLS12", "TLS13"), "") or None,
    )


def _static(group: Fields, check_addresses: bool) -> StaticConfig:
    group.check_keys(("targets", "labels"), _unknown_key)
    targets = group.text_list("targets")
    if check_addresses and not group.failed("targets"):
        for index, address in enumerate(targets):
            problem = target_address_problem(address)
            if problem is not None:
                group.problem(("targets", index), problem, address)
    return StaticConfig(targets, group.labels("labels"))


def _file_sd(sd: Fields) -> FileSDConfig:
    sd.check_keys(("files", "refresh_interval"), _unknown_key)
    files = sd.text_list("files")
    if not files and not sd.failed("files"):
        sd.problem("files", "required: at least one file name or pattern")
    for index, pattern in enumerate(files if not sd.failed("files") else ()):
        if _FILE_SD_PATTERN.fullmatch(pattern) is None:
            expected = (
                "expected a .json, .yml or .yaml file name; a * may appear only in the last path segment"
            )
            sd.problem(("files", index), expected, pattern)
    return FileSDConfig(files, sd.duration_s("refresh_interval") or DEFAULT_FILE_SD_REFRESH_S)


_RELABEL_KEYS = ("source_labels", "separator", "regex", "modulus", "target_label", "replacement", "action")


def _relabel_rules(fields: Fields, key: str) -> tuple[RelabelRule, ...]:
    rules = []
    for rule in fields.sections(key, "relabel rules"):
        before = len(rule.problems)
        rule.check_keys(_RELABEL_KEYS, _unknown_key)
        action_text = rule.text("action", RelabelAction.REPLACE)
        action = RelabelAction.REPLACE
        try:
            action = RelabelAction(action_text.lower())
        except ValueError:
            rule.problem(
                "action", f"unknown action; expected one of: {', '.join(RelabelAction)}", action_text
            )
        source_labels = rule.text_list("source_labels")
        separator = rule.text("separator", DEFAULT_SEPARATOR)
        regex = rule.text("regex", DEFAULT_REGEX)
        target_label = rule.text("target_label", "")
        replacement = rule.text("replacement", DEFAULT_REPLACEMENT)
        modulus = rule.count("modulus")
        if len(rule.problems) > before:
            continue
        try:
            rules.append(
                RelabelRule(action, source_labels, separator, regex, target_label, replacement, modulus)
            )
        except InvalidRelabelRuleError as exc:
            for problem in exc.problems:
                rule.problem(problem.key, problem.expected, problem.value)
    return tuple(rules)
