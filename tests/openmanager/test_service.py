"""``openmanager run`` and ``collector`` as processes: up, reload on SIGHUP, stop cleanly, race safely."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import ssl
import stat
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import aiohttp
import psutil
import pytest
import redis.asyncio as aioredis
import trustme
from prometheus_client.parser import text_string_to_metric_families

from collector.alerts.notify.delivery import new_http_session
from collector.cluster.membership import read_members
from collector.config.settings import Settings
from collector.runtime import ScrapeService
from collector.storage.connections import open_stores
from collector.storage.migrate import available_migrations
from openmanager.service import Alerting, Role, serve
from tests.openmanager.running import (
    TARGETS,
    Service,
    admin_token,
    count,
    health,
    request,
    start_service,
    viewer_api_token,
    wait_healthy,
)
from tests.ports import free_port


def test_run_comes_up_healthy_reloads_and_stops_cleanly(
    tmp_path: Path, fresh_pg_dsn: str, redis_url: str, service_factory: list[Service]
) -> None:
    service = Service(tmp_path, fresh_pg_dsn, redis_url)
    service_factory.append(service)
    wait_healthy(service.proc, service.port)
    token = admin_token(service.port, fresh_pg_dsn)
    body = wait_healthy(service.proc, service.port, token=token)
    components = body["components"]
    assert isinstance(components, dict)
    assert components["postgres"]["status"] == "ok" and components["redis"]["status"] == "ok"
    assert components["scheduler"]["status"] == "ok"
    alerts = components["scheduler"]["alerts"]
    assert alerts["status"] == "ok" and alerts["rules"] >= 6, "the engine runs with the default rules"

    service.targets.write_text("scrape_configs: [oops\n")
    service.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        result = health(service.port, token)
        assert result is not None
        if result[1]["components"]["scheduler"]["last_reload_ok"] is False:  # type: ignore[index]
            break
        time.sleep(0.1)
    else:
        raise AssertionError("an invalid target file was not reported by health")

    code, out, err = service.stop()
    assert code == 0, err
    assert "OpenManager is up" in out
    password_file = tmp_path / "svc-data" / "initial-admin-password"
    assert f"Log in as 'admin' with the password in {password_file}" in out
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
    password = password_file.read_text().strip()
    assert len(password) >= 20
    assert password not in out and password not in err, "the generated password was printed or logged"
    assert "target file invalid, keeping the running configuration" in err


def test_the_first_admin_must_replace_the_generated_password_and_its_file_goes(
    tmp_path: Path, fresh_pg_dsn: str, redis_url: str, service_factory: list[Service]
) -> None:
    service = Service(tmp_path, fresh_pg_dsn, redis_url)
    service_factory.append(service)
    wait_healthy(service.proc, service.port)
    password_file = tmp_path / "svc-data" / "initial-admin-password"
    credentials = {"username": "admin", "password": password_file.read_text().strip()}
    status, refused = request(service.port, "POST", "/api/auth/login", credentials)
    assert status == 403 and isinstance(refused, dict)
    assert refused["error"]["code"] == "password_change_required"
    new_password = "tulip engine parade 47"
    status, tokens = request(
        service.port, "POST", "/api/auth/login", credentials | {"new_password": new_password}
    )
    assert status == 200 and isinstance(tokens, dict)
    assert not password_file.exists()
    status, _ = request(service.port, "GET", "/api/users", token=tokens["access_token"])
    assert status == 200
    code, out, err = service.stop()
    assert code == 0, err
    # A restart finds the account set up: no new password, no file.
    again = Service(tmp_path, fresh_pg_dsn, redis_url)
    service_factory.append(again)
    wait_healthy(again.proc, again.port)
    code, out, err = again.stop()
    assert "Created the first administrator" not in out
    assert not password_file.exists()


def test_two_collectors_on_one_empty_database_both_come_up_and_migrate_once(
    tmp_path: Path, fresh_pg_dsn: str, redis_url: str, service_factory: list[Service]
) -> None:
    first = Service(tmp_path, fresh_pg_dsn, redis_url, "first")
    second = Service(tmp_path, fresh_pg_dsn, redis_url, "second")
    service_factory.extend([first, second])
    wait_healthy(first.proc, first.port)
    wait_healthy(second.proc, second.port)
    assert count(fresh_pg_dsn, "SELECT count(*) FROM schema_migrations") == len(available_migrations())
    outputs = [first.stop(), second.stop()]
    assert [code for code, _, _ in outputs] == [0, 0]
    assert sum("Log in as 'admin'" in out for _, out, _ in outputs) == 1
    assert (
        sum((tmp_path / f"{name}-data" / "initial-admin-password").exists() for name in ("first", "second"))
        == 1
    )


def test_a_server_registered_through_the_api_is_scraped(
    tmp_path: Path, fresh_pg_dsn: str, redis_url: str, service_factory: list[Service], exporter: str
) -> None:
    service = Service(tmp_path, fresh_pg_dsn, redis_url)
    service_factory.append(service)
    wait_healthy(service.proc, service.port)
    token = admin_token(service.port, fresh_pg_dsn)
    body = {"name": "web-1", "address": exporter, "job": "servers", "scrape_interval": "5s"}
    status, created = request(service.port, "POST", "/api/servers", body, token)
    assert status == 201 and isinstance(created, dict), created
    deadline = time.monotonic() + 40
    while True:
        status, listing = request(service.port, "GET", "/api/monitoring/servers", token=token)
        assert status == 200 and isinstance(listing, dict)
        found = [s for s in listing["servers"] if s["server_id"] == created["id"]]
        if found and found[0]["status"] == "up":
            break
        assert time.monotonic() < deadline, f"registered server not scraped: {listing}"
        time.sleep(0.5)
    # Its page's metadata reaches the Prometheus API through the metadata recorder.
    while True:
        status, metadata = request(service.port, "GET", "/api/v1/metadata?metric=node_load1", token=token)
        assert status == 200 and isinstance(metadata, dict)
        if metadata["data"]:
            assert metadata["data"]["node_load1"][0]["type"] == "gauge"
            break
        assert time.monotonic() < deadline, f"no metadata of the registered server: {metadata}"
        time.sleep(0.5)


async def _members(redis_url: str) -> list[dict[str, object]]:
    client = aioredis.Redis.from_url(redis_url)
    try:
        return await read_members(client)
    finally:
        await client.aclose()


def test_the_collector_role_scrapes_into_history_serves_only_health_and_metrics_and_stops_cleanly(
    tmp_path: Path, fresh_pg_dsn: str, redis_url: str, service_factory: list[Service], exporter: str
) -> None:
    targets = "global: {scrape_interval: 1s, scrape_timeout: 1s}\n" + TARGETS.replace(
        "127.0.0.1:9110", exporter
    )
    service = Service(tmp_path, fresh_pg_dsn, redis_url, targets=targets, command="collector")
    service_factory.append(service)
    wait_healthy(service.proc, service.port)
    deadline = time.monotonic() + 30
    while count(fresh_pg_dsn, "SELECT count(*) FROM history_raw") == 0:
        assert time.monotonic() < deadline, "the collector wrote no history"
        time.sleep(0.5)

    for path in ("/api/servers", "/api/monitoring/servers", "/api/openapi.json", "/"):
        status, body = request(service.port, "GET", path)
        assert status == 404 and isinstance(body, dict), (path, status, body)
        assert body["error"]["code"] == "not_found"
    with urllib.request.urlopen(f"http://127.0.0.1:{service.port}/metrics", timeout=5) as response:
        page = response.read().decode()
    assert 'openmanager_scrapes_total{job="node",outcome="success"}' in page
    assert "process_resident_memory_bytes" in page

    token = viewer_api_token(fresh_pg_dsn)
    body = wait_healthy(service.proc, service.port, token=token)
    assert body["role"] == "collector"
    components = body["components"]
    assert isinstance(components, dict)
    assert components["scheduler"]["status"] == "ok"
    assert components["scheduler"]["cluster"]["role"] == "collector"
    members = asyncio.run(_members(redis_url))
    assert [(m["member"], m["role"]) for m in members] == [
        (f"{socket.gethostname()}:{service.port}", "collector")
    ]

    code, out, err = service.stop()
    assert code == 0, err
    assert (
        f"OpenManager is up: the collector (health and metrics only) at http://127.0.0.1:{service.port}/"
        in out
    )
    assert "Created the first administrator" not in out, "only a process serving the login makes it"
    assert asyncio.run(_members(redis_url)) == [], "a collector that stops cleanly leaves the cluster at once"
    events = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert [e["event"] for e in events if e["event"] in ("shutting down", "stopped")] == [
        "shutting down",
        "stopped",
    ]


def test_an_api_process_shows_what_a_collector_process_scrapes(
    tmp_path: Path, fresh_pg_dsn: str, redis_url: str, service_factory: list[Service], exporter: str
) -> None:
    """The roles apart: the collector scrapes and writes, the API serves what it wrote and sees it as a
    member of the cluster."""
    targets = "global: {scrape_interval: 1s, scrape_timeout: 1s}\n" + TARGETS.replace(
        "127.0.0.1:9110", exporter
    )
    collector = Service(tmp_path, fresh_pg_dsn, redis_url, "collector", targets=targets, command="collector")
    api = Service(tmp_path, fresh_pg_dsn, redis_url, "api", command="api")
    service_factory.extend([collector, api])
    wait_healthy(collector.proc, collector.port)
    wait_healthy(api.proc, api.port)
    token = admin_token(api.port, fresh_pg_dsn)
    deadline = time.monotonic() + 30
    while True:
        status, listing = request(api.port, "GET", "/api/monitoring/servers", token=token)
        assert status == 200 and isinstance(listing, dict), listing
        if [s for s in listing["servers"] if s["status"] == "up"]:
            break
        assert time.monotonic() < deadline, f"the API shows nothing the collector scraped: {listing}"
        time.sleep(0.5)
    events = urllib.request.Request(
        f"http://127.0.0.1:{api.port}/api/events", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(events, timeout=10) as stream:
        for line in stream:  # the collector's scrapes reach the API's stream through Redis
            if line.startswith(b"event: scrape"):
                break
            assert time.monotonic() < deadline + 30, "no scrape event on the API's stream"
    body = wait_healthy(api.proc, api.port, token=token)
    assert body["role"] == "api"
    assert body["components"]["scheduler"] == {"status": "absent"}  # type: ignore[index]
    cluster = body["cluster"]
    assert isinstance(cluster, dict)
    assert [m["role"] for m in cluster["members"]] == ["collector"]
    status, overview = request(api.port, "GET", "/api/cluster", token=token)
    assert status == 200 and isinstance(overview, dict), overview
    assert [m["command"] for m in overview["members"]] == ["collector"]
    outputs = [collector.stop(), api.stop()]
    assert [code for code, _, _ in outputs] == [0, 0], outputs


def test_run_on_the_embedded_default_prints_a_line_per_event_not_per_job(
    tmp_path: Path, pg_data_dir: Path
) -> None:
    """At the default level: start, stores ready, targets loaded, targets down, shutdown; no line per
    scheduler job run, no pgserver command dumps, no Python warnings."""
    targets = tmp_path / "targets.yaml"
    # Every second, so that a few seconds hold many scheduler job runs (each printed two lines before).
    targets.write_text("global: {scrape_interval: 1s, scrape_timeout: 1s}\n" + TARGETS)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OM_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "openmanager", "run"],
        env={
            **env,
            "OM_LISTEN": f"127.0.0.1:{port}",
            "OM_DATA_DIR": str(pg_data_dir),
            "OM_TARGETS": str(targets),
            "OM_LOG_FORMAT": "json",
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_healthy(proc, port)
        time.sleep(6)  # the watch job runs every 5 s, the scrape slot every second
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    lines = [line for line in (out + err).splitlines() if line.strip()]
    events = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    chatty = [
        e for e in events if e["logger"].startswith(("apscheduler", "pgserver")) and e["level"] == "info"
    ]
    assert chatty == [], err
    assert len(lines) < 20, "\n".join(lines)
    assert all(line.startswith("{") for line in err.splitlines()), err


def test_log_level_debug_on_the_command_line_shows_what_the_default_level_hides(
    tmp_path: Path, fresh_pg_dsn: str, redis_url: str
) -> None:
    """``openmanager run --log-level debug`` overrides the settings' level: the scheduler's job lines show."""
    targets = tmp_path / "targets.yaml"
    targets.write_text("global: {scrape_interval: 1s, scrape_timeout: 1s}\n" + TARGETS)
    port = free_port()
    proc = start_service(
        port,
        pg_dsn=fresh_pg_dsn,
        redis_url=redis_url,
        data_dir=tmp_path / "data",
        targets=targets,
        env={"OM_LOG_LEVEL": "info"},
        args=["--log-level", "debug"],
    )
    try:
        wait_healthy(proc, port)
        time.sleep(3)  # the scrape slot job runs every second
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    events = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert [e for e in events if e["logger"].startswith("apscheduler")], err
    assert any(e["level"] == "debug" for e in events), err


async def test_the_service_serves_https_with_hsts_and_refuses_plain_http(
    tmp_path: Path, fresh_pg_dsn: str, redis_url: str
) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "server.pem"))
    cert.private_key_pem.write_to_path(str(tmp_path / "server.key"))
    port = free_port()
    settings = Settings.model_validate(
        {
            "listen": f"127.0.0.1:{port}",
            "data_dir": tmp_path / "data",
            "postgres": {"dsn": fresh_pg_dsn},
            "redis": {"url": redis_url},
            "tls": {"cert_file": tmp_path / "server.pem", "key_file": tmp_path / "server.key"},
            "shutdown_timeout_s": 5,
        }
    )
    serving = asyncio.create_task(serve(settings, role="api"))
    try:
        trusted = ssl.create_default_context()
        ca.configure_trust(trusted)
        async with aiohttp.ClientSession() as http:
            deadline = time.monotonic() + 30
            while True:
                try:
                    async with http.get(f"https://127.0.0.1:{port}/api/health", ssl=trusted) as response:
                        status, headers = response.status, response.headers
                        break
                except aiohttp.ClientConnectionError:
                    assert not serving.done(), serving
                    assert time.monotonic() < deadline, "the service did not listen"
                    await asyncio.sleep(0.2)
            assert status == 200
            assert headers["Strict-Transport-Security"] == f"max-age={settings.tls.hsts_max_age_s}"
            with pytest.raises(aiohttp.ClientError):
                async with http.get(f"http://127.0.0.1:{port}/api/health") as plain:
                    await plain.read()
    finally:
        os.kill(os.getpid(), signal.SIGTERM)  # serve's own handler stops it
        await asyncio.wait_for(serving, 30)


def _leftovers() -> tuple[set[str], int, set[int]]:
    """Running tasks (but this one), this process's inet connections and its child processes."""
    current = asyncio.current_task()
    tasks = {task.get_name() for task in asyncio.all_tasks() if task is not current}
    me = psutil.Process()
    return tasks, len(me.net_connections(kind="inet")), {child.pid for child in me.children(recursive=True)}


