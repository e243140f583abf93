"""``openmanager-exporter actions check|list``: a summary or the problem, with check-config's exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from exporter.cli import main
from tests.exporter.actions.conftest import public_text, write_actions

ACTIONS = """
  restart:
    kind: systemd
    verb: restart
    units: [nginx.service]
    description: Restart nginx
  tail:
    kind: command
    argv: [/usr/bin/journalctl, -u, "{unit}", -n, "{lines}", --no-pager]
    params:
      unit: {enum: [nginx.service, ssh.service]}
      lines: {pattern: "[0-9]{1,3}", required: false, default: "20"}
    destructive: false
"""


def _write(tmp_path: Path, key: Ed25519PrivateKey, listener: str = "{plain_http: true}") -> Path:
    text = f"server_id: web-01\npublic_keys: ['{public_text(key)}']\nlistener: {listener}\nactions:{ACTIONS}"
    return write_actions(tmp_path, text)


def test_check_prints_a_summary_of_a_valid_file(
    tmp_path: Path, key: Ed25519PrivateKey, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, key)
    assert main(["actions", "check", "--file", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"SUCCESS: {path}: server web-01, 2 action(s), 1 public key(s)")
    assert "listener 0.0.0.0:9111 (plain HTTP)" in out


def test_check_loads_the_listeners_certificates(
    tmp_path: Path, key: Ed25519PrivateKey, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("cert.pem", "key.pem", "ca.pem"):
        (tmp_path / name).write_text("not a certificate\n")
    path = _write(tmp_path, key, "{tls: {cert_file: cert.pem, key_file: key.pem, client_ca_file: ca.pem}}")
    assert main(["actions", "check", "--file", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"FAILED:\n  {path}: listener.tls.cert_file/key_file: cannot load")


def test_check_reports_the_problem_with_file_key_and_value(
    tmp_path: Path, key: Ed25519PrivateKey, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_actions(tmp_path, _write(tmp_path, key).read_text().replace("verb: restart", "verb: reload"))
    assert main(["actions", "check", "--file", str(path)]) == 1
    assert f"{path}: actions.restart.verb: got 'reload'; expected one of" in capsys.readouterr().err


def test_list_shows_each_action_its_argv_and_parameters(
    tmp_path: Path, key: Ed25519PrivateKey, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, key)
    assert main(["actions", "list", "--file", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1:] == [
        "restart  [systemd, destructive, timeout 30s, output 65536 bytes]  Restart nginx",
        "    argv: systemctl restart '{unit}'",
        "    unit: one of nginx.service",
        "tail  [command, safe, timeout 30s, output 65536 bytes]",
        "    argv: /usr/bin/journalctl -u '{unit}' -n '{lines}' --no-pager",
        "    unit: one of nginx.service, ssh.service",
        "    lines: matching '[0-9]{1,3}' (optional, default '20')",
    ]


def test_list_of_a_missing_file_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["actions", "list", "--file", str(tmp_path / "none.yaml")]) == 1
    assert "cannot read" in capsys.readouterr().err


def test_an_unknown_verb_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as caught:
        main(["actions", "run"])
    assert caught.value.code == 2
