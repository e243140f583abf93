"""The exporter's actions listener, in process on loopback (plain HTTP), trusting a key made for the test."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from collector.actions.signing import public_key_text
from exporter.actions.listener import create_actions_app
from exporter.actions.loader import load_actions


@dataclass(frozen=True)
class Listener:
    """A running listener: its port, the server id it answers for, the key it trusts."""

    port: int
    server_id: uuid.UUID
    key: Ed25519PrivateKey


@pytest.fixture
async def listener(tmp_path: Path) -> AsyncIterator[Listener]:
    """An actions listener whose one action, ``hello``, runs ``echo hello {who}``."""
    key = Ed25519PrivateKey.generate()
    server_id = uuid.uuid4()
    actions_file = tmp_path / "actions.yaml"
    actions_file.write_text(
        json.dumps(
            {
                "server_id": str(server_id),
                "public_keys": [public_key_text(key.public_key())],
                "listener": {"address": "127.0.0.1:0", "plain_http": True},
                "log_file": str(tmp_path / "attempts.jsonl"),
                "actions": {
                    "hello": {
                        "kind": "command",
                        "argv": ["echo", "hello", "{who}"],
                        "destructive": False,
                        "params": {"who": {"enum": ["world", "there"]}},
                    }
                },
            }
        )
    )
    actions_file.chmod(0o644)
    server = TestServer(create_actions_app(load_actions(actions_file)), host="127.0.0.1")
    await server.start_server()
    try:
        assert server.port is not None
        yield Listener(server.port, server_id, key)
    finally:
        await server.close()
