"""A real ``openmanager run`` process for the service-level tests, and plain HTTP calls to it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.ports import free_port

TARGETS = "scrape_configs:\n  - job_name: node\n    static_configs:\n      - targets: ['127.0.0.1:9110']\n"


def health(port: int) -> tuple[int, dict[str, object]] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
    except OSError:
        return None


def wait_healthy(proc: subprocess.Popen[str], port: int, timeout_s: float = 60) -> dict[str, object]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"service exited early: {proc.communicate()}"
        result = health(port)
        if result is not None and result[0] == 200:
            return result[1]
        time.sleep(0.2)
    raise AssertionError("service did not become healthy")


class Service:
    """One ``openmanager run`` process on a free port."""

    def __init__(
        self,
        tmp_path: Path,
        pg_dsn: str,
        redis_url: str,
        name: str = "svc",
        *,
        targets: str = TARGETS,
        env: dict[str, str] | None = None,
    ) -> None:
        self.port = free_port()
        self.targets = tmp_path / f"{name}-targets.yaml"
        self.targets.write_text(targets)
        env = {
            **os.environ,
            "OM_LISTEN": f"127.0.0.1:{self.port}",
            "OM_POSTGRES_DSN": pg_dsn,
            "OM_REDIS_URL": redis_url,
            "OM_DATA_DIR": str(tmp_path / f"{name}-data"),
            "OM_TARGETS": str(self.targets),
            "OM_LOG_FORMAT": "json",
            **(env or {}),
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "openmanager", "run"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def stop(self) -> tuple[int, str, str]:
        self.proc.send_signal(signal.SIGTERM)
        out, err = self.proc.communicate(timeout=30)
        return self.proc.returncode, out, err


def request(
    port: int, method: str, path: str, body: object = None, token: str | None = None
) -> tuple[int, object]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")
