"""The metadata recorder: a server's metadata written once per change, steady scrapes never reaching the
database, types in the API's words, failures and pushes ignored, the writing task."""

from __future__ import annotations

import secrets
import uuid

import asyncpg
import pytest

from collector.result import FamilyMetadata, ScrapeResult, TargetInfo, server_id_for
from collector.scrape.samples import MetricMeta
from collector.storage.metadata_recorder import MetadataRecorder, families_of
from collector.storage.metric_metadata import read_metadata
from tests.polling import eventually


@pytest.fixture
def target() -> TargetInfo:
    job = f"job{uuid.uuid4().hex[:10]}"
    labels = (("instance", "a:9100"), ("job", job))
    return TargetInfo(
        job, server_id_for(job, "a:9100"), job, "a:9100", labels, "http://a:9100/metrics", 15, 10
    )


def result(target: TargetInfo, metadata: FamilyMetadata | None, error: str | None = None) -> ScrapeResult:
    return ScrapeResult(
        target, 0, 0.01, error, None if error is None else "timeout", (), "set", [], metadata=metadata
    )


def page(**helps: str) -> dict[str, MetricMeta]:
    return {name: MetricMeta(name, "gauge", text, "") for name, text in helps.items()}


async def stored(pool: asyncpg.Pool, target: TargetInfo) -> dict[str, list[tuple[str, str, str]]]:
    return await read_metadata(pool, servers={target.server_id}, metric=None, limit=None)


def test_types_are_kept_in_the_words_of_prometheus_api() -> None:
    metadata = {
        "a": MetricMeta("a", "untyped", "", ""),
        "b": MetricMeta("b", "unknown", "B.", ""),
        "c_seconds": MetricMeta("c_seconds", "counter", "C.", "seconds"),
    }
    assert families_of(metadata) == {
        "a": ("unknown", "", ""),
        "b": ("unknown", "B.", ""),
        "c_seconds": ("counter", "C.", "seconds"),
    }


async def test_a_steady_page_is_written_once_and_never_looked_up_again(
    pool: asyncpg.Pool, target: TargetInfo
) -> None:
    recorder = MetadataRecorder(pool)
    metadata = page(load="Load.")
    recorder.observe([result(target, metadata)], {})
    assert recorder.pending == 1
    await recorder.flush()
    assert await stored(pool, target) == {"load": [("gauge", "Load.", "")]}
    # Rows removed behind the recorder's back stay removed: the same page costs no database work.
    await pool.execute("DELETE FROM metric_metadata WHERE server_id = $1", target.server_id)
    for _ in range(3):
        recorder.observe([result(target, metadata)], {})
    # An equal page in a new object (a full parse) is compared, not written.
    recorder.observe([result(target, page(load="Load."))], {})
    assert recorder.pending == 0
    await recorder.flush()
    assert await stored(pool, target) == {}
    assert recorder.writes_total == 1


async def test_a_changed_page_is_written_and_failures_and_pushes_change_nothing(
    pool: asyncpg.Pool, target: TargetInfo
) -> None:
    recorder = MetadataRecorder(pool)
    recorder.observe([result(target, page(load="Load.", temp="Temperature."))], {})
    await recorder.flush()
    recorder.observe([result(target, None, error="timed out"), result(target, None)], {})
    assert recorder.pending == 0
    recorder.observe([result(target, page(load="Load, 1 minute."))], {})
    await recorder.flush()
    assert await stored(pool, target) == {"load": [("gauge", "Load, 1 minute.", "")]}
    assert recorder.writes_total == 2


async def test_only_the_latest_page_of_a_server_waits_and_the_task_writes_it(
    pool: asyncpg.Pool, target: TargetInfo
) -> None:
    recorder = MetadataRecorder(pool)
    recorder.observe([result(target, page(first="First."))], {})
    recorder.observe([result(target, page(second="Second."))], {})
    assert recorder.pending == 1
    recorder.start()
    try:

        async def written() -> bool:
            return await stored(pool, target) == {"second": [("gauge", "Second.", "")]}

        await eventually(written, timeout_s=5, interval_s=0.05)
        assert recorder.pending == 0
    finally:
        await recorder.close(timeout_s=1)


async def test_a_page_postgresql_refuses_is_dropped_and_the_others_are_written(
    pool: asyncpg.Pool, target: TargetInfo
) -> None:
    other = TargetInfo(
        target.identity + "-b",
        server_id_for(target.job, "b:9100"),
        target.job,
        "b:9100",
        (("instance", "b:9100"), ("job", target.job)),
        "http://b:9100/metrics",
        15,
        10,
    )
    # Longer than a PostgreSQL index entry may be, even compressed.
    too_long = "m" + secrets.token_hex(6000)
    recorder = MetadataRecorder(pool)
    recorder.observe(
        [result(target, page(**{too_long: "Long."})), result(other, page(load="Nul\x00 in help."))], {}
    )
    await recorder.flush()
    assert await stored(pool, target) == {}
    assert await stored(pool, other) == {"load": [("gauge", "Nul in help.", "")]}
    assert recorder.pending == 0
