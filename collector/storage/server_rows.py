"""The ``servers`` row of a discovered scrape target: made when the collector first meets the target.

A target from the target file (or any target the collector scrapes) needs a ``servers`` row before its
``server_stats`` or alerts can refer to it. The history writer makes it when it first writes the target's
scrapes, and the alert store when an alert about the target comes first; both go through
:func:`ensure_server_rows`, so such a row looks the same whoever made it: named after the host of its
instance, with the target's job and address (and its labels, where the caller knows them). Servers
registered through the API get their row from :func:`collector.storage.servers.create_server` instead, with
what the operator entered.

The row's id is the target's id. Another row may already hold the target's job and address under another id
(a server registered through the API before it appeared in the target file, say): then the target gets no
row of its own, and the callers leave it unlinked rather than fail.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from collector.hostport import split_host_port
from collector.storage.partitions import Connection


@dataclass(frozen=True, slots=True)
class TargetRow:
    """What the ``servers`` row of a target is made of."""

    server_id: UUID
    job: str
    instance: str
    labels: tuple[tuple[str, str], ...]


async def ensure_server_rows(conn: Connection, targets: Sequence[TargetRow]) -> set[UUID]:
    """Create the ``servers`` row of each target that has none; the ids of those that have their row now.

    An existing row is neither changed nor locked. A target whose job and address another row holds gets
    no row, and its id is not in the answer.
    """
    rows = await conn.fetch(
        """WITH wanted AS (
               SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[])
                   AS u(id, host, job, address, labels)
           ), created AS (
               INSERT INTO servers (id, name, hostname, job, address, labels)
               SELECT w.id, w.host, w.host, w.job, w.address, w.labels::jsonb FROM wanted w
               WHERE NOT EXISTS (SELECT 1 FROM servers o
                                 WHERE o.job = w.job AND o.address = w.address AND o.id <> w.id)
               ON CONFLICT DO NOTHING
               RETURNING id
           )
           SELECT id FROM created
           UNION
           SELECT s.id FROM servers s JOIN wanted w ON s.id = w.id""",
        [t.server_id for t in targets],
        [split_host_port(t.instance)[0] for t in targets],
        [t.job for t in targets],
        [t.instance for t in targets],
        [json.dumps(dict(t.labels)) for t in targets],
    )
    linked = {row["id"] for row in rows}
    missing = [t.server_id for t in targets if t.server_id not in linked]
    if missing:
        # A row another transaction made while this statement ran: the insert waited for it and skipped,
        # but the statement's snapshot predates it. A new statement sees it.
        again = await conn.fetch("SELECT id FROM servers WHERE id = ANY($1::uuid[])", missing)
        linked.update(row["id"] for row in again)
    return linked