def _break_spool(data_dir: Path, name: str) -> None:
    (data_dir / "spool").mkdir(parents=True)
    (data_dir / "spool" / name).write_text("a file where the spool directory goes")


COLLECTOR_STAGES = ["history spool", "target file", "alert rules file", "listening port", "tls certificate"]
API_STAGES = ["history spool", "listening port", "tls certificate"]
"""An API process reads no target or rules file; its spool is the one of its remote-write intake."""


@pytest.mark.parametrize(
    ("role", "stage"),
    [(role, stage) for role in ("run", "collector") for stage in COLLECTOR_STAGES]
    + [("api", stage) for stage in API_STAGES],
)
async def test_a_start_that_fails_at_any_stage_leaves_no_task_socket_or_process(
    tmp_path: Path, fresh_pg_dsn: str, redis_url: str, stage: str, role: Role
) -> None:
    data_dir = tmp_path / "data"
    targets = tmp_path / "targets.yaml"
    targets.write_text(TARGETS if stage != "target file" else "scrape_configs: [oops\n")
    rules = tmp_path / "rules.yaml"
    rules.write_text("[oops\n" if stage == "alert rules file" else "[]\n")
    occupied = socket.socket()
    occupied.bind(("127.0.0.1", 0))
    occupied.listen()
    port = occupied.getsockname()[1] if stage == "listening port" else free_port()
    if stage == "history spool":
        _break_spool(data_dir, f"remote-write-{port}" if role == "api" else "history")
    tls = {"cert_file": tmp_path / "missing.pem", "key_file": tmp_path / "missing.key"}
    settings = Settings.model_validate(
        {
            "listen": f"127.0.0.1:{port}",
            "collector_listen": f"127.0.0.1:{port}",
            "data_dir": data_dir,
            "targets": targets,
            "postgres": {"dsn": fresh_pg_dsn},
            "redis": {"url": redis_url},
            "alerts": {"rules_file": rules},
            "tls": tls if stage == "tls certificate" else {},
            "shutdown_timeout_s": 5,
        }
    )
    before = _leftovers()
    try:
        with pytest.raises(Exception):  # noqa: B017 - each stage fails its own way
            await serve(settings, role=role)
    finally:
        occupied.close()
    await asyncio.sleep(0)
    tasks, connections, children = _leftovers()
    assert tasks == before[0]
    assert connections <= before[1], "a connection of the failed start is still open"
    assert children == before[2]


