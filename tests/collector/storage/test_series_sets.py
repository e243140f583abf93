"""Series and series sets: digests that name them, and registration that is idempotent."""

from __future__ import annotations

from collector.storage.series_sets import SeriesSetDef, register_sets, series_key_hash, series_set_digest
from tests.collector.storage.history_helpers import migrated_pool, series_for, target


def test_a_series_key_hash_tells_labels_and_names_apart() -> None:
    a = ("node_load1", (("instance", "a:9100"),))
    assert series_key_hash(a) == series_key_hash(("node_load1", (("instance", "a:9100"),)))
    assert (
        len(
            {
                series_key_hash(a),
                series_key_hash(("node_load5", (("instance", "a:9100"),))),
                series_key_hash(("node_load1", (("instance", "b:9100"),))),
                series_key_hash(("node_load1", (("instanc", "ea:9100"),))),
            }
        )
        == 4
    )


def test_a_set_digest_depends_on_the_server_and_the_order_of_its_series() -> None:
    t, u = target(1), target(2)
    series = series_for(t, 3)
    assert series_set_digest(t.server_id, series) == series_set_digest(t.server_id, list(series))
    assert series_set_digest(t.server_id, series) != series_set_digest(u.server_id, series)
    assert series_set_digest(t.server_id, series) != series_set_digest(t.server_id, series[::-1])


async def test_registering_twice_gives_the_same_ids_and_no_second_rows(fresh_pg_dsn: str) -> None:
    t, u = target(1), target(2)
    sets = [
        (series_set_digest(x.server_id, series_for(x, 4)), SeriesSetDef(x.server_id, series_for(x, 4)))
        for x in (t, u)
    ]
    async with migrated_pool(fresh_pg_dsn) as pool, pool.acquire() as conn:
        await conn.executemany(
            "INSERT INTO servers (id, name, hostname) VALUES ($1, $2, $2)",
            [(t.server_id, "t"), (u.server_id, "u")],
        )
        first = await register_sets(conn, sets)
        again = await register_sets(conn, sets[:1])
        assert set(first) == {d for d, _ in sets} and again == {sets[0][0]: first[sets[0][0]]}
        assert await conn.fetchval("SELECT count(*) FROM series") == 8
        ids = await conn.fetchval("SELECT series_ids FROM series_sets WHERE id = $1", first[sets[0][0]])
        metrics = [await conn.fetchval("SELECT metric FROM series WHERE id = $1", i) for i in ids]
        assert metrics == [key[0] for key in series_for(t, 4)], "ids in page order"
