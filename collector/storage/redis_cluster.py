"""A Redis client for a single server or a Redis Cluster, from the configured URL.

``redis+cluster://[user:password@]host:port,host:port/`` (or ``rediss+cluster://`` for TLS) lists some nodes
of a cluster; ``redis://host:port`` with the ``redis.cluster`` setting names one. redis-py's cluster client
learns the slot map from them and sends each command to the node of its key's slot.

The cluster client is handed to the rest of the service as a :class:`redis.asyncio.Redis`: it answers the
commands the live layer uses with the same signatures, and every multi-key script keeps its keys in one
slot (see :mod:`collector.storage.keys`). What differs is checked with :func:`is_cluster`: the live writer
sends a batch as a pipeline instead of one script (its keys span slots), and there is no database number.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, cast
from urllib.parse import unquote, urlsplit

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, RedisCluster

CLUSTER_SCHEMES: Final = {"redis+cluster": False, "rediss+cluster": True}
"""The URL schemes that name a Redis Cluster, and whether each uses TLS."""


def is_cluster_url(url: str) -> bool:
    """True when ``url`` names a Redis Cluster by its scheme."""
    return url.split("://", 1)[0] in CLUSTER_SCHEMES


def new_client(url: str, *, cluster: bool = False, **options: object) -> aioredis.Redis:
    """A client for ``url``: a cluster client when the scheme or ``cluster`` says so. ``options`` are the
    connection options both clients take (timeouts, ``decode_responses``)."""
    if not cluster and not is_cluster_url(url):
        return aioredis.Redis.from_url(url, **options)  # type: ignore[arg-type]
    parts = urlsplit(url)
    tls = CLUSTER_SCHEMES.get(parts.scheme, parts.scheme == "rediss")
    nodes = []
    for address in parts.netloc.rsplit("@", 1)[-1].split(","):
        host, _, port = address.rpartition(":")
        nodes.append(ClusterNode(host.strip("[]") or "127.0.0.1", int(port or 6379)))
    client = RedisCluster(
        startup_nodes=nodes,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        ssl=tls,
        **options,  # type: ignore[arg-type]
    )
    # Same commands and signatures for everything the service sends (see the module docstring).
    return cast(aioredis.Redis, client)


PUBLISH_SCRIPT: Final = "for i = 1, #ARGV, 2 do redis.call('PUBLISH', ARGV[i], ARGV[i + 1]) end return 1"
"""ARGV: channel, message, channel, message … A cluster pipeline refuses PUBLISH, so a script publishes; a
node's PUBLISH reaches the subscribers of every node."""

PUBLISH_ROUTE: Final = "{openmanager:events}"
"""The key the publishing script declares and never touches: it sends every publish to the node of one slot.
A script without keys would go to a random node each time, and messages that different nodes forward over
the cluster bus can reach a subscriber out of order (a status change before the first sight it follows)."""


async def publish_all(client: aioredis.Redis, messages: Sequence[tuple[str, str | bytes]]) -> None:
    """Publish every (channel, message) in one round trip, on a single server or a cluster, in the order
    given and after everything published before through this function."""
    if messages:
        parts = (part for message in messages for part in message)
        await client.eval(PUBLISH_SCRIPT, 1, PUBLISH_ROUTE, *parts)


def is_cluster(client: aioredis.Redis) -> bool:
    """True when ``client`` talks to a Redis Cluster."""
    return isinstance(client, RedisCluster)
