"""The live writer's batch on a Redis Cluster: the script's commands sent as one pipeline.

:data:`~collector.storage.live.WRITE_SCRIPT` touches keys of every server of a batch, which a Redis Cluster
spreads over its slots, and the indexes, which have slots of their own: one script cannot run there. On a
cluster the same arguments are read here, in the script's layout, into plain commands; redis-py's cluster
pipeline sends each node its commands in one round trip. The answer has the script's shape (old status,
series set lost) so the writer follows up alike. What the script made atomic is not here: a reader may see
a server's status before its window points, as it may see one server before another already.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import redis.asyncio as aioredis

from collector.storage.redis_cluster import publish_all

_STATUS = re.compile(rb'"status":"([A-Za-z]+)"')
"""The status in a status JSON, as the script's ``string.match`` finds it."""

HEAD, STRIDE = 15, 14
"""The script's header length and the number of arguments per result (see ``WRITE_SCRIPT``)."""


def _text(value: str | int | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def write_as_pipeline(redis: aioredis.Redis, args: Sequence[str | int | bytes]) -> list[object]:
    """Apply the script's arguments ``args`` as a pipeline; the script's answer (two values per result)."""
    keep_ttl, set_ttl, window_ttl = int(args[0]), int(args[1]), int(args[2])
    status_key, latest_key, set_key, channel = (_text(a) for a in args[3:7])
    servers_index, targets_index, index_cutoff = _text(args[7]), _text(args[8]), _text(args[9])
    metric_keys = [_text(a) for a in args[10:HEAD]]
    pipe = redis.pipeline(transaction=False)
    # Where each result's answers land in the pipeline's replies: its SET … GET and its EXPIRE (or None).
    answers: list[tuple[int, int | None]] = []
    events: list[tuple[str, str | bytes]] = []
    position = 0

    def add(count: int = 1) -> int:
        nonlocal position
        position += count
        return position - count

    for base in range(HEAD, len(args) - 1, STRIDE):
        server_id, identity, score = _text(args[base]), _text(args[base + 1]), float(args[base + 2])
        pipe.set(status_key % server_id, args[base + 3], ex=keep_ttl, get=True)
        old_at = add()
        pipe.set(latest_key % identity, args[base + 4], ex=keep_ttl)
        add()
        set_id, set_value = _text(args[base + 5]), args[base + 6]
        lost_at: int | None = None
        if set_value not in ("", b""):
            pipe.set(set_key % set_id, set_value, ex=set_ttl)
            add()
        elif set_id:
            pipe.expire(set_key % set_id, set_ttl)
            lost_at = add()
        trim = _text(args[base + 7])
        for m in range(5):
            member = _text(args[base + 8 + m])
            if member:
                key = metric_keys[m] % server_id
                pipe.zadd(key, {member: score})
                if trim:
                    pipe.zremrangebyscore(key, "-inf", trim)
                pipe.expire(key, window_ttl)
                add(3 if trim else 2)
        event = args[base + 13]
        events.append((channel, event if isinstance(event, bytes) else str(event)))
        pipe.zadd(servers_index, {server_id: score})
        pipe.zadd(targets_index, {identity: score})
        add(2)
        answers.append((old_at, lost_at))
    pipe.zremrangebyscore(servers_index, "-inf", index_cutoff)
    pipe.zremrangebyscore(targets_index, "-inf", index_cutoff)
    replies = await pipe.execute()
    # A cluster pipeline refuses PUBLISH: the batch's events go in one script call after its writes.
    await publish_all(redis, events)
    out: list[object] = []
    for old_at, lost_at in answers:
        old = replies[old_at]
        found = _STATUS.search(old) if isinstance(old, bytes) else None
        out.append(found.group(1) if found else None)
        out.append(0 if lost_at is None else 1 - int(replies[lost_at]))
    return out
