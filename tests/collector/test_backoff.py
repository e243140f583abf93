"""Backoff delays, a writer's retry schedule and the retrying call, on a fake clock and a fake sleep."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator

import pytest

from collector.backoff import Backoff, RetrySchedule, Transient, describe, retry


def low(a: float, _b: float) -> float:
    return a


def high(_a: float, b: float) -> float:
    return b


class FakeClock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


class FakeSleep:
    """Records the waits instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.mark.parametrize(
    ("backoff", "failures", "uniform", "delay_s"),
    [
        (Backoff(0.5, 30.0), 1, low, 0.5),
        (Backoff(0.5, 30.0), 2, low, 1.0),
        (Backoff(0.5, 30.0), 4, low, 4.0),
        (Backoff(0.5, 30.0), 7, low, 30.0),
        (Backoff(0.5, 30.0), 50, low, 30.0),
        (Backoff(0.5, 30.0), 5000, low, 30.0),  # days of failures in a row: no OverflowError
        (Backoff(1.0, 1.0), 3, low, 1.0),
        (Backoff(0.0, 5.0), 9, low, 0.0),
        (Backoff(0.5, 30.0, jitter=0.1), 1, low, 0.45),
        (Backoff(0.5, 30.0, jitter=0.1), 1, high, 0.55),
        (Backoff(0.5, 30.0, jitter=0.1), 3, high, 2.2),
        (Backoff(0.5, 30.0, jitter=0.1), 40, low, 27.0),
        (Backoff(0.5, 30.0, jitter=0.1), 40, high, 33.0),
    ],
)
def test_delay_doubles_from_initial_is_capped_and_scaled_by_jitter(
    backoff: Backoff, failures: int, uniform: Callable[[float, float], float], delay_s: float
) -> None:
    assert backoff.delay_s(failures, uniform) == pytest.approx(delay_s)


def test_jitter_stays_within_its_bounds_with_the_real_random() -> None:
    backoff = Backoff(1.0, 8.0, jitter=0.25)
    delays = [backoff.delay_s(2) for _ in range(200)]
    assert all(1.5 <= d <= 2.5 for d in delays)
    assert len(set(delays)) > 1, "jittered"


@pytest.mark.parametrize(
    "make",
    [
        lambda: Backoff(-1.0, 5.0),
        lambda: Backoff(10.0, 5.0),
        lambda: Backoff(1.0, 5.0, jitter=1.5),
        lambda: Backoff(1.0, 5.0, jitter=-0.1),
        lambda: Backoff(1.0, 5.0).delay_s(0),
    ],
)
def test_nonsense_is_refused(make: Callable[[], object]) -> None:
    with pytest.raises(ValueError, match="backoff"):
        make()


@pytest.mark.parametrize(
    ("error", "text"),
    [(OSError("refused"), "refused"), (TimeoutError(), "TimeoutError"), ("as the caller words it", None)],
)
def test_schedule_keeps_the_error_text(error: BaseException | str, text: str | None) -> None:
    schedule = RetrySchedule(Backoff(1.0, 4.0), clock=FakeClock())
    schedule.failed(error)
    assert schedule.error == (text if text is not None else error)
    assert describe(OSError()) == "OSError"


def test_schedule_spaces_tries_out_and_a_success_resets_it() -> None:
    clock = FakeClock()
    schedule = RetrySchedule(Backoff(1.0, 4.0), clock=clock)
    assert schedule.due() and schedule.wait_s() == 0.0 and schedule.error is None
    timeline = []
    for _ in range(4):
        delay_s = schedule.failed(OSError("down"))
        timeline.append((delay_s, schedule.retry_at, schedule.due(), schedule.wait_s()))
        clock.t += delay_s
        assert schedule.due()
    assert timeline == [
        (1.0, 1001.0, False, 1.0),
        (2.0, 1003.0, False, 2.0),
        (4.0, 1007.0, False, 4.0),
        (4.0, 1011.0, False, 4.0),
    ]
    assert schedule.failures == 4 and schedule.error == "down"
    clock.t += 0.5
    assert schedule.wait_s() == 0.0, "never negative"
    assert schedule.succeeded() == 4
    assert (schedule.failures, schedule.retry_at, schedule.error) == (0, 0.0, None)
    assert schedule.succeeded() == 0, "a success while healthy ends no outage"
    assert schedule.failed(OSError("again")) == 1.0, "the next outage starts from initial_s"


