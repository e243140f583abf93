"""Every Redis key and pub/sub channel of the live layer, named once.

The seed's keys are the public layout and keep their names:

``server:{id}:status``
    string, JSON: the server's status and summary (see :mod:`collector.storage.live`).
``server:{id}:metrics:{metric}``
    sorted set per summary metric (:data:`METRICS`), score = Unix time in seconds, member
    ``"{time}:{value}"``, trimmed to the recent window.
``alerts:active``
    list of active alerts, owned by the alert engine.

Added for instant queries and cheap listing:

``target:{identity}:latest``
    string, binary: the whole latest scrape of one target as one value (series-set id, time, values).
``seriesset:{id}``
    string, compressed: the series list that a set id stands for, written when a target's set changes.
``servers:index`` / ``targets:index``
    sorted sets of server ids / target identities, score = Unix time last seen.

Collectors sharing the fleet (:mod:`collector.cluster`) keep their keys under one hash tag, so that each of
their scripts touches one slot of a Redis Cluster:

``{openmanager:cluster}:members``
    sorted set of live member ids, score = when the member's heartbeat expires (Unix ms, Redis's clock).
``{openmanager:cluster}:info``
    hash, member id → JSON: the member's share of the targets, its process and when it started.
``{openmanager:cluster}:lease:{name}`` / ``…:fence:{name}``
    the holder's token of a singleton's lease (with its TTL) and the lease's fencing counter.

Hash tags: the braces in ``server:{id}:…`` and ``target:{identity}:latest`` are literal, so each server's
keys share one slot of a Redis Cluster (the seed's layout, written as it always read).

Channels (JSON messages): :data:`EVENTS_STATUS` when a server's status changes (first sight included),
:data:`EVENTS_SCRAPE` once per scrape and :data:`EVENTS_ALERTS` when an alert fires or resolves (see
:mod:`collector.alerts.publisher`) and :data:`TARGETS_CHANGED` when the servers registered through the API
change. :data:`ALERTS_CONFIG` carries no data: a message tells the alert engine that
rules, silences or hand resolves changed in PostgreSQL. A channel is used under the name :func:`channel`
gives it, ``{name}@{database}``: keys live in a database but pub/sub is server-wide, so installations (or test
runs) that share one Redis on different databases would otherwise hear each other's events.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Final, Literal

if TYPE_CHECKING:
    from redis.asyncio import Redis

Metric = Literal["cpu", "memory", "disk", "network_rx", "network_tx"]
METRICS: Final[tuple[Metric, ...]] = ("cpu", "memory", "disk", "network_rx", "network_tx")
"""The summary metrics that keep a recent window: percentages for the first three, bytes/s for network."""

ALERTS_ACTIVE: Final = "alerts:active"
SERVERS_INDEX: Final = "servers:index"
TARGETS_INDEX: Final = "targets:index"

EVENTS_STATUS: Final = "events:status"
"""Channel: a server's status changed (or was seen for the first time)."""
EVENTS_SCRAPE: Final = "events:scrape"
"""Channel: a scrape was written (server id, time, up, status, summary)."""
EVENTS_ALERTS: Final = "events:alerts"
"""Channel: an alert fired or resolved (fingerprint, state, severity, server id, labels, title, message)."""
TARGETS_CHANGED: Final = "events:targets"
"""Channel: servers registered through the API changed (JSON with ``action`` and ``server_id``)."""
ALERTS_CONFIG: Final = "alerts:config"
"""Channel: alert rules, silences or hand resolves changed; the engine reloads them."""

_METRIC_SET: Final = frozenset(METRICS)


CLUSTER_TAG: Final = "{openmanager:cluster}"
CLUSTER_MEMBERS: Final = f"{CLUSTER_TAG}:members"
CLUSTER_INFO: Final = f"{CLUSTER_TAG}:info"


def lease(name: str) -> str:
    """The key holding the token of the holder of the lease ``name``."""
    return f"{CLUSTER_TAG}:lease:{name}"


def fence(name: str) -> str:
    """The fencing counter of the lease ``name``: one more at every new holder."""
    return f"{CLUSTER_TAG}:fence:{name}"


def channel(name: str, redis: Redis) -> str:
    """Channel ``name`` of the database ``redis`` works in: ``{name}@{db}`` (0 on a Redis Cluster)."""
    pool = getattr(redis, "connection_pool", None)
    return f"{name}@{pool.connection_kwargs.get('db', 0) if pool is not None else 0}"


def channel_base(scoped: bytes) -> bytes:
    """The name a scoped channel was made from (what :func:`channel` added, taken off)."""
    return scoped.split(b"@", 1)[0]


def server_status(server_id: str | uuid.UUID) -> str:
    """The key of a server's status JSON."""
    return f"server:{{{server_id}}}:status"


def server_metric(server_id: str | uuid.UUID, metric: str) -> str:
    """The key of a server's recent window of one summary metric; raises ValueError for an unknown one."""
    if metric not in _METRIC_SET:
        raise ValueError(f"unknown metric {metric!r}: expected one of {', '.join(METRICS)}")
    return f"server:{{{server_id}}}:metrics:{metric}"


def target_latest(identity: str) -> str:
    """The key of a target's latest scrape, all series in one value."""
    return f"target:{{{identity}}}:latest"


def series_set(series_set_id: str) -> str:
    """The key of the series list that ``series_set_id`` stands for."""
    return f"seriesset:{series_set_id}"
