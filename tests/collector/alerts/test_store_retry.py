"""The engine's writes to one store on a fake clock: tried when due, failures counted, outages logged once."""

from __future__ import annotations

import asyncio

import pytest
from structlog.testing import capture_logs

from collector.alerts.store_retry import REDIS_ERRORS, StoreRetry
from collector.backoff import Backoff
from tests.collector.alerts.test_engine import T0, FakeClock


class Store:
    """A store whose next writes fail with the queued errors, then succeed; counts the writes."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.writes = 0

    async def write(self) -> None:
        self.writes += 1
        if self.errors:
            raise self.errors.pop(0)


def store_retry(clock: FakeClock, timeout_s: float = 5.0) -> StoreRetry:
    return StoreRetry("redis", REDIS_ERRORS, backoff=Backoff(1.0, 4.0), clock=clock.now, timeout_s=timeout_s)


@pytest.mark.parametrize(
    ("failures", "logged"),
    [
        (0, []),
        (1, ["alert engine cannot write, retrying", "alert engine writes again"]),
        (3, ["alert engine cannot write, retrying", "alert engine writes again"]),
    ],
)
async def test_an_outage_is_logged_once_and_writes_are_spaced_out(failures: int, logged: list[str]) -> None:
    clock = FakeClock()
    retry = store_retry(clock)
    store = Store(*(ConnectionError(f"refused {i}") for i in range(failures)))
    with capture_logs() as logs:
        waits = []
        while True:
            await retry.attempt(store.write)
            if retry.error is None:
                break
            waits.append(retry.wait_s())
            await retry.attempt(store.write)  # not due yet: not tried
            clock.t += retry.wait_s()
    assert store.writes == failures + 1
    assert waits == [1.0, 2.0, 4.0][:failures]
    assert [entry["event"] for entry in logs] == logged
    assert all(entry.get("store") == "redis" for entry in logs)


async def test_the_error_is_kept_until_the_store_answers() -> None:
    clock = FakeClock(T0)
    retry = store_retry(clock)
    await retry.attempt(Store(ConnectionError("refused")).write)
    assert (retry.error, retry.failures, retry.retry_at) == ("refused", 1, T0 + 1.0)
    clock.t += 1.0
    await retry.attempt(Store().write)
    assert (retry.error, retry.failures, retry.retry_at) == (None, 0, 0.0)


async def test_a_write_slower_than_the_timeout_counts_as_a_failure() -> None:
    retry = store_retry(FakeClock(), timeout_s=0.05)

    async def hangs() -> None:
        await asyncio.sleep(5)

    await retry.attempt(hangs)
    assert retry.error == "TimeoutError" and retry.failures == 1


async def test_an_error_that_is_not_the_stores_is_raised() -> None:
    retry = store_retry(FakeClock())
    with pytest.raises(ValueError, match="a bug"):
        await retry.attempt(Store(ValueError("a bug")).write)
    assert retry.failures == 0
