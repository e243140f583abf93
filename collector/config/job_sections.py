"""Readers of the sections inside a target file's job: authentication, TLS, params, targets, relabel rules.

Each reader takes the :class:`~collector.config.fields.Fields` of one ``scrape_configs`` entry (or of one of
its list items), records every problem it finds there and returns the typed object of
:mod:`collector.config.scrape_job`. :func:`unknown_key` says what is wrong with a key the target file does
not know, anywhere in the file.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import SecretStr

from collector.config.fields import Fields
from collector.config.relabel import (
    DEFAULT_REGEX,
    DEFAULT_REPLACEMENT,
    DEFAULT_SEPARATOR,
    InvalidRelabelRuleError,
    RelabelAction,
    RelabelRule,
)
from collector.config.scrape_job import (
    DEFAULT_FILE_SD_REFRESH_S,
    Authorization,
    BasicAuth,
    FileSDConfig,
    Params,
    StaticConfig,
    TLSConfig,
)

_UNKNOWN_KEY = (
    "unknown key: check the spelling; Prometheus settings that the target file does not document"
    " (such as oauth2 or proxy_url) are not supported"
)
JOB_LIMITS = ("sample_limit", "label_limit", "label_name_length_limit", "label_value_length_limit")
_FILE_SD_PATTERN = re.compile(r"[^*]*(?:\*[^/]*)?\.(?:json|yml|yaml|JSON|YML|YAML)")
_ADDRESS = re.compile(r"(?:\[[0-9A-Za-z:.%]+\]|[^\s:/\[\]@?#]+)(?::(?P<port>\d{1,5}))?")


def unknown_key(key: str) -> str:
    """What to say about ``key``, which the target file does not know, wherever it appears."""
    if key == "scrape_config_files":
        return "including scrape configs from other files is not supported; move those jobs here"
    if key == "body_size_limit" or key in JOB_LIMITS:
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


def read_params(fields: Fields) -> Params:
    """The job's ``params`` (URL query parameters), sorted by name."""
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


def read_auth(fields: Fields, base_dir: Path) -> tuple[BasicAuth | None, Authorization | None]:
    """The job's credentials: ``basic_auth``, ``authorization`` or the legacy ``bearer_token(_file)``.

    At most one of them may be given; secret files are read now, relative to ``base_dir``.
    """
    basic = fields.section("basic_auth", "basic_auth settings (username, password)")
    header = fields.section("authorization", "authorization settings (type, credentials)")
    if basic is not None and header is not None:
        fields.problem("authorization", "use either basic_auth or authorization, not both")
    legacy = next((key for key in ("bearer_token", "bearer_token_file") if fields.present(key)), None)
    if legacy is not None and (basic is not None or header is not None):
        fields.problem(legacy, "cannot be combined with basic_auth or authorization; keep only one")
    basic_auth = authorization = None
    if basic is not None:
        basic.check_keys(("username", "username_file", "password", "password_file"), unknown_key)
        username = basic.secret("username", "username_file", base_dir) or ""
        basic_auth = BasicAuth(username, SecretStr(basic.secret("password", "password_file", base_dir) or ""))
    if header is not None:
        header.check_keys(("type", "credentials", "credentials_file"), unknown_key)
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


def read_tls(fields: Fields, base_dir: Path) -> TLSConfig | None:
    """The job's ``tls_config``; its files must be readable now and resolve against ``base_dir``."""
    tls = fields.section("tls_config", "TLS settings")
    if tls is None:
        return None
    tls.check_keys(
        ("ca_file", "cert_file", "key_file", "server_name", "insecure_skip_verify", "min_version"),
        unknown_key,
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


def read_static(group: Fields, check_addresses: bool) -> StaticConfig:
    """One ``static_configs`` group; with ``check_addresses`` each target must be a scrapeable address."""
    group.check_keys(("targets", "labels"), unknown_key)
    targets = group.text_list("targets")
    if check_addresses and not group.failed("targets"):
        for index, address in enumerate(targets):
            problem = target_address_problem(address)
            if problem is not None:
                group.problem(("targets", index), problem, address)
    return StaticConfig(targets, group.labels("labels"))


def read_file_sd(sd: Fields) -> FileSDConfig:
    """One ``file_sd_configs`` entry: .json/.yml/.yaml names or patterns and the refresh interval."""
    sd.check_keys(("files", "refresh_interval"), unknown_key)
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


def read_relabel_rules(fields: Fields, key: str) -> tuple[RelabelRule, ...]:
    """The rules listed under ``key`` (``relabel_configs`` or ``metric_relabel_configs``), each validated."""
    rules = []
    for rule in fields.sections(key, "relabel rules"):
        before = len(rule.problems)
        rule.check_keys(_RELABEL_KEYS, unknown_key)
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
