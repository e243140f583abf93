"""Which server pushed samples belong to: their ``job`` and ``instance`` labels, or a registered server.

A pushed series belongs to the server of its ``job`` and ``instance`` labels, with the id
:func:`~collector.result.server_id_for` gives them, the same id a scrape of that target would have.
When exactly one server registered through the API has the ``instance`` as its address, the series
belong to that server, whatever their job (a host behind NAT, registered by hand and
pushing through a Prometheus or Alloy next to it, whose job name is its own). Series without an
``instance`` label (recording rules, federation) belong to one server per job with an empty address.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from uuid import UUID

import asyncpg

from collector.result import TargetInfo, server_id_for


@dataclass(frozen=True)
class RegisteredAddress:
    """A server registered through the API, as pushed samples find it by address."""

    server_id: UUID
    job: str
    name: str
    labels: Mapping[str, str]


async def registered_addresses(pool: asyncpg.Pool) -> dict[str, RegisteredAddress]:
    """Servers registered through the API by address; an address two of them share is left out."""
    rows = await pool.fetch(
        "SELECT id, name, job, address, labels FROM servers WHERE source = 'api' AND address IS NOT NULL"
    )
    found: dict[str, RegisteredAddress] = {}
    shared: set[str] = set()
    for row in rows:
        address = row["address"]
        if address in found:
            shared.add(address)
        labels = row["labels"]
        # asyncpg hands jsonb over as text unless the pool sets a codec.
        decoded = json.loads(labels) if isinstance(labels, str) else labels
        found[address] = RegisteredAddress(
            row["id"], row["job"], row["name"], {str(k): str(v) for k, v in dict(decoded or {}).items()}
        )
    return {address: server for address, server in found.items() if address not in shared}


def identity_of(job: str, instance: str) -> str:
    """The target identity of pushed samples of (job, instance): stable, and unlike any scraped target's."""
    text = json.dumps(["remote_write", job, instance], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def pushed_target(job: str, instance: str, registered: Mapping[str, RegisteredAddress]) -> TargetInfo:
    """The target (and so the server) that samples of ``job`` and ``instance`` were pushed for."""
    server_id = server_id_for(job, instance)
    labels = {"job": job, "instance": instance}
    server = registered.get(instance) if instance else None
    if server is not None:
        server_id, job = server.server_id, server.job
        labels = {**server.labels, "name": server.name, "job": job, "instance": instance}
    return TargetInfo(
        identity=identity_of(job, instance),
        server_id=server_id,
        job=job,
        instance=instance,
        labels=tuple(sorted(labels.items())),
        url="",
        interval_s=0.0,
        timeout_s=0.0,
    )
