"""``pg_dump`` and ``pg_restore``: finding a pair that fits the server, and running them without a shell.

A dump needs a ``pg_dump`` of the server's major version or newer, and ``pg_restore`` reads what the
``pg_dump`` of its own version wrote. The candidates are ``backup.pg_bin_dir`` when set, else the
embedded server's own binaries (``pgserver``), the Debian/Ubuntu client packages
(``/usr/lib/postgresql/<major>/bin``) and ``PATH``; the oldest major version not older than the server
wins, so each server is dumped by the client closest to it.

The tools get the DSN without its password as ``--dbname`` and the password in ``PGPASSWORD``: the command
line is visible to every user of the host, the environment is not. Nothing reaches a shell.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import structlog

log = structlog.get_logger(__name__)

DEBIAN_CLIENTS = Path("/usr/lib/postgresql")
TOOL_TIMEOUT_S = 6 * 3600.0
"""A dump or restore still running after this is stopped: a hung server must not hold the job forever."""
_STDERR_TAIL_BYTES = 4096
_VERSION = re.compile(rb"\(PostgreSQL\) (\d+)(?:\.(\d+))?")


class PgToolError(RuntimeError):
    """A tool is missing, does not fit the server, or failed (its message ends with the tool's stderr)."""


@dataclass(frozen=True)
class Connection:
    """What a tool is given to connect: the DSN without its password, and the environment it runs in."""

    dbname: str
    env: dict[str, str]


def connection(dsn: str) -> Connection:
    """Split ``dsn`` (a ``postgresql://`` URI) into a password-less ``--dbname`` and the tool's environment.

    The environment keeps ``PATH`` and ``LANG`` of this process and none of its ``PG*`` variables, so a
    variable set for something else cannot send the tool to another server.
    """
    parts = urlsplit(dsn)
    if parts.scheme not in ("postgresql", "postgres"):
        raise PgToolError("the PostgreSQL DSN must be a postgresql:// URI for backups")
    password = unquote(parts.password) if parts.password else None
    query = []
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key == "password":
            password = value
        else:
            query.append((key, value))
    netloc = parts.netloc.rpartition("@")[2]
    if parts.username is not None:
        netloc = f"{parts.username}@{netloc}"
    dbname = urlunsplit((parts.scheme, netloc, parts.path, urlencode(query), ""))
    env = {key: value for key, value in os.environ.items() if key in ("PATH", "LANG", "LC_ALL", "HOME")}
    if password:
        env["PGPASSWORD"] = password
    return Connection(dbname=dbname, env=env)


@dataclass(frozen=True)
class Tools:
    """A ``pg_dump`` and ``pg_restore`` of one major version."""

    pg_dump: Path
    pg_restore: Path
    major: int


def _candidate_dirs(pg_bin_dir: Path | None) -> list[Path]:
    if pg_bin_dir is not None:
        return [pg_bin_dir]
    dirs: list[Path] = []
    with warnings.catch_warnings():
        # platformdirs, imported by pgserver, warns when XDG_RUNTIME_DIR is unset (see collector/embedded.py).
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        try:
            from pgserver import postgres_server  # noqa: PLC0415 - optional: the embedded server's binaries
        except ImportError:
            pass
        else:
            dirs.append(postgres_server.POSTGRES_BIN_PATH)
    if DEBIAN_CLIENTS.is_dir():
        dirs.extend(sorted(DEBIAN_CLIENTS.glob("*/bin")))
    on_path = shutil.which("pg_dump")
    if on_path is not None:
        dirs.append(Path(on_path).resolve().parent)
    return dirs


async def tool_major(path: Path) -> int | None:
    """The major version a tool reports, or None when it does not run."""
    try:
        proc = await asyncio.create_subprocess_exec(
            str(path), "--version", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
        )
        out, _ = await asyncio.wait_for(proc.communicate(), 30)
    except (OSError, TimeoutError):
        return None
    match = _VERSION.search(out)
    return int(match.group(1)) if proc.returncode == 0 and match else None


async def find_tools(server_major: int, pg_bin_dir: Path | None = None) -> Tools:
    """The pair of the oldest major version not older than ``server_major``; :class:`PgToolError` naming
    what was found when none fits."""
    found: dict[int, Tools] = {}
    for directory in _candidate_dirs(pg_bin_dir):
        dump, restore = directory / "pg_dump", directory / "pg_restore"
        if not (dump.is_file() and restore.is_file()):
            continue
        major = await tool_major(dump)
        if major is not None and major >= server_major and major == await tool_major(restore):
            found.setdefault(major, Tools(dump, restore, major))
    if not found:
        where = str(pg_bin_dir) if pg_bin_dir is not None else "pgserver, /usr/lib/postgresql and PATH"
        raise PgToolError(
            f"no pg_dump and pg_restore of PostgreSQL {server_major} or newer in {where}: install the "
            f"PostgreSQL client package of version {server_major} or set backup.pg_bin_dir"
        )
    return found[min(found)]


async def run_tool(argv: list[str], conn: Connection, *, timeout_s: float = TOOL_TIMEOUT_S) -> None:
    """Run ``argv`` (no shell) in the connection's environment; :class:`PgToolError` with the end of its
    stderr when it fails or runs past ``timeout_s``."""
    name = Path(argv[0]).name
    proc = await asyncio.create_subprocess_exec(
        *argv,
        env=conn.env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, err = await asyncio.wait_for(proc.communicate(), timeout_s)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise PgToolError(f"{name} ran longer than {timeout_s:g}s and was stopped") from None
    except asyncio.CancelledError:
        proc.kill()
        await proc.wait()
        raise
    if proc.returncode != 0:
        tail = err[-_STDERR_TAIL_BYTES:].decode("utf-8", "replace").strip()
        raise PgToolError(f"{name} failed (exit status {proc.returncode}): {tail}")
