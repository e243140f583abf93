"""The ``metric_metadata`` table: a server's entries replaced by its latest page (only changed rows written),
distinct entries per family across servers, grants, the metric filter and limit, targets' labels."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from collector.result import server_id_for
from collector.storage.metric_metadata import (
    Entry,
    ServerMetadata,
    read_metadata,
    read_target_metadata,
    replace_metadata,
)
from collector.storage.server_rows import TargetRow


@pytest.fixture
def job() -> str:
    return f"job{uuid.uuid4().hex[:10]}"


def target(job: str, host: str) -> TargetRow:
    instance = f"{host}:9100"
    return TargetRow(server_id_for(job, instance), job, instance, (("instance", instance), ("job", job)))


def update(row: TargetRow, **families: Entry) -> ServerMetadata:
    return ServerMetadata(row, families)


GAUGE = ("gauge", "Load average over 1 minute.", "")
COUNTER = ("counter", "Requests served.", "")


async def test_distinct_entries_per_family_across_the_servers_sorted(pool: asyncpg.Pool, job: str) -> None:
    a, b = target(job, "a"), target(job, "b")
    other_help = ("counter", "Requests, as b counts them.", "")
    written = await replace_metadata(
        pool,
        [
            update(a, node_load1=GAUGE, http_requests_total=COUNTER),
            update(b, node_load1=GAUGE, http_requests_total=other_help),
        ],
    )
    assert written == {a.server_id, b.server_id}
    found = await read_metadata(pool, servers={a.server_id, b.server_id}, metric=None, limit=None)
    # By code point: "Requests served." before "Requests, as …" (a space sorts before a comma).
    assert found == {"http_requests_total": [COUNTER, other_help], "node_load1": [GAUGE]}
    assert list(found) == ["http_requests_total", "node_load1"]


async def test_grants_the_metric_filter_and_limit_narrow_the_answer(pool: asyncpg.Pool, job: str) -> None:
    a, b = target(job, "a"), target(job, "b")
    await replace_metadata(
        pool, [update(a, a_only=GAUGE, shared=GAUGE), update(b, b_only=COUNTER, shared=COUNTER)]
    )
    only_a = await read_metadata(pool, servers={a.server_id}, metric=None, limit=None)
    assert only_a == {"a_only": [GAUGE], "shared": [GAUGE]}
    assert await read_metadata(pool, servers=set(), metric=None, limit=None) == {}
    both = {a.server_id, b.server_id}
    assert await read_metadata(pool, servers=both, metric="shared", limit=None) == {
        "shared": [COUNTER, GAUGE]
    }
    assert await read_metadata(pool, servers=both, metric="absent", limit=None) == {}
    assert await read_metadata(pool, servers=both, metric=None, limit=2) == {
        "a_only": [GAUGE],
        "b_only": [COUNTER],
    }
    assert await read_metadata(pool, servers=both, metric=None, limit=0) == {}


async def test_a_new_page_replaces_the_entries_and_unchanged_rows_are_not_written(
    pool: asyncpg.Pool, job: str
) -> None:
    a = target(job, "a")
    await replace_metadata(pool, [update(a, kept=GAUGE, changed=GAUGE, gone=GAUGE)])

    async def versions() -> dict[str, str]:
        rows = await pool.fetch(
            "SELECT metric, xmin::text AS version FROM metric_metadata WHERE server_id = $1", a.server_id
        )
        return {row["metric"]: row["version"] for row in rows}

    before = await versions()
    await replace_metadata(pool, [update(a, kept=GAUGE, changed=COUNTER, added=COUNTER)])
    after = await versions()
    assert set(after) == {"kept", "changed", "added"}
    assert after["kept"] == before["kept"]
    assert after["changed"] != before["changed"]
    found = await read_metadata(pool, servers={a.server_id}, metric=None, limit=None)
    assert found == {"added": [COUNTER], "changed": [COUNTER], "kept": [GAUGE]}
    await replace_metadata(pool, [update(a)])
    assert await read_metadata(pool, servers={a.server_id}, metric=None, limit=None) == {}


async def test_entries_name_their_targets_labels_and_go_with_their_server(
    pool: asyncpg.Pool, job: str
) -> None:
    a, b = target(job, "a"), target(job, "b")
    await replace_metadata(pool, [update(a, up_a=GAUGE), update(b, up_b=COUNTER)])
    entries = await read_target_metadata(pool, servers={a.server_id, b.server_id}, metric=None)
    assert {(e.target["instance"], e.metric, e.type) for e in entries} == {
        ("a:9100", "up_a", "gauge"),
        ("b:9100", "up_b", "counter"),
    }
    assert all(e.target["job"] == job for e in entries)
    only = await read_target_metadata(pool, servers=None, metric="up_b")
    assert [(e.server_id, e.help) for e in only if e.target["job"] == job] == [(b.server_id, COUNTER[1])]
    filtered = await read_target_metadata(
        pool,
        servers={a.server_id, b.server_id},
        metric=None,
        target_filter=lambda t: t["instance"] == "b:9100",
    )
    assert [(e.server_id, e.metric) for e in filtered] == [(b.server_id, "up_b")]
    await pool.execute("DELETE FROM servers WHERE id = $1", b.server_id)
    left = await read_target_metadata(pool, servers={a.server_id, b.server_id}, metric=None)
    assert [e.metric for e in left] == ["up_a"]


async def test_a_target_whose_address_another_server_holds_is_left_out(pool: asyncpg.Pool, job: str) -> None:
    a = target(job, "a")
    await pool.execute(
        "INSERT INTO servers (name, hostname, job, address) VALUES ('a', 'a', $1, $2)", a.job, a.instance
    )
    assert await replace_metadata(pool, [update(a, node_load1=GAUGE)]) == set()
    assert await read_metadata(pool, servers={a.server_id}, metric=None, limit=None) == {}


async def test_a_metric_name_with_a_nul_finds_nothing(pool: asyncpg.Pool, job: str) -> None:
    a = target(job, "a")
    await replace_metadata(pool, [update(a, shared=GAUGE)])
    assert await read_metadata(pool, servers={a.server_id}, metric="shared\x00", limit=None) == {}
    assert await read_target_metadata(pool, servers={a.server_id}, metric="\x00shared") == []
