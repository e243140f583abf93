"""A Redis Cluster of three masters on loopback ports, started from Debian's ``redis-server`` for a test."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis as redis_sync

from tests.ports import free_port, wait_port

MASTERS = 3


@contextlib.contextmanager
def redis_cluster(directory: Path, masters: int = MASTERS) -> Iterator[list[int]]:
    """Start ``masters`` cluster-enabled servers under ``directory``, join them into one cluster (no
    replicas), wait until every node says the cluster is ok; their ports. Stops them on exit."""
    server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    if server is None or cli is None:
        pytest.skip("Debian's redis-server and redis-cli are not installed")
    ports = [_cluster_port() for _ in range(masters)]
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for port in ports:
            node_dir = directory / str(port)
            node_dir.mkdir(parents=True)
            processes.append(
                subprocess.Popen(
                    [
                        server,
                        "--port", str(port),
                        "--bind", "127.0.0.1",
                        "--dir", str(node_dir),
                        "--cluster-enabled", "yes",
                        "--cluster-config-file", "nodes.conf",
                        "--cluster-node-timeout", "2000",
                        "--save", "",
                        "--appendonly", "no",
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )  # fmt: skip
        for port in ports:
            wait_port(port)
        subprocess.run(
            [cli, "--cluster", "create", *(f"127.0.0.1:{p}" for p in ports), "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=30,
        )
        _wait_ok(ports)
        yield ports
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=10)


def _cluster_port() -> int:
    """A free port whose bus port (10,000 higher, so at most 55,535) is free too."""
    for _ in range(1000):
        port = free_port()
        if port <= 55535 and _is_free(port + 10000):
            return port
    port = 20000 + os.getpid() % 20000
    while not (_is_free(port) and _is_free(port + 10000)):
        port += 1
    return port


def _is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _wait_ok(ports: list[int], timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    for port in ports:
        client = redis_sync.Redis(port=port)
        try:
            while client.cluster("INFO").get("cluster_state") != "ok":
                if time.monotonic() > deadline:
                    raise AssertionError(f"the Redis Cluster node on {port} never got ready")
                time.sleep(0.05)
        finally:
            client.close()


def cluster_url(ports: list[int]) -> str:
    """The ``redis+cluster://`` URL naming every node."""
    return "redis+cluster://" + ",".join(f"127.0.0.1:{port}" for port in ports)
