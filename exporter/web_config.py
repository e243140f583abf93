"""The ``web`` section: TLS and authentication, in the shape of a Prometheus exporter-toolkit web config.

The keys (``tls_server_config``, ``basic_auth_users``) are exporter-toolkit's, so an operator can paste an
existing web config file under ``web:`` or point ``web_config_file`` at it. ``bearer_token`` and
``bearer_token_file`` are ours. Keys exporter-toolkit knows but this exporter does not implement are
refused with a reason rather than ignored, so nobody believes a setting is in force when it is not.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from exporter.validation import Reader, show

CLIENT_AUTH_TYPES = ("NoClientCert", "VerifyClientCertIfGiven", "RequireAndVerifyClientCert")
TLS_VERSIONS = ("TLS12", "TLS13")
MIN_BEARER_TOKEN_CHARS = 16

_BCRYPT_HASH_RE = re.compile(r"^\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}$")

# exporter-toolkit keys we recognise but do not implement: say so instead of "unknown key".
_UNSUPPORTED_WEB_KEYS = {
    "http_server_config": "HTTP/2 and custom headers are not supported by openmanager-exporter",
    "rate_limit": "rate limiting is not supported by openmanager-exporter",
}
_UNSUPPORTED_TLS_KEYS = {
    "cipher_suites": "Python's TLS defaults are used; remove the key",
    "curve_preferences": "Python's TLS defaults are used; remove the key",
    "prefer_server_cipher_suites": "Python's TLS defaults are used; remove the key",
    "client_allowed_sans": "restricting client SANs is not supported; remove the key",
}


@dataclass(frozen=True)
class TLSConfig:
    """`tls_server_config` of an exporter-toolkit web config file."""

    cert_file: Path
    key_file: Path
    client_auth_type: str = "NoClientCert"
    client_ca_file: Path | None = None
    min_version: str = "TLS12"
    max_version: str | None = None


@dataclass(frozen=True)
class WebConfig:
    """Transport security and authentication; empty means plain HTTP without authentication."""

    tls: TLSConfig | None = None
    basic_auth_users: Mapping[str, bytes] = field(default_factory=dict, repr=False)
    bearer_token: str | None = field(default=None, repr=False)
    source: str = ""
    key_prefix: str = "web."

    @property
    def auth_required(self) -> bool:
        """True when a request must carry credentials."""
        return bool(self.basic_auth_users) or self.bearer_token is not None


def parse_web(reader: Reader, raw: object, key: str, base: Path) -> WebConfig:
    """Validate a web section at `key` ("" for a whole web config file); paths resolve against `base`."""
    allowed = ("tls_server_config", "basic_auth_users", "bearer_token", "bearer_token_file")
    prefix = f"{key}." if key else ""
    if isinstance(raw, dict):
        for name, reason in _UNSUPPORTED_WEB_KEYS.items():
            if name in raw:
                raise reader.fail(prefix + name, reason)
    web = reader.mapping(raw, key, allowed)
    tls = None
    if "tls_server_config" in web:
        tls = _parse_tls(reader, web["tls_server_config"], prefix + "tls_server_config", base)
    users: dict[str, bytes] = {}
    users_key = prefix + "basic_auth_users"
    raw_users = web.get("basic_auth_users")
    if raw_users is not None:
        if not isinstance(raw_users, dict) or not raw_users:
            raise reader.fail(
                users_key, f"got {show(raw_users)}; expected a mapping of user names to bcrypt hashes"
            )
        for user, hashed in raw_users.items():
            user_key = f"{users_key}.{user}"
            if not isinstance(user, str) or not user or ":" in user:
                raise reader.fail(user_key, "expected a non-empty user name without ':'")
            if not isinstance(hashed, str) or not _BCRYPT_HASH_RE.match(hashed):
                raise reader.fail(
                    user_key,
                    "the value (hidden) is not a bcrypt hash; expected a hash like $2b$12$..., "
                    "made e.g. with: htpasswd -nBC 12 '' | tr -d ':\\n'",
                )
            users[user] = hashed.encode("ascii")
    if "bearer_token" in web and "bearer_token_file" in web:
        raise reader.fail(
            prefix + "bearer_token_file", "cannot be combined with bearer_token; keep one of the two"
        )
    token = None
    if "bearer_token" in web:
        token = _check_token(reader, web["bearer_token"], prefix + "bearer_token")
    elif "bearer_token_file" in web:
        token_key = prefix + "bearer_token_file"
        token_path = reader.readable_file(web["bearer_token_file"], token_key, base)
        try:
            text = token_path.read_text(encoding="utf-8").strip()
        except UnicodeDecodeError:
            raise reader.fail(token_key, f"got {str(token_path)!r}; expected a UTF-8 text file") from None
        token = _check_token(reader, text, f"{token_key} (contents of {token_path})")
    return WebConfig(tls, users, token, reader.file, prefix)


def _check_token(reader: Reader, value: object, key: str) -> str:
    if not isinstance(value, str) or len(value.strip()) < MIN_BEARER_TOKEN_CHARS:
        raise reader.fail(
            key,
            f"the value (hidden) is too short; expected at least {MIN_BEARER_TOKEN_CHARS} characters",
        )
    if any(char.isspace() for char in value.strip()):
        raise reader.fail(key, "the value (hidden) contains whitespace; expected a single word")
    return value.strip()


def _parse_tls(reader: Reader, raw: object, key: str, base: Path) -> TLSConfig:
    if isinstance(raw, dict):
        for name, reason in _UNSUPPORTED_TLS_KEYS.items():
            if name in raw:
                raise reader.fail(f"{key}.{name}", reason)
    allowed = ("cert_file", "key_file", "client_auth_type", "client_ca_file", "min_version", "max_version")
    tls = reader.mapping(raw, key, allowed)
    for required in ("cert_file", "key_file"):
        if required not in tls:
            raise reader.fail(f"{key}.{required}", "missing; expected the path of a PEM file")
    cert = reader.readable_file(tls["cert_file"], f"{key}.cert_file", base)
    private_key = reader.readable_file(tls["key_file"], f"{key}.key_file", base)
    auth_type = "NoClientCert"
    if "client_auth_type" in tls:
        auth_type = reader.choice(tls["client_auth_type"], f"{key}.client_auth_type", CLIENT_AUTH_TYPES)
    client_ca = None
    if "client_ca_file" in tls:
        client_ca = reader.readable_file(tls["client_ca_file"], f"{key}.client_ca_file", base)
    if auth_type != "NoClientCert" and client_ca is None:
        raise reader.fail(
            f"{key}.client_ca_file",
            f"missing; client_auth_type {auth_type} needs the CA that signs client certificates",
        )
    min_version = "TLS12"
    if "min_version" in tls:
        min_version = reader.choice(tls["min_version"], f"{key}.min_version", TLS_VERSIONS)
    max_version = None
    if "max_version" in tls:
        max_version = reader.choice(tls["max_version"], f"{key}.max_version", TLS_VERSIONS)
        if TLS_VERSIONS.index(max_version) < TLS_VERSIONS.index(min_version):
            raise reader.fail(
                f"{key}.max_version", f"got {max_version!r}; expected at least min_version {min_version}"
            )
    return TLSConfig(cert, private_key, auth_type, client_ca, min_version, max_version)
