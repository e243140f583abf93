"""Helpers for the remote actions tests: signing keys, signed envelopes, actions files, a fake systemctl."""

from __future__ import annotations

import base64
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from exporter.actions.envelope import b64url_encode


def public_text(key: Ed25519PrivateKey) -> str:
    """The ``ed25519:<base64>`` form the collector prints and the actions file holds."""
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return "ed25519:" + base64.b64encode(raw).decode()


def envelope_bytes(**overrides: object) -> bytes:
    """A valid envelope for server web-01 and action restart of nginx.service, with `overrides` applied."""
    now = int(time.time())
    fields: dict[str, object] = {
        "server_id": "web-01",
        "action": "restart",
        "params": {"unit": "nginx.service"},
        "requested_by": "alice",
        "iat": now,
        "exp": now + 30,
        "nonce": b64url_encode(os.urandom(16)),
    }
    fields.update(overrides)
    return json.dumps(fields).encode()


def run_body(key: Ed25519PrivateKey, raw: bytes) -> bytes:
    """The POST body for envelope bytes `raw` signed with `key`."""
    return json.dumps({"envelope": b64url_encode(raw), "signature": b64url_encode(key.sign(raw))}).encode()


def authorization(key: Ed25519PrivateKey, raw: bytes) -> str:
    """The Authorization header of a listing signed with `key`."""
    return f"OM-Ed25519 {b64url_encode(raw)}.{b64url_encode(key.sign(raw))}"


def write_actions(directory: Path, text: str, name: str = "actions.yaml") -> Path:
    """Write an actions file with the mode the loader accepts (0644)."""
    path = directory / name
    path.write_text(text)
    path.chmod(0o644)
    return path


@pytest.fixture
def key() -> Ed25519PrivateKey:
    """The collector's signing key for a test."""
    return Ed25519PrivateKey.generate()


@dataclass(frozen=True)
class FakeSystemctl:
    """A `systemctl` first on PATH that appends its arguments to `marker` and exits with 0."""

    bin_dir: Path
    marker: Path

    def calls(self) -> list[str]:
        """One line per run: the arguments it got."""
        return self.marker.read_text().splitlines() if self.marker.exists() else []


@pytest.fixture
def fake_systemctl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeSystemctl:
    """Put a fake systemctl first on PATH; the marker file proves whether anything ran."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    marker = tmp_path / "systemctl-ran"
    script = bin_dir / "systemctl"
    script.write_text(
        f'#!/bin/sh\necho "$*" >> \'{marker}\'\necho "did $1 of $2"\necho "to stderr" >&2\nexit 0\n'
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    return FakeSystemctl(bin_dir, marker)
