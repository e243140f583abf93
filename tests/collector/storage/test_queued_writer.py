"""The queued writer's task: writes while anything waits, retries transient errors, drains on close."""

from __future__ import annotations

from collector.backoff import Backoff
from collector.storage.queued_writer import QueuedWriter
from tests.polling import eventually


class Recorder(QueuedWriter):
    """Writes queued numbers into ``written``; the first ``failures`` writes fail as PostgreSQL away would."""

    def __init__(self, failures: int = 0) -> None:
        self.retries: list[str] = []
        super().__init__("test-writer", Backoff(0.01, 0.02), self._retrying)
        self.pending: list[int] = []
        self.written: list[int] = []
        self.failures = failures

    def _retrying(self, _attempt: int, exc: Exception, _delay_s: float) -> None:
        self.retries.append(str(exc))

    def queue(self, value: int) -> None:
        self.pending.append(value)
        self._wake()

    def _has_pending(self) -> bool:
        return bool(self.pending)

    async def _write_some(self) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionRefusedError("PostgreSQL is away")
        self.written.append(self.pending.pop(0))


async def test_the_task_writes_what_is_queued_and_retries_while_the_store_is_away() -> None:
    writer = Recorder(failures=2)
    writer.start()
    try:
        writer.queue(1)
        writer.queue(2)
        await eventually(lambda: writer.written == [1, 2], timeout_s=5)
        assert writer.retries == ["PostgreSQL is away", "PostgreSQL is away"]
        writer.queue(3)
        await eventually(lambda: writer.written == [1, 2, 3], timeout_s=5)
    finally:
        await writer.close(timeout_s=1)


async def test_close_drains_what_is_left_and_a_writer_never_started_writes_nothing() -> None:
    writer = Recorder()
    writer.queue(1)
    await writer.close(timeout_s=1)
    assert writer.written == []
    writer.start()
    writer.queue(2)
    # Whether the task wrote some before it was stopped or not, close writes the rest.
    await writer.close(timeout_s=1)
    assert writer.written == [1, 2]
