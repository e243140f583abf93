"""Which server pushed samples belong to."""

from __future__ import annotations

import uuid

import asyncpg

from collector.ingest.targets import RegisteredAddress, identity_of, pushed_target, registered_addresses
from collector.result import server_id_for
from collector.storage.migrate import migrate


def test_samples_belong_to_the_server_of_their_job_and_instance() -> None:
    target = pushed_target("node", "h:9100", {})
    assert target.server_id == server_id_for("node", "h:9100")
    assert dict(target.labels) == {"job": "node", "instance": "h:9100"}
    assert target.identity == identity_of("node", "h:9100") != identity_of("node", "h:9101")


def test_a_registered_address_wins_whatever_the_pushed_job() -> None:
    server_id = uuid.uuid4()
    registered = {"h:9100": RegisteredAddress(server_id, "servers", "web", {})}
    assert pushed_target("node", "h:9100", registered).server_id == server_id
    assert pushed_target("node", "other:9100", registered).server_id == server_id_for("node", "other:9100")
    # Without an instance there is no address to match.
    assert pushed_target("rules", "", registered).server_id == server_id_for("rules", "")


async def test_registered_addresses_leave_out_shared_and_discovered_ones(fresh_pg_dsn: str) -> None:
    conn = await asyncpg.connect(fresh_pg_dsn)
    try:
        await migrate(conn)
        for name, job, address, source in (
            ("one", "servers", "a:1", "api"),
            ("two", "servers", "b:1", "api"),
            ("three", "other", "b:1", "api"),
            ("found", "node", "c:1", "discovered"),
        ):
            await conn.execute(
                """INSERT INTO servers (id, name, hostname, job, address, source, labels)
                   VALUES ($1, $2, $2, $3, $4, $5, '{"env": "x"}')""",
                server_id_for(job, address),
                name,
                job,
                address,
                source,
            )
    finally:
        await conn.close()
    pool = await asyncpg.create_pool(fresh_pg_dsn, min_size=1, max_size=1)
    try:
        found = await registered_addresses(pool)
    finally:
        await pool.close()
    assert list(found) == ["a:1"]
    assert found["a:1"] == RegisteredAddress(server_id_for("servers", "a:1"), "servers", "one", {"env": "x"})