def test_retry_now_makes_the_next_try_due_and_keeps_the_outage() -> None:
    clock = FakeClock()
    schedule = RetrySchedule(Backoff(1.0, 4.0, jitter=0.5), clock=clock, uniform=high)
    assert schedule.failed(OSError("down")) == 1.5
    assert not schedule.due()
    schedule.retry_now()
    assert schedule.due() and schedule.failures == 1 and schedule.error == "down"
    assert schedule.failed(OSError("down")) == 3.0, "the count goes on"


def playing(outcomes: Iterator[str | Exception]) -> Callable[[], Awaitable[str]]:
    """A call that raises or returns the next outcome each time."""

    async def call() -> str:
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    return call


class RefusedError(Exception):
    """A permanent error."""


class FlakyError(Exception):
    def __init__(self, transient: bool) -> None:
        super().__init__("transient" if transient else "permanent")
        self.transient = transient


def by_flag(exc: Exception) -> bool:
    return isinstance(exc, FlakyError) and exc.transient


@pytest.mark.parametrize(
    ("outcomes", "transient", "attempts", "result", "raised", "waits"),
    [
        (["up"], (OSError,), 3, "up", None, []),
        ([OSError(), OSError(), "up"], (OSError,), 5, "up", None, [1.0, 2.0]),
        ([OSError()] * 6 + ["up"], (OSError,), None, "up", None, [1.0, 2.0, 4.0, 4.0, 4.0, 4.0]),
        ([OSError(), OSError(), OSError()], (OSError,), 3, None, OSError, [1.0, 2.0]),
        ([OSError(), RefusedError()], (OSError,), 5, None, RefusedError, [1.0]),
        ([RefusedError()], (OSError,), 5, None, RefusedError, []),
        ([FlakyError(True), FlakyError(True), "up"], by_flag, 4, "up", None, [1.0, 2.0]),
        ([FlakyError(True), FlakyError(False)], by_flag, 4, None, FlakyError, [1.0]),
        ([OSError()], (OSError,), 1, None, OSError, []),
    ],
)
async def test_retry_retries_transient_errors_and_raises_the_others(
    outcomes: list[str | Exception],
    transient: Transient,
    attempts: int | None,
    result: str | None,
    raised: type[Exception] | None,
    waits: list[float],
) -> None:
    calls = iter(outcomes)
    call = playing(calls)
    sleep = FakeSleep()
    told: list[tuple[int, str, float]] = []

    def on_retry(attempt: int, exc: Exception, delay_s: float) -> None:
        told.append((attempt, type(exc).__name__, delay_s))

    run = retry(
        call, Backoff(1.0, 4.0), transient=transient, attempts=attempts, on_retry=on_retry, sleep=sleep
    )
    if raised is None:
        assert await run == result
    else:
        with pytest.raises(raised):
            await run
    assert sleep.waits == waits
    assert [delay for _, _, delay in told] == waits
    assert [attempt for attempt, _, _ in told] == list(range(1, len(waits) + 1))
    assert next(calls, None) is None, "no call after the outcome"


async def test_retry_applies_the_jitter() -> None:
    sleep = FakeSleep()
    call = playing(iter([OSError(), OSError(), "up"]))
    backoff = Backoff(1.0, 4.0, jitter=0.5)
    assert await retry(call, backoff, transient=(OSError,), sleep=sleep, uniform=low) == "up"
    assert sleep.waits == [0.5, 1.0]


async def test_retry_needs_an_attempt() -> None:
    async def call() -> None:
        raise AssertionError("not called")

    with pytest.raises(ValueError, match="attempt"):
        await retry(call, Backoff(1.0, 2.0), transient=(OSError,), attempts=0)


async def test_cancellation_is_never_retried() -> None:
    sleep = FakeSleep()

    async def call() -> None:
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await retry(call, Backoff(1.0, 2.0), transient=lambda _exc: True, sleep=sleep)
    assert sleep.waits == []
