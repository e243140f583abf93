"""The receiver: requests in, scrape results on the queue; busy storage, outcomes, metrics and shutdown."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping

import pytest
from prometheus_client import CollectorRegistry

from collector.config.api_settings import RemoteWriteSettings
from collector.ingest.assembler import AssemblerOptions
from collector.ingest.receiver import IngestBusyError, ReceiverOptions, RemoteWriteReceiver, receiver_options
from collector.ingest.series import SampleRejectedError
from collector.ingest.targets import RegisteredAddress
from collector.ingest.wire import WireError, encode_v1, encode_v2
from collector.queue import ResultQueue
from collector.scrape.metrics import ScrapeMetrics

T = 1_764_000_000_000


def _request(*samples: tuple[str, int, float], instance: str = "h:1") -> bytes:
    return encode_v1(
        [([("__name__", n), ("instance", instance), ("job", "node")], [(t, v)]) for n, t, v in samples]
    )


def _receiver(queue: ResultQueue, registry: CollectorRegistry | None = None) -> RemoteWriteReceiver:
    options = ReceiverOptions(AssemblerOptions(settle_s=0, wait_s=0), tick_s=0.01)
    return RemoteWriteReceiver(queue, registry or CollectorRegistry(), options, clock=lambda: T / 1000)


def test_outcomes_are_counted() -> None:
    registry = CollectorRegistry()
    receiver = _receiver(ResultQueue(100, ScrapeMetrics()), registry)
    outcome = receiver.write(_request(("up", T, 1.0), ("a", T, 2.0)), 1)
    assert outcome.samples_written == 2
    again = receiver.write(
        encode_v1(
            [
                ([("__name__", "up"), ("instance", "h:1"), ("job", "node")], [(T, 1.0)]),
                ([("no_name", "x")], [(T, 1.0)]),
            ]
        ),
        1,
    )
    assert (again.samples_written, again.samples_resent, again.samples_invalid) == (0, 1, 1)
    assert registry.get_sample_value("openmanager_remote_write_samples_total", {"outcome": "written"}) == 2
    assert registry.get_sample_value("openmanager_remote_write_samples_total", {"outcome": "invalid"}) == 1
    assert registry.get_sample_value("openmanager_remote_write_series") == 2


@pytest.mark.parametrize(
    ("payload", "version", "error"),
    [
        (b"\xff\xff", 1, WireError),
        (b"\xff\xff", 2, WireError),
    ],
)
def test_a_body_that_is_no_request_is_a_wire_error(
    payload: bytes, version: int, error: type[Exception]
) -> None:
    with pytest.raises(error):
        _receiver(ResultQueue(10, ScrapeMetrics())).write(payload, version)  # type: ignore[arg-type]


def test_version_1_order_errors_raise_version_2_ones_are_reported() -> None:
    receiver = _receiver(ResultQueue(10, ScrapeMetrics()))
    receiver.write(_request(("a", T, 1.0)), 1)
    with pytest.raises(SampleRejectedError):
        receiver.write(_request(("a", T - 1, 1.0)), 1)
    v2 = encode_v2([([("__name__", "a"), ("instance", "h:1"), ("job", "node")], [(T - 1, 1.0)])])
    assert receiver.write(v2, 2).errors
    invalid = encode_v2([([("job", "no name")], [(T, 1.0)])])
    assert receiver.write(invalid, 2).errors == ["1 samples of series with an invalid metric name or labels"]


def test_a_nearly_full_queue_refuses_pushes() -> None:
    queue = ResultQueue(10, ScrapeMetrics())
    receiver = _receiver(queue)
    for i in range(9):
        receiver.write(_request(("up", T + i, 1.0)), 1)
        receiver.assembler.emit_due()
    assert len(queue) == 9
    with pytest.raises(IngestBusyError):
        receiver.write(_request(("up", T + 100, 1.0)), 1)


async def test_background_task_hands_groups_on_and_close_flushes_the_rest() -> None:
    queue = ResultQueue(100, ScrapeMetrics())
    reads = 0

    async def registered() -> Mapping[str, RegisteredAddress]:
        nonlocal reads
        reads += 1
        if reads > 1:
            raise OSError("postgres is away")
        return {"nat:1": RegisteredAddress(uuid.uuid4(), "servers", "nat", {})}

    options = ReceiverOptions(AssemblerOptions(settle_s=0, wait_s=0), tick_s=0.01, registered_refresh_s=0.01)
    receiver = RemoteWriteReceiver(
        queue, CollectorRegistry(), options, registered=registered, clock=lambda: T / 1000
    )
    await receiver.start()
    try:
        receiver.write(_request(("up", T, 1.0), instance="nat:1"), 1)
        batch = await queue.get_batch(10, wait_s=2)
        assert [r.target.job for r in batch] == ["servers"]
        await asyncio.sleep(0.05)  # refreshes fail now: what was read is kept
        assert reads > 1
        receiver.assembler.options = AssemblerOptions(settle_s=60, wait_s=60)
        receiver.write(_request(("up", T + 1, 1.0), instance="nat:1"), 1)
        await asyncio.sleep(0.05)
        assert len(queue) == 0
    finally:
        await receiver.close()
    [flushed] = await queue.get_batch(10, 0)
    assert (flushed.timestamp_ms, flushed.target.job) == (T + 1, "servers")


def test_options_come_from_the_settings() -> None:
    options = receiver_options(RemoteWriteSettings(settle_s=2, wait_s=20))
    assert (options.assembler.settle_s, options.assembler.wait_s) == (2, 20)


def test_forget_drops_series_silent_for_the_configured_time() -> None:
    queue = ResultQueue(100, ScrapeMetrics())
    now_s = [T / 1000]
    options = ReceiverOptions(AssemblerOptions(settle_s=0, wait_s=0), forget_after_s=60)
    registry = CollectorRegistry()
    receiver = RemoteWriteReceiver(queue, registry, options, clock=lambda: now_s[0])
    receiver.write(_request(("up", T, 1.0), ("gone", T, 1.0)), 1)
    receiver.assembler.emit_due()
    receiver.write(_request(("up", T + 1000, 1.0)), 1)  # "gone" is left out: the set shrinks to "up"
    receiver.assembler.emit_due()
    assert receiver.forget() == 0  # nothing is a minute old yet
    now_s[0] += 120
    assert receiver.forget() == 1  # "gone"; "up" is silent as long but in its server's set
    assert registry.get_sample_value("openmanager_remote_write_series") == 1
