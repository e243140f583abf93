"""The remote-write intake of ``openmanager api``: pushes received by an API process behind a load balancer.

An ``openmanager run`` process puts pushed samples into its collector's result queue. An API process has no
collector, so it gets a queue and a storage pipeline of its own: the same receiver, live writer and history
writer (with its own spool, ``<data_dir>/spool/remote-write-<port>``, so processes sharing a data directory
on one host keep theirs apart), the scrape event log (a pushed ``up`` 0 is a server going down), and a wave
relay that hands each wave to the alert engine of the cluster's
lease holder, which an API process never is. Pushed samples so take exactly the path they take in
``openmanager run``.

Samples of one server at one timestamp are gathered into one row by the process that receives them, so one
sender's pushes belong on one process: a load balancer routes ``/api/v1/write`` by the client's address
(``deploy/SCALING.md``).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from aiohttp import web
from prometheus_client import CollectorRegistry

from api.keys import RECEIVER, REGISTRIES, SHUTDOWN_BUDGET, STORES
from collector.cluster.waves import WaveRelay
from collector.config.settings import Settings
from collector.ingest.receiver import RemoteWriteReceiver, receiver_options
from collector.ingest.targets import registered_addresses
from collector.queue import ResultQueue
from collector.runtime import ScrapeServiceOptions
from collector.scrape.metrics import ScrapeMetrics
from collector.storage.history_writer import HistoryWriter, WriterConfig
from collector.storage.live import LiveWriter
from collector.storage.pipeline import StoragePipeline
from collector.storage.scrape_events import ScrapeEventLog


def spool_dir(settings: Settings, port: int) -> Path:
    """Where an API process listening on ``port`` spools pushed history while PostgreSQL is away."""
    return settings.data_dir / "spool" / f"remote-write-{port}"


async def open_receiver(
    app: web.Application,
    stack: contextlib.AsyncExitStack,
    settings: Settings,
    queue: ResultQueue,
    registry: CollectorRegistry,
) -> None:
    """Start the remote-write receiver into ``queue`` as ``app``'s, closed by ``stack`` within the shutdown
    bound: for ``openmanager run`` (the collector's queue) and ``openmanager api`` (a queue of its own)."""
    stores, budget = app[STORES], app[SHUTDOWN_BUDGET]
    receiver = RemoteWriteReceiver(
        queue,
        registry,
        receiver_options(settings.remote_write),
        registered=lambda: registered_addresses(stores.pg),
    )
    stack.push_async_callback(lambda: budget.within(receiver.close()))
    await receiver.start()
    app[RECEIVER] = receiver


def ingest_ctx(settings: Settings, port: int) -> Callable[[web.Application], AsyncIterator[None]]:
    """The cleanup context that receives remote write in an API process listening on ``port``."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        stores = app[STORES]
        budget = app[SHUTDOWN_BUDGET]
        registry = CollectorRegistry()
        # Closes run in reverse: stop intake, drain the pipeline into the stores, then the relay and log.
        async with contextlib.AsyncExitStack() as stack:
            queue = ResultQueue(ScrapeServiceOptions().queue_max_results, ScrapeMetrics(registry))
            scrape_events = ScrapeEventLog(stores.pg)
            scrape_events.start()
            stack.push_async_callback(lambda: scrape_events.close(budget.remaining_s()))
            relay = WaveRelay(stores.redis, lambda: False, lambda results, summaries: None)
            await relay.start(listen=False)
            stack.push_async_callback(lambda: budget.within(relay.close()))
            history = HistoryWriter(stores.pg, WriterConfig(spool_dir=spool_dir(settings, port)))
            pipeline = StoragePipeline(
                queue, LiveWriter(stores.redis), history, observers=[relay.observe, scrape_events.observe]
            )
            stack.push_async_callback(lambda: pipeline.close(budget.remaining_s()))
            await pipeline.start()
            pipeline.register(registry)
            await open_receiver(app, stack, settings, queue, registry)
            app[REGISTRIES].append(registry)
            yield

    return ctx
