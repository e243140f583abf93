"""The ``openmanager`` command: check-config, migrate, user add and collector, run in-process."""

from __future__ import annotations

import base64
import io
import os
import signal
import socket
import threading
import time
from pathlib import Path

import pytest

from openmanager.cli import COMMANDS, EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, main
from tests.conftest import SettingsFactory
from tests.openmanager.running import health, request
from tests.ports import free_port

GOOD_TARGETS = """\
global:
  scrape_interval: 15s
scrape_configs:
  - job_name: node
    static_configs:
      - targets: ["127.0.0.1:9110"]
"""


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for command in COMMANDS:
        assert command in out


def test_check_config_accepts_valid_files_with_a_summary_line_each(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "om.yml").write_text("listen: 127.0.0.1:8080\n")
    (tmp_path / "targets.yaml").write_text(GOOD_TARGETS)
    code = main(
        ["check-config", "--settings", str(tmp_path / "om.yml"), "--targets", str(tmp_path / "targets.yaml")]
    )
    out = capsys.readouterr().out.splitlines()
    assert code == EXIT_OK
    assert len(out) == 2 and out[0].startswith("SUCCESS: settings") and out[1].startswith("SUCCESS: targets")
    assert "1 job" in out[1]


def test_check_config_reports_every_problem_of_both_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "om.yml").write_text("listen: nowhere\nlog:\n  level: loud\n")
    (tmp_path / "targets.yaml").write_text(GOOD_TARGETS.replace("15s", "fifteen"))
    code = main(
        ["check-config", "--settings", str(tmp_path / "om.yml"), "--targets", str(tmp_path / "targets.yaml")]
    )
    err = capsys.readouterr().err
    assert code == EXIT_PROBLEMS
    assert f"{tmp_path}/om.yml:1: listen: 'nowhere'" in err
    assert f"{tmp_path}/om.yml:3: log.level: 'loud'" in err
    assert f"{tmp_path}/targets.yaml:2: global.scrape_interval: 'fifteen'" in err


def test_check_config_uses_the_target_file_the_settings_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "targets.yaml").write_text(GOOD_TARGETS)
    (tmp_path / "om.yml").write_text("targets: targets.yaml\n")
    assert main(["check-config", "--settings", str(tmp_path / "om.yml")]) == EXIT_OK
    assert f"SUCCESS: targets {tmp_path}/targets.yaml" in capsys.readouterr().out


def test_invalid_settings_stop_run_with_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "om.yml").write_text("bogus: 1\n")
    with pytest.raises(SystemExit) as exited:
        main(["run", "--config", str(tmp_path / "om.yml")])
    assert exited.value.code == EXIT_USAGE
    assert "bogus" in capsys.readouterr().err


def test_collector_serves_health_on_collector_listen_only_until_sigterm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_settings: SettingsFactory
) -> None:
    _env_from(monkeypatch, make_settings)
    port, api_port = free_port(), free_port()
    monkeypatch.setenv("OM_COLLECTOR_LISTEN", f"127.0.0.1:{port}")
    monkeypatch.setenv("OM_LISTEN", f"127.0.0.1:{api_port}")
    monkeypatch.setenv("OM_TARGETS", str(tmp_path / "targets.yaml"))
    seen: dict[str, object] = {}

    def listening(at: int) -> bool:
        with socket.socket() as client:
            return client.connect_ex(("127.0.0.1", at)) == 0

    def probe_then_stop() -> None:
        deadline = time.monotonic() + 60
        while not (listening(port) or listening(api_port)):
            if time.monotonic() > deadline:
                return  # the command failed before listening: it returns without a signal
            time.sleep(0.1)
        seen["api_port_open"] = listening(api_port)
        seen["health"] = health(port)
        seen["servers"] = request(port, "GET", "/api/servers")[0] if listening(port) else None
        os.kill(os.getpid(), signal.SIGTERM)

    prober = threading.Thread(target=probe_then_stop)
    prober.start()
    try:
        assert main(["collector"]) == EXIT_OK
    finally:
        prober.join()
    assert seen["health"] == (200, {"status": "ok"})
    assert seen["servers"] == 404
    assert seen["api_port_open"] is False, "the collector opened the API's address"


