"""The web section: exporter-toolkit TLS and auth keys, our bearer token, and their errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from exporter.config import load_config
from exporter.validation import ConfigError
from tests.exporter.conftest import bcrypt_hash, write_file

TOKEN = "s3cr3t-token-0123456789"


def test_secrets_do_not_appear_in_repr(tmp_path: Path) -> None:
    config = load_config(write_file(tmp_path, f"web:\n  bearer_token: {TOKEN}\n"))
    assert TOKEN not in repr(config)


def test_bearer_token_file_is_read_and_stripped_relative_to_the_config(tmp_path: Path) -> None:
    (tmp_path / "token").write_text(f"{TOKEN}\n")
    config = load_config(write_file(tmp_path, "web:\n  bearer_token_file: token\n"))
    assert config.web.bearer_token == TOKEN


def test_existing_exporter_toolkit_web_config_file_can_be_reused(tmp_path: Path) -> None:
    hashed = bcrypt_hash("pw")
    write_file(tmp_path, f'basic_auth_users:\n  alice: "{hashed}"\n', name="web-config.yml")
    config = load_config(write_file(tmp_path, "web_config_file: web-config.yml\n"))
    assert dict(config.web.basic_auth_users) == {"alice": hashed.encode()}
    assert config.web.source == str(tmp_path / "web-config.yml")


def test_tls_section_resolves_files_and_defaults_to_tls12_without_client_certs(tmp_path: Path) -> None:
    for name in ("cert.pem", "key.pem"):
        (tmp_path / name).write_text("placeholder")
    config = load_config(
        write_file(tmp_path, "web:\n  tls_server_config:\n    cert_file: cert.pem\n    key_file: key.pem\n")
    )
    tls = config.web.tls
    assert tls is not None
    assert tls.cert_file == tmp_path / "cert.pem"
    assert tls.client_auth_type == "NoClientCert"
    assert tls.min_version == "TLS12"


def test_secret_values_are_not_repeated_in_errors(tmp_path: Path) -> None:
    path = write_file(
        tmp_path, "web:\n  bearer_token: tooshort99\n  basic_auth_users:\n    a: hunter2hunter2\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert "hunter2" not in str(caught.value)
    assert "tooshort99" not in str(caught.value)


def test_error_inside_a_reused_web_config_file_names_that_file(tmp_path: Path) -> None:
    web = write_file(tmp_path, "basic_auth_users:\n  alice: nope\n", name="web-config.yml")
    with pytest.raises(ConfigError) as caught:
        load_config(write_file(tmp_path, "web_config_file: web-config.yml\n"))
    assert str(caught.value).startswith(f"{web}: basic_auth_users.alice: ")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(
            "web:\n  basic_auth_users:\n    alice: plain-password\n",
            "web.basic_auth_users.alice: the value (hidden) is not a bcrypt hash",
            id="password-not-hashed",
        ),
        pytest.param(
            "web:\n  basic_auth_users: []\n",
            "web.basic_auth_users: got []; expected a mapping of user names to bcrypt hashes",
            id="users-list",
        ),
        pytest.param(
            "web:\n  bearer_token: short\n",
            "web.bearer_token: the value (hidden) is too short; expected at least 16 characters",
            id="token-short",
        ),
        pytest.param(
            f"web:\n  bearer_token: {TOKEN}\n  bearer_token_file: /x\n",
            "web.bearer_token_file: cannot be combined with bearer_token",
            id="token-twice",
        ),
        pytest.param(
            "web:\n  bearer_token_file: /nonexistent/token\n",
            "web.bearer_token_file: got '/nonexistent/token'; expected a readable file (No such file",
            id="token-file-missing",
        ),
        pytest.param(
            "web:\n  http_server_config:\n    http2: true\n",
            "web.http_server_config: HTTP/2 and custom headers are not supported",
            id="http-server-config",
        ),
        pytest.param(
            "web:\n  tls_server_config:\n    key_file: k.pem\n",
            "web.tls_server_config.cert_file: missing; expected the path of a PEM file",
            id="tls-no-cert",
        ),
        pytest.param(
            "web:\n  tls_server_config:\n    cert_file: /nonexistent.pem\n    key_file: /nonexistent.key\n",
            "web.tls_server_config.cert_file: got '/nonexistent.pem'; expected a readable file",
            id="tls-cert-missing",
        ),
        pytest.param(
            "web:\n  tls_server_config:\n    cert_file: c.pem\n    key_file: k.pem\n"
            "    client_auth_type: Require\n",
            "web.tls_server_config.client_auth_type: got 'Require'; expected one of: NoClientCert, ",
            id="client-auth-type",
        ),
        pytest.param(
            "web:\n  tls_server_config:\n    cert_file: c.pem\n    key_file: k.pem\n"
            "    client_auth_type: RequireAndVerifyClientCert\n",
            "web.tls_server_config.client_ca_file: missing; client_auth_type RequireAndVerifyClientCert",
            id="client-ca-missing",
        ),
        pytest.param(
            "web:\n  tls_server_config:\n    cert_file: c.pem\n    key_file: k.pem\n    min_version: TLS10\n",
            "web.tls_server_config.min_version: got 'TLS10'; expected one of: TLS12, TLS13",
            id="tls10",
        ),
        pytest.param(
            "web:\n  tls_server_config:\n    cert_file: c.pem\n    key_file: k.pem\n    cipher_suites: [x]\n",
            "web.tls_server_config.cipher_suites: Python's TLS defaults are used; remove the key",
            id="cipher-suites",
        ),
        pytest.param(
            "web: {}\nweb_config_file: w.yml\n",
            "web_config_file: cannot be combined with 'web'",
            id="web-twice",
        ),
    ],
)
def test_bad_web_section_is_refused_naming_file_key_and_expectation(
    tmp_path: Path, text: str, message: str
) -> None:
    for name in ("c.pem", "k.pem"):
        (tmp_path / name).write_text("placeholder")
    path = write_file(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)
