"""A value that is re-read at most once per time-to-live, for readings too costly to take every scrape."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class TTLCache(Generic[T]):
    """Calls `load` when the cached value is older than `ttl_s` seconds; ttl_s == 0 disables caching."""

    def __init__(
        self, load: Callable[[], T], ttl_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._load = load
        self._ttl_s = ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._value: T | None = None
        self._loaded_at = 0.0

    def get(self) -> T:
        """The cached value, reloaded first when it has expired."""
        with self._lock:
            now = self._clock()
            if self._value is None or now - self._loaded_at >= self._ttl_s:
                self._value = self._load()
                self._loaded_at = now
            return self._value