async def test_alerting_whose_engine_fails_to_start_says_why_and_closes_its_notifier(
    tmp_path: Path, fresh_pg_dsn: str, redis_url: str
) -> None:
    """A rules file broken after the service started (read again when this member takes the lease): the
    notifier already started is closed at once (a retry would start a second one), and health says why
    alerting is off."""
    rules = tmp_path / "rules.yaml"
    rules.write_text("[oops\n")
    settings = Settings.model_validate(
        {
            "data_dir": str(tmp_path / "data"),
            "targets": str(tmp_path / "targets.yaml"),
            "postgres": {"dsn": fresh_pg_dsn},
            "redis": {"url": redis_url},
            "alerts": {"rules_file": str(rules)},
        }
    )
    before = _leftovers()[0]
    async with open_stores(settings) as stores, new_http_session() as session:
        alerting = Alerting(stores, session, ScrapeService(settings.targets), settings)
        alerting.start_soon()
        deadline = time.monotonic() + 10
        while alerting.health()["status"] == "waiting":
            assert time.monotonic() < deadline, alerting.health()
            await asyncio.sleep(0.05)
        health = alerting.health()
        assert health["status"] == "error" and "rules.yaml" in str(health["error"])
        assert "notify-tick" not in _leftovers()[0], "the notifier outlived its engine's failed start"
        await alerting.close(5)
    await asyncio.sleep(0)
    assert _leftovers()[0] == before