def _env_from(monkeypatch: pytest.MonkeyPatch, make_settings: SettingsFactory) -> None:
    settings = make_settings()
    assert settings.postgres.dsn is not None and settings.redis.url is not None
    monkeypatch.setenv("OM_POSTGRES_DSN", settings.postgres.dsn.get_secret_value())
    monkeypatch.setenv("OM_REDIS_URL", settings.redis.url.get_secret_value())
    monkeypatch.setenv("OM_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("OM_LOG_FORMAT", "json")


def test_migrate_brings_the_schema_up_to_date(
    monkeypatch: pytest.MonkeyPatch, make_settings: SettingsFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    _env_from(monkeypatch, make_settings)
    assert main(["migrate"]) == EXIT_OK
    assert "up to date" in capsys.readouterr().out


def test_user_add_reads_the_password_from_stdin_and_refuses_a_duplicate(
    monkeypatch: pytest.MonkeyPatch, make_settings: SettingsFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    _env_from(monkeypatch, make_settings)
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    assert main(["user", "add", "dave_cli_test", "--role", "operator"]) == EXIT_OK
    assert "created user 'dave_cli_test' with role operator" in capsys.readouterr().out
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    assert main(["user", "add", "dave_cli_test", "--role", "viewer"]) == EXIT_PROBLEMS
    assert "exists already" in capsys.readouterr().err


def test_user_add_refuses_a_short_password(
    monkeypatch: pytest.MonkeyPatch, make_settings: SettingsFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    _env_from(monkeypatch, make_settings)
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["user", "add", "erin_cli_test", "--role", "viewer"]) == EXIT_USAGE
    assert "at least 10 characters" in capsys.readouterr().err


def test_user_add_rejects_an_unknown_role(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["user", "add", "frank", "--role", "root"])
    assert exited.value.code == EXIT_USAGE
    assert "invalid choice: 'root'" in capsys.readouterr().err


def test_check_config_shows_warnings_for_ignored_prometheus_sections(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "targets.yaml").write_text("rule_files: [a.yml]\n" + GOOD_TARGETS)
    (tmp_path / "om.yml").write_text("targets: targets.yaml\n")
    assert main(["check-config", "--settings", str(tmp_path / "om.yml")]) == EXIT_OK
    out = capsys.readouterr().out
    assert "warning:" in out and "rule_files" in out


def test_check_metrics_counts_the_samples_of_a_valid_page(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = tmp_path / "page.prom"
    page.write_text('# HELP up Up.\n# TYPE up gauge\nup 1\nup{a="b"} 0\n')
    assert main(["check-metrics", str(page)]) == EXIT_OK
    assert capsys.readouterr().out == f"SUCCESS: {page}: 2 samples (text format)\n"


def test_check_metrics_reports_the_first_error_with_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = tmp_path / "page.prom"
    page.write_text("up 1\nup 1_2\ndown x\n")
    assert main(["check-metrics", "--format", "text", str(page)]) == EXIT_PROBLEMS
    err = capsys.readouterr().err
    assert "line 2" in err and "1_2" in err and "line 3" not in err


def test_check_metrics_reads_openmetrics_from_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"# TYPE c counter\nc_total 3\n# EOF\n")))
    assert main(["check-metrics", "-"]) == EXIT_OK
    assert "1 samples (openmetrics format)" in capsys.readouterr().out


def test_check_metrics_on_a_missing_file_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-metrics", "/nonexistent/page.prom"]) == EXIT_USAGE
    assert "cannot be read" in capsys.readouterr().err


def test_import_backfills_an_openmetrics_file_and_refuses_samples_without_timestamps(
    monkeypatch: pytest.MonkeyPatch,
    make_settings: SettingsFactory,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    _env_from(monkeypatch, make_settings)
    good = tmp_path / "backfill.om"
    good.write_text(
        "# TYPE node_load1 gauge\n"
        'node_load1{job="node",instance="cli-import:9100"} 0.5 1700000000\n'
        'node_load1{job="node",instance="cli-import:9100"} 0.75 1700000015\n'
        "# EOF\n"
    )
    assert main(["import", str(good)]) == EXIT_OK
    out = capsys.readouterr().out
    assert "imported 2 samples of 1 servers (2 rows) from 2023-11-14T22:13:20+00:00" in out
    bad = tmp_path / "bad.om"
    bad.write_text('# TYPE a gauge\na{job="x"} 1\n# EOF\n')
    assert main(["import", str(bad)]) == EXIT_PROBLEMS
    assert "has no timestamp" in capsys.readouterr().err
    assert main(["import", str(tmp_path / "missing.om")]) == EXIT_USAGE


def test_keys_init_writes_a_0600_key_prints_its_public_key_and_refuses_to_overwrite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OM_DATA_DIR", str(tmp_path / "data"))
    assert main(["keys", "init"]) == EXIT_OK
    public = capsys.readouterr().out.strip()
    key_file = tmp_path / "data" / "actions-signing-key.pem"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert key_file.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert public.startswith("ed25519:") and len(base64.b64decode(public.removeprefix("ed25519:"))) == 32
    assert main(["keys", "show-public"]) == EXIT_OK
    assert capsys.readouterr().out.strip() == public
    assert main(["keys", "init"]) == EXIT_PROBLEMS
    assert "--force" in capsys.readouterr().err
    assert main(["keys", "show-public"]) == EXIT_OK
    assert capsys.readouterr().out.strip() == public
    assert main(["keys", "init", "--force"]) == EXIT_OK
    assert capsys.readouterr().out.strip() != public


def test_keys_show_public_without_a_key_says_how_to_make_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OM_ACTIONS_SIGNING_KEY_FILE", str(tmp_path / "nowhere.pem"))
    assert main(["keys", "show-public"]) == EXIT_PROBLEMS
    assert "openmanager keys init" in capsys.readouterr().err
