"""A real ``openmanager run`` (or ``collector``) process for the service-level tests, and HTTP calls to it."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from api.auth.apitokens import create_api_token
from tests.api.auth.conftest import PASSWORD, make_user
from tests.ports import free_port, wait_port

TARGETS = "scrape_configs:\n  - job_name: node\n    static_configs:\n      - targets: ['127.0.0.1:9110']\n"


def start_exporter() -> tuple[subprocess.Popen[bytes], str]:
    """Our exporter on a free loopback port: the process and its address."""
    port = free_port()
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "openmanager-exporter"), "--listen", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_port(port)
    return proc, f"127.0.0.1:{port}"


def start_service(
    port: int,
    *,
    pg_dsn: str,
    redis_url: str,
    data_dir: Path,
    targets: Path,
    env: dict[str, str] | None = None,
    stdout: int = subprocess.PIPE,
    stderr: int = subprocess.PIPE,
    command: str = "run",
    args: Sequence[str] = (),
) -> subprocess.Popen[str]:
    """``openmanager run`` (or ``command``, with ``args``) on loopback ``port`` with these stores, data
    directory and target file."""
    return subprocess.Popen(
        [sys.executable, "-m", "openmanager", command, *args],
        env={
            **os.environ,
            "OM_COLLECTOR_LISTEN" if command == "collector" else "OM_LISTEN": f"127.0.0.1:{port}",
            "OM_POSTGRES_DSN": pg_dsn,
            "OM_REDIS_URL": redis_url,
            "OM_DATA_DIR": str(data_dir),
            "OM_TARGETS": str(targets),
            "OM_LOG_FORMAT": "json",
            **(env or {}),
        },
        stdout=stdout,
        stderr=stderr,
        text=True,
    )


def health(port: int, token: str | None = None) -> tuple[int, dict[str, object]] | None:
    """``/api/health``: status and body (components only with a ``token``); None when nothing answers."""
    call = urllib.request.Request(f"http://127.0.0.1:{port}/api/health")
    if token:
        call.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(call, timeout=2) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
    except OSError:
        return None


def wait_healthy(
    proc: subprocess.Popen[str], port: int, timeout_s: float = 60, token: str | None = None
) -> dict[str, object]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"service exited early: {proc.communicate()}"
        result = health(port, token)
        if result is not None and result[0] == 200:
            return result[1]
        time.sleep(0.2)
    raise AssertionError("service did not become healthy")


class Service:
    """One ``openmanager run`` (or ``command``) process on a free port."""

    def __init__(
        self,
        tmp_path: Path,
        pg_dsn: str,
        redis_url: str,
        name: str = "svc",
        *,
        targets: str = TARGETS,
        env: dict[str, str] | None = None,
        command: str = "run",
    ) -> None:
        self.port = free_port()
        self.targets = tmp_path / f"{name}-targets.yaml"
        self.targets.write_text(targets)
        self.proc = start_service(
            self.port,
            pg_dsn=pg_dsn,
            redis_url=redis_url,
            data_dir=tmp_path / f"{name}-data",
            targets=self.targets,
            env=env,
            command=command,
        )

    def stop(self) -> tuple[int, str, str]:
        self.proc.send_signal(signal.SIGTERM)
        out, err = self.proc.communicate(timeout=30)
        return self.proc.returncode, out, err


def request(
    port: int, method: str, path: str, body: object = None, token: str | None = None
) -> tuple[int, object]:
    """A JSON request to the service: status and decoded body."""
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


def admin_token(port: int, pg_dsn: str) -> str:
    """A new administrator in the service's database, logged in through its API: the access token."""

    async def admin() -> str:
        pool = await asyncpg.create_pool(pg_dsn, min_size=1, max_size=1)
        try:
            return (await make_user(pool, "admin")).username
        finally:
            await pool.close()

    username = asyncio.run(admin())
    status, tokens = request(port, "POST", "/api/auth/login", {"username": username, "password": PASSWORD})
    assert status == 200 and isinstance(tokens, dict), tokens
    token: str = tokens["access_token"]
    return token


def viewer_api_token(pg_dsn: str) -> str:
    """An API token of a new viewer, made in the service's database: for a process that serves no login."""

    async def make() -> str:
        pool = await asyncpg.create_pool(pg_dsn, min_size=1, max_size=1)
        try:
            user = await make_user(pool, "viewer")
            expires = datetime.now(UTC) + timedelta(hours=1)
            return (await create_api_token(pool, user.id, "probe", "viewer", expires))[1]
        finally:
            await pool.close()

    return asyncio.run(make())


def count(pg_dsn: str, query: str) -> int:
    """The one number ``query`` (a ``SELECT count(*) …``) answers in the service's database."""

    async def fetch() -> int:
        conn = await asyncpg.connect(pg_dsn)
        try:
            answer: int = await conn.fetchval(query)
            return answer
        finally:
            await conn.close()

    return asyncio.run(fetch())