def test_a_failed_start_on_the_embedded_stores_stops_them(tmp_path: Path, pg_data_dir: Path) -> None:
    """The embedded PostgreSQL and Redis are child processes: a start that fails after them stops them."""
    targets = tmp_path / "targets.yaml"
    targets.write_text("scrape_configs: [oops\n")
    data_dir = pg_data_dir
    env = {k: v for k, v in os.environ.items() if not k.startswith("OM_")}
    proc = subprocess.run(
        [sys.executable, "-m", "openmanager", "run"],
        env={
            **env,
            "OM_LISTEN": f"127.0.0.1:{free_port()}",
            "OM_DATA_DIR": str(data_dir),
            "OM_TARGETS": str(targets),
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert "embedded postgres started" in proc.stderr, "the failure came after the stores started"
    survivors = []
    for process in psutil.process_iter(["cmdline"]):
        with contextlib.suppress(psutil.Error):
            if any(str(data_dir) in part for part in process.info["cmdline"] or []):
                survivors.append(process.info["cmdline"])
    assert survivors == []


def test_sigterm_under_load_exits_within_the_shutdown_bound(
    tmp_path: Path, fresh_pg_dsn: str, redis_url: str, service_factory: list[Service]
) -> None:
    """Scrapes of 50 targets that never answer in time, and clients holding requests open: the whole
    shutdown still ends within ``shutdown_timeout_s`` (plus the interpreter's own exit)."""
    hanging = socket.socket()
    hanging.bind(("127.0.0.1", 0))
    hanging.listen(200)  # accepts connections, never answers: every scrape waits for its timeout
    port = hanging.getsockname()[1]
    targets = "".join(f"      - targets: ['127.0.0.{i}:{port}']\n" for i in range(1, 51))
    config = tmp_path / "openmanager.yml"
    config.write_text("shutdown_timeout_s: 4\n")
    service = Service(
        tmp_path,
        fresh_pg_dsn,
        redis_url,
        targets="global: {scrape_interval: 2s, scrape_timeout: 2s}\n"
        f"scrape_configs:\n  - job_name: slow\n    static_configs:\n{targets}",
        env={"OM_CONFIG": str(config)},
    )
    service_factory.append(service)
    held: list[socket.socket] = []
    try:
        wait_healthy(service.proc, service.port)
        time.sleep(3)  # scrapes in flight
        for _ in range(20):  # clients that opened a connection and send their request slowly
            client = socket.create_connection(("127.0.0.1", service.port))
            client.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\n")
            held.append(client)
        started = time.monotonic()
        code, _, err = service.stop()
        took_s = time.monotonic() - started
    finally:
        hanging.close()
        for client in held:
            client.close()
    assert code == 0, err
    assert took_s < 4 + 3, f"shutdown took {took_s:.1f} s"


def _backup_metric(port: int, name: str) -> float | None:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        for family in text_string_to_metric_families(response.read().decode()):
            for sample in family.samples:
                if sample.name == name:
                    return float(sample.value)
    return None


def test_a_scheduled_backup_runs_in_the_service_and_shows_on_metrics(
    tmp_path: Path, fresh_pg_dsn: str, redis_url: str, service_factory: list[Service]
) -> None:
    # Every minute (the shortest schedule): the first backup comes within a minute of the start.
    env = {"OM_BACKUP_SCHEDULE": "* * * * *", "OM_BACKUP_KEEP": "1"}
    service = Service(tmp_path, fresh_pg_dsn, redis_url, env=env)
    service_factory.append(service)
    wait_healthy(service.proc, service.port)
    last_success = "openmanager_backup_last_success_timestamp_seconds"
    assert _backup_metric(service.port, last_success) == 0
    deadline = time.monotonic() + 75
    while (_backup_metric(service.port, last_success) or 0) == 0:
        assert time.monotonic() < deadline, "no scheduled backup within 75 s"
        time.sleep(1)
    assert _backup_metric(service.port, "openmanager_backup_failures_total") == 0
    backups = list((tmp_path / "svc-data" / "backups").iterdir())
    assert len(backups) == 1 and (backups[0] / "manifest.json").is_file()
    assert stat.S_IMODE(backups[0].stat().st_mode) == 0o700
    code, _, err = service.stop()
    assert code == 0, err
