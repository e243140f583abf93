"""Shared fixtures for the exporter tests: real servers on 127.0.0.1 with ephemeral ports, certificates."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import bcrypt
import pytest
from aiohttp import web

from exporter.config import ExporterConfig
from exporter.server import create_app, start

FIXTURES = Path(__file__).parent / "fixtures"
# The lowest bcrypt cost keeps the tests fast; the code paths are the same at any cost.
TEST_BCRYPT_ROUNDS = 4

Serve = Callable[..., Awaitable[str]]


def write_file(directory: Path, text: str, name: str = "exporter.yml") -> Path:
    """Write a config file for a test and return its path."""
    path = directory / name
    path.write_text(text)
    return path


def bcrypt_hash(password: str, rounds: int = TEST_BCRYPT_ROUNDS) -> str:
    """A bcrypt hash as it would appear in a config file."""
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=rounds)).decode()


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """Start the exporter app for a config on 127.0.0.1:<free port>; returns its base URL."""
    runners: list[web.AppRunner] = []

    async def _serve(config: ExporterConfig, ssl_context: ssl.SSLContext | None = None) -> str:
        runner, addresses = await start(create_app(config), "127.0.0.1", 0, ssl_context)
        runners.append(runner)
        scheme = "https" if ssl_context else "http"
        return f"{scheme}://127.0.0.1:{addresses[0][1]}"

    yield _serve
    for runner in runners:
        await runner.cleanup()


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    """An HTTP client that does not decompress, so tests see the bytes as sent."""
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        yield session


@dataclass(frozen=True)
class Certificates:
    """A throw-away CA with a server certificate for 127.0.0.1 and a client certificate."""

    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca_cert: Path


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def _issue(directory: Path, name: str, subject: str, extensions: str, ca_cert: Path, ca_key: Path) -> None:
    key, csr, cert = (directory / f"{name}.{suffix}" for suffix in ("key", "csr", "crt"))
    ext_file = directory / f"{name}.ext"
    ext_file.write_text(extensions + "\n")
    _openssl(
        "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", str(key), "-out", str(csr), "-subj", subject,
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(ca_cert), "-CAkey", str(ca_key), "-CAcreateserial",
        "-out", str(cert), "-days", "2", "-extfile", str(ext_file),
    )  # fmt: skip


def _make_ca(directory: Path, name: str) -> tuple[Path, Path]:
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", str(key), "-out", str(cert), "-subj", f"/CN={name}", "-days", "2",
    )  # fmt: skip
    return cert, key


@pytest.fixture(scope="session")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    """Certificates made with the openssl CLI (the venv has no `cryptography`)."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make test certificates")
    directory = tmp_path_factory.mktemp("tls")
    ca_cert, ca_key = _make_ca(directory, "test-ca")
    other_ca_cert, _ = _make_ca(directory, "other-ca")
    _issue(
        directory,
        "server",
        "/CN=127.0.0.1",
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth",
        ca_cert,
        ca_key,
    )
    _issue(directory, "client", "/CN=prometheus", "extendedKeyUsage=clientAuth", ca_cert, ca_key)
    return Certificates(
        ca_cert=ca_cert,
        ca_key=ca_key,
        server_cert=directory / "server.crt",
        server_key=directory / "server.key",
        client_cert=directory / "client.crt",
        client_key=directory / "client.key",
        other_ca_cert=other_ca_cert,
    )
