"""pg_dump and pg_restore: the password only in the environment, a pair fitting the server, failures
reported with the tool's own words."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest

from openmanager.pgtools import PgToolError, connection, find_tools, run_tool, tool_major

SECRET = "Zq9-backup-secret"


@pytest.mark.parametrize(
    ("dsn", "dbname", "password"),
    [
        (
            "postgresql://om:s3cr%40t@db.example:5433/om?sslmode=require",
            "postgresql://om@db.example:5433/om?sslmode=require",
            "s3cr@t",
        ),
        (
            "postgres://om@10.0.0.1/om?password=hunter2&application_name=x",
            "postgres://om@10.0.0.1/om?application_name=x",
            "hunter2",
        ),
        (
            "postgresql://postgres:@/postgres?host=/tmp/pg",
            "postgresql://postgres@/postgres?host=%2Ftmp%2Fpg",
            None,
        ),
    ],
)
def test_the_password_goes_into_the_environment_never_the_command_line(
    dsn: str, dbname: str, password: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PGHOST", "elsewhere.example")
    conn = connection(dsn)
    assert conn.dbname == dbname
    assert conn.env.get("PGPASSWORD") == password
    assert "PGHOST" not in conn.env
    if password:
        assert password not in conn.dbname


def test_a_dsn_that_is_not_a_uri_is_refused() -> None:
    with pytest.raises(PgToolError, match="postgresql:// URI"):
        connection("host=db user=om password=x")


async def test_the_tools_found_fit_the_server(pg_admin_dsn: str) -> None:
    conn = await asyncpg.connect(pg_admin_dsn)
    try:
        server_major = int(await conn.fetchval("SELECT current_setting('server_version_num')")) // 10000
    finally:
        await conn.close()
    tools = await find_tools(server_major)
    assert tools.major >= server_major
    assert await tool_major(tools.pg_dump) == await tool_major(tools.pg_restore) == tools.major


async def test_no_fitting_tools_is_an_error_saying_what_to_install(tmp_path: Path) -> None:
    with pytest.raises(PgToolError, match="PostgreSQL 99 or newer"):
        await find_tools(99)
    with pytest.raises(PgToolError, match=str(tmp_path)):
        await find_tools(10, tmp_path)


async def test_a_failing_tool_reports_its_stderr(pg_admin_dsn: str) -> None:
    tools = await find_tools(10)
    conn = connection(f"postgresql://nobody:{SECRET}@127.0.0.1:1/none")
    with pytest.raises(PgToolError, match=r"pg_dump failed \(exit status 1\): .*127\.0\.0\.1") as error:
        await run_tool([str(tools.pg_dump), "--no-password", f"--dbname={conn.dbname}"], conn)
    assert SECRET not in str(error.value)
