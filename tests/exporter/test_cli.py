"""The command line: start-up refusals with exit codes, and a real process serving until SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from exporter.cli import main
from tests.exporter.actions.conftest import envelope_bytes, public_text, run_body, write_actions
from tests.ports import free_port

RUN_MAIN = "import sys; from exporter.cli import main; sys.exit(main())"


def wait_until_serving(port: int, process: subprocess.Popen[bytes], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the exporter exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/healthy", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.05)
    pytest.fail("the exporter did not start serving")


@pytest.fixture
def exporter_process() -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", RUN_MAIN, "--listen", f"127.0.0.1:{port}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_until_serving(port, process)
        yield process, port
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)


def test_bad_config_refuses_to_start_with_exit_code_2(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "exporter.yml"
    path.write_text("collectors:\n  processes:\n    top_n: many\n")
    assert main(["--config", str(path)]) == 2
    assert (
        f"configuration error: {path}: collectors.processes.top_n: got 'many'; expected an integer"
        in caplog.text
    )


def test_missing_config_file_refuses_to_start_with_exit_code_2(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert main(["--config", str(tmp_path / "absent.yml")]) == 2
    assert "absent.yml: cannot read the file" in caplog.text


def test_a_bad_actions_file_refuses_to_start_with_exit_code_2(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write_actions(tmp_path, "server_id: web-01\n")
    assert main(["--listen", "127.0.0.1:0", "--actions-file", str(path)]) == 2
    assert f"configuration error: {path}: public_keys: expected exactly one of" in caplog.text


def test_the_exporter_serves_remote_actions_beside_metrics(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    port, actions_port = free_port(), free_port()
    marker = tmp_path / "ran"
    path = write_actions(
        tmp_path,
        f"server_id: web-01\npublic_keys: ['{public_text(key)}']\n"
        f"listener: {{address: '127.0.0.1:{actions_port}', plain_http: true}}\nlog_file: actions.jsonl\n"
        f"actions:\n  touch: {{kind: command, argv: [touch, '{marker}']}}\n",
    )
    process = subprocess.Popen(
        [sys.executable, "-c", RUN_MAIN, "--listen", f"127.0.0.1:{port}", "--actions-file", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_until_serving(port, process)
        request = urllib.request.Request(
            f"http://127.0.0.1:{actions_port}/actions/touch",
            data=run_body(key, envelope_bytes(action="touch", params={})),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert json.load(response)["exit_code"] == 0
        assert marker.exists()
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=10)
    assert process.returncode == 0
    log = stderr.decode()
    assert f"remote actions: 1 action(s) on http://127.0.0.1:{actions_port}" in log
    assert "event='action run'" in log and "requested_by='alice'" in log
    [entry] = [json.loads(line) for line in (tmp_path / "actions.jsonl").read_text().splitlines()]
    assert (entry["action"], entry["outcome"], entry["exit_code"]) == ("touch", "ok", 0)


def test_bad_listen_flag_refuses_to_start_with_exit_code_2(caplog: pytest.LogCaptureFixture) -> None:
    assert main(["--listen", "9110"]) == 2
    assert "command line: --listen: got '9110'; expected HOST:PORT" in caplog.text


def test_unknown_flag_exits_with_code_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["--listen-address", "x"])
    assert caught.value.code == 2
    assert "unrecognized arguments: --listen-address" in capsys.readouterr().err


def test_version_flag_prints_the_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["--version"])
    assert caught.value.code == 0
    assert "openmanager-exporter 0.1.0" in capsys.readouterr().out


def test_exporter_serves_metrics_and_stops_cleanly_on_sigterm(
    exporter_process: tuple[subprocess.Popen[bytes], int],
) -> None:
    process, port = exporter_process
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        assert b"node_cpu_seconds_total" in response.read()
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=10)
    assert process.returncode == 0
    log = stderr.decode()
    assert f"listening on http://127.0.0.1:{port}" in log
    assert "shutting down" in log


def test_port_in_use_exits_with_code_1(exporter_process: tuple[subprocess.Popen[bytes], int]) -> None:
    _, port = exporter_process
    completed = subprocess.run(
        [sys.executable, "-c", RUN_MAIN, "--listen", f"127.0.0.1:{port}"],
        capture_output=True,
        timeout=20,
        check=False,
    )
    assert completed.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in completed.stderr.decode()
