"""Waiting in tests for what another task or process does, when it offers no event to wait on."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable


async def eventually(
    check: Callable[[], bool | Awaitable[bool]], timeout_s: float = 10.0, interval_s: float = 0.02
) -> None:
    """Poll ``check`` (plain or async) every ``interval_s`` until true; TimeoutError after ``timeout_s``."""
    async with asyncio.timeout(timeout_s):
        while True:
            outcome = check()
            if await outcome if inspect.isawaitable(outcome) else outcome:
                return
            await asyncio.sleep(interval_s)
