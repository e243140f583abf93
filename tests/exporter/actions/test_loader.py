"""Loading an actions file: every error names the file, the key and the value; unsafe files are refused."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from exporter.actions.loader import DEFAULT_LOG_FILE, load_actions
from exporter.config import ListenAddress
from exporter.validation import ConfigError
from tests.exporter.actions.conftest import public_text, write_actions

ACTIONS = "actions: {restart: {kind: systemd, verb: restart, units: [nginx.service]}}\n"
PLAIN = "listener: {plain_http: true}\n"


def _file(key: Ed25519PrivateKey, body: str = PLAIN + ACTIONS) -> str:
    return f"server_id: web-01\npublic_keys: ['{public_text(key)}']\n{body}"


def test_a_minimal_file_has_the_defaults(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    config = load_actions(write_actions(tmp_path, _file(key)))
    assert config.server_id == "web-01"
    assert config.listen == ListenAddress("0.0.0.0", 9111)
    assert config.tls is None
    assert config.log_file == DEFAULT_LOG_FILE
    assert config.max_concurrent == 2
    assert list(config.actions) == ["restart"]
    assert config.source == str(tmp_path / "actions.yaml")


def test_paths_are_relative_to_the_file(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    (tmp_path / "keys.txt").write_text(f"# the collector's keys\n\n{public_text(key)}\n{public_text(key)}\n")
    text = f"server_id: s\npublic_keys_file: keys.txt\nlog_file: log/a.jsonl\n{PLAIN}{ACTIONS}"
    config = load_actions(write_actions(tmp_path, text))
    assert config.log_file == tmp_path / "log" / "a.jsonl"
    assert len(config.public_keys) == 2


def test_tls_requires_client_certificates_by_default(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    for name in ("c.pem", "k.pem", "ca.pem"):
        (tmp_path / name).write_text("x")
    listener = (
        "listener: {address: '127.0.0.1:9999', "
        "tls: {cert_file: c.pem, key_file: k.pem, client_ca_file: ca.pem}}\n"
    )
    config = load_actions(write_actions(tmp_path, _file(key, listener + ACTIONS)))
    assert config.tls is not None and config.tls.client_auth_type == "RequireAndVerifyClientCert"
    assert config.tls.client_ca_file == tmp_path / "ca.pem"
    assert config.listen == ListenAddress("127.0.0.1", 9999)


INVALID: list[tuple[str, str, str]] = [
    ("server_id: 1\n", "server_id", "got 1; expected a non-empty string"),
    ("", "server_id", "missing"),
    ("server_id: s\nlistener: {plain_http: true}\n" + ACTIONS, "public_keys", "exactly one of"),
    ("server_id: s\npublic_keys: []\n" + PLAIN + ACTIONS, "public_keys", "at least one"),
    ("server_id: s\npublic_keys: ['ed25519:AAAA']\n" + PLAIN + ACTIONS, "public_keys[0]", "is 3 bytes"),
    ("server_id: s\npublic_keys_file: nowhere.txt\n" + PLAIN + ACTIONS, "public_keys_file", "cannot read"),
    ("{keys}" + ACTIONS, "listener.tls", "missing; expected cert_file"),
    ("{keys}listener: {plain_http: 'yes'}\n" + ACTIONS, "listener.plain_http", "expected true or false"),
    (
        "{keys}listener: {address: 'x', plain_http: true}\n" + ACTIONS,
        "listener.address",
        "expected HOST:PORT",
    ),
    (
        "{keys}listener: {tls: {cert_file: a, key_file: b}}\n" + ACTIONS,
        "listener.tls.client_ca_file",
        "missing",
    ),
    (
        "{keys}listener: {tls: {cert_file: nope.pem, key_file: b, client_auth_required: false}}\n" + ACTIONS,
        "listener.tls.cert_file",
        "expected a readable file",
    ),
    ("{keys}" + PLAIN + "max_concurrent: 0\n" + ACTIONS, "max_concurrent", "from 1 to 32"),
    ("{keys}" + PLAIN, "actions", "got None; expected a mapping"),
    ("{keys}" + PLAIN + "actions: {Restart: {kind: systemd}}\n", "actions.Restart", "bad name"),
    (
        "{keys}" + PLAIN + "actions: {r: {kind: shell}}\n",
        "actions.r.kind",
        "expected one of: command, systemd",
    ),
    ("{keys}" + PLAIN + "shell: true\n" + ACTIONS, "shell", "unknown key"),
]


@pytest.mark.parametrize(
    ("text", "key_path", "problem"), INVALID, ids=[f"{case[1]}: {case[2]}" for case in INVALID]
)
def test_an_invalid_file_names_file_key_and_problem(
    tmp_path: Path, key: Ed25519PrivateKey, text: str, key_path: str, problem: str
) -> None:
    keys = f"server_id: s\npublic_keys: ['{public_text(key)}']\n"
    path = write_actions(tmp_path, text.replace("{keys}", keys))
    with pytest.raises(ConfigError) as error:
        load_actions(path)
    assert (error.value.file, error.value.key) == (str(path), key_path)
    assert problem in error.value.problem


@pytest.mark.parametrize("mode", [0o664, 0o646, 0o666])
def test_a_file_others_can_write_is_refused(tmp_path: Path, key: Ed25519PrivateKey, mode: int) -> None:
    path = write_actions(tmp_path, _file(key))
    path.chmod(mode)
    with pytest.raises(ConfigError, match=f"has mode {mode:04o}, writable by its group or everyone"):
        load_actions(path)


def test_a_public_keys_file_others_can_write_is_refused(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    (tmp_path / "keys.txt").write_text(public_text(key) + "\n")
    (tmp_path / "keys.txt").chmod(0o666)
    path = write_actions(tmp_path, f"server_id: s\npublic_keys_file: keys.txt\n{PLAIN}{ACTIONS}")
    with pytest.raises(ConfigError) as error:
        load_actions(path)
    assert (
        error.value.key == "public_keys_file" and "writable by its group or everyone" in error.value.problem
    )


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")
def test_a_file_owned_by_another_user_is_refused(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    path = write_actions(tmp_path, _file(key))
    os.chown(path, 65534, 65534)
    with pytest.raises(ConfigError, match="is owned by uid 65534; expected root or this exporter's user"):
        load_actions(path)


def test_a_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = write_actions(tmp_path, "server_id: [\n")
    with pytest.raises(ConfigError, match="not valid YAML at line 2"):
        load_actions(path)


def test_the_example_file_is_valid_and_the_grants_name_exactly_its_units(tmp_path: Path) -> None:
    deploy = Path(__file__).resolve().parents[3] / "deploy" / "actions"
    text = (deploy / "actions.example.yaml").read_text()
    for prefix in ("/run/credentials/openmanager-exporter.service/", "/etc/openmanager/"):
        text = text.replace(prefix, f"{tmp_path}/")
    for name in ("actions.crt", "actions.key", "collector-ca.crt"):
        (tmp_path / name).write_text("x")
    config = load_actions(write_actions(tmp_path, text))
    changes = set()
    every = set()
    for action in config.actions.values():
        if action.kind == "systemd":
            verb = action.argv[-2]
            units = action.params[0].enum or ()
            every |= {(verb, unit) for unit in units}
            if verb != "status":
                changes |= {(verb, unit) for unit in units}
    polkit = (deploy / "50-openmanager-exporter.rules").read_text()
    granted = {
        (verb, unit)
        for unit, verbs in re.findall(r'"([\w.@-]+\.service)": \[([^\]]*)\]', polkit)
        for verb in re.findall(r'"(\w+)"', verbs)
    }
    assert granted == changes
    sudoers = (deploy / "sudoers").read_text()
    assert set(re.findall(r"/usr/bin/systemctl (\w+) ([\w.@-]+)", sudoers)) == every
