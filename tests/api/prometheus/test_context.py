"""The engine's limits from the settings; store failures as Prometheus's ``unavailable``."""

from __future__ import annotations

import asyncpg
import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from api.prometheus.context import engine_settings, history_errors, live_errors
from collector.config.api_settings import QuerySettings
from collector.promql.errors import UnavailableError


def test_engine_settings_come_from_the_query_section() -> None:
    limits = engine_settings(
        QuerySettings(max_samples=10, timeout_s=2.5, max_concurrency=3, lookback_delta_s=60)
    )
    assert (
        limits.max_samples,
        limits.timeout_s,
        limits.max_concurrent_queries,
        limits.lookback_delta_ms,
    ) == (
        10,
        2.5,
        3,
        60_000,
    )


def test_a_store_that_is_away_is_unavailable() -> None:
    with pytest.raises(UnavailableError, match="PostgreSQL"), history_errors():
        raise asyncpg.PostgresConnectionError("gone")
    with pytest.raises(UnavailableError, match="Redis"), live_errors():
        raise RedisConnectionError("gone")
    with pytest.raises(ValueError, match="a bug"), history_errors():
        raise ValueError("a bug stays a bug")
