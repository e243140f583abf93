"""The task that writes what a wave observer queued, for as long as anything is queued.

A wave observer of the storage pipeline (the scrape event log, the metadata recorder) must be synchronous
and cheap, so it only queues; a :class:`QueuedWriter` subclass says what is queued (``_has_pending``) and
how to write some of it (``_write_some``), and this task writes while anything waits, retrying transient
PostgreSQL errors with a capped backoff so that nothing is lost while PostgreSQL is away. ``close`` stops
the task and writes what is left within a bound.
"""

from __future__ import annotations

import asyncio
import contextlib
from abc import ABC, abstractmethod
from collections.abc import Callable

import asyncpg

from collector.backoff import Backoff, retry

TRANSIENT = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)
"""What a write may meet while PostgreSQL is away or restarting: retried, never raised by the task."""


class QueuedWriter(ABC):
    """Writes queued work in a task of its own; see the module docstring."""

    def __init__(
        self, task_name: str, backoff: Backoff, on_retry: Callable[[int, Exception, float], object]
    ) -> None:
        self._task_name = task_name
        self._backoff = backoff
        self._on_retry = on_retry
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @abstractmethod
    def _has_pending(self) -> bool:
        """Whether anything waits to be written."""

    @abstractmethod
    async def _write_some(self) -> None:
        """Write some of what waits, and forget it once written."""

    def _wake(self) -> None:
        """Tell the task that something was queued."""
        self._ready.set()

    def start(self) -> None:
        """Start the writing task."""
        self._task = asyncio.create_task(self._run(), name=self._task_name)

    async def flush(self) -> None:
        """Write everything queued now (raises what PostgreSQL raises)."""
        while self._has_pending():
            await self._write_some()

    async def close(self, timeout_s: float = 5.0) -> None:
        """Stop the task and write what is queued, within ``timeout_s`` (nothing when it never started)."""
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        with contextlib.suppress(TimeoutError, *TRANSIENT):
            async with asyncio.timeout(timeout_s):
                await self.flush()

    async def _run(self) -> None:
        while True:
            if not self._has_pending():
                self._ready.clear()
                await self._ready.wait()
            await retry(self._write_some, self._backoff, transient=TRANSIENT, on_retry=self._on_retry)
