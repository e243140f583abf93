"""TTL cache: reloads only after the time-to-live."""

from __future__ import annotations

from exporter.collectors.cache import TTLCache


def test_value_is_reloaded_only_after_the_ttl() -> None:
    now = [100.0]
    loads: list[float] = []

    def load() -> float:
        loads.append(now[0])
        return now[0]

    cache = TTLCache(load, 5.0, clock=lambda: now[0])
    assert cache.get() == 100.0
    now[0] = 104.9
    assert cache.get() == 100.0
    now[0] = 105.0
    assert cache.get() == 105.0
    assert loads == [100.0, 105.0]


def test_zero_ttl_loads_every_time() -> None:
    count = [0]

    def load() -> int:
        count[0] += 1
        return count[0]

    cache = TTLCache(load, 0.0, clock=lambda: 1.0)
    assert [cache.get(), cache.get(), cache.get()] == [1, 2, 3]
