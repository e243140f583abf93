"""The spool's byte form of a batch: everything round-trips, set definitions only where asked."""

from __future__ import annotations

import math
import struct

import pytest

from collector.storage.batch_codec import BatchDecodeError, decode_batch, encode_batch
from collector.storage.history import SetDigests, StatsValues, batch_from_results
from tests.collector.storage.history_helpers import T0_MS, result, target


def test_a_batch_round_trips_with_the_sets_it_defines() -> None:
    a, b = target(1), target(2)
    stale_nan = struct.unpack("<d", b"\x02\x00\x00\x00\x00\x00\xf0\x7f")[0]
    batch = batch_from_results(
        [result(a, T0_MS, [1.0, stale_nan]), result(b, T0_MS + 1, [2.5])],
        {a.server_id: StatsValues(cpu=12.5, network_tx=3.0)},
        SetDigests(),
    )
    defined = next(iter(batch.sets))
    decoded = decode_batch(encode_batch(batch, [defined]))
    assert decoded.targets == batch.targets
    assert list(decoded.sets) == [defined]
    assert decoded.sets[defined] == batch.sets[defined]
    assert [(r.server_id, r.ts_ms, r.set_digest, r.up, r.stats) for r in decoded.rows] == [
        (r.server_id, r.ts_ms, r.set_digest, r.up, r.stats) for r in batch.rows
    ]
    assert decoded.rows[1].stats is None
    assert decoded.rows[0].values[0] == 1.0
    assert math.isnan(decoded.rows[0].values[1])
    assert struct.pack("<d", decoded.rows[0].values[1]) == struct.pack("<d", stale_nan)


@pytest.mark.parametrize("data", [b"", b"OMHB1", b"OMHB1not zlib", b"something else"])
def test_anything_else_is_refused(data: bytes) -> None:
    with pytest.raises(BatchDecodeError):
        decode_batch(data)
