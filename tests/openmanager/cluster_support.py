"""A simulated fleet for the cluster tests: many small targets on loopback addresses, served from a thread
of the test process, recording when each target was scraped."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections import defaultdict

from aiohttp import web

from tests.bench.fleet import address


class RecordingFleet:
    """``targets`` exporters on 127.0.X.Y:``port``, each a page of ``series`` gauges; every request's time
    is kept per target address."""

    def __init__(self, targets: int, port: int, series: int = 10) -> None:
        self.targets = targets
        self.port = port
        self.requests: dict[str, list[float]] = defaultdict(list)
        self._lock = threading.Lock()
        self._page = "".join(f'sim_gauge{{n="{i}"}} {i}.5\n' for i in range(series)).encode()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="fleet", daemon=True)

    def addresses(self) -> list[str]:
        """Every target as host:port."""
        return [f"{address(i)}:{self.port}" for i in range(self.targets)]

    def __enter__(self) -> RecordingFleet:
        self._thread.start()
        if not self._ready.wait(30):
            raise AssertionError("the simulated fleet did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        stop = self._stop
        if stop is not None:
            self._loop.call_soon_threadsafe(stop.set)
        self._thread.join(10)

    def _run(self) -> None:
        self._loop.run_until_complete(self._serve())

    async def _serve(self) -> None:
        async def metrics(request: web.Request) -> web.Response:
            host = request.transport.get_extra_info("sockname")[0] if request.transport else "?"
            with self._lock:
                self.requests[host].append(time.time())
            return web.Response(body=self._page, content_type="text/plain")

        app = web.Application()
        app.router.add_get("/metrics", metrics)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        for index in range(self.targets):
            await web.TCPSite(runner, address(index), self.port, backlog=64).start()
        self._stop = asyncio.Event()
        self._ready.set()
        await self._stop.wait()
        await runner.cleanup()

    def scrapes_between(self, start: float, end: float) -> dict[str, int]:
        """How many times each target was scraped in [start, end)."""
        with self._lock:
            return {
                address(i): sum(start <= t < end for t in self.requests.get(address(i), []))
                for i in range(self.targets)
            }

    def longest_gap(self, start: float, end: float) -> float:
        """The longest time any target went unscraped within [start, end]."""
        longest = 0.0
        with self._lock:
            for i in range(self.targets):
                times = [start, *(t for t in self.requests.get(address(i), []) if start <= t <= end), end]
                longest = max(longest, *(b - a for a, b in itertools.pairwise(times)))
        return longest
