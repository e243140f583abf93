"""Scheduled backups: the triggers, one round on the lease holder only, retention and the metrics."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from apscheduler.triggers.interval import IntervalTrigger

from collector.config.backup_settings import Crontab, Interval
from collector.config.settings import Settings
from collector.storage.connections import open_stores
from openmanager.backup_schedule import BackupMetrics, scheduled_backup, trigger
from tests.conftest import SettingsFactory


def test_an_interval_and_a_crontab_line_become_triggers() -> None:
    every = trigger(Interval(6 * 3600.0))
    assert isinstance(every, IntervalTrigger) and every.interval.total_seconds() == 6 * 3600
    at = trigger(Crontab("30 2 * * *"))
    start = datetime(2026, 1, 1, 3, 0, tzinfo=UTC)
    assert at.get_next_fire_time(None, start) == datetime(2026, 1, 2, 2, 30, tzinfo=UTC)


def value(metrics: BackupMetrics, name: str) -> float:
    sample = metrics.registry.get_sample_value(name)
    assert sample is not None, name
    return sample


async def test_rounds_back_up_on_the_holder_only_and_keep_the_newest(
    make_settings: SettingsFactory, fresh_pg_dsn: str, tmp_path: Path
) -> None:
    settings: Settings = make_settings(
        postgres_dsn=fresh_pg_dsn, backup_dir=str(tmp_path / "backups"), backup_keep="2"
    )
    async with open_stores(settings) as stores:
        dsn = stores.postgres_dsn
    metrics = BackupMetrics()

    await scheduled_backup(settings, dsn, metrics, may_run=lambda: False)
    assert not (tmp_path / "backups").exists()
    assert value(metrics, "openmanager_backup_last_success_timestamp_seconds") == 0

    for _ in range(3):
        await scheduled_backup(settings, dsn, metrics, may_run=lambda: True)
    kept = sorted(p.name for p in (tmp_path / "backups").iterdir())
    assert len(kept) == 2 and all(name.startswith("openmanager-backup-") for name in kept)
    assert value(metrics, "openmanager_backup_last_success_timestamp_seconds") > 0
    assert value(metrics, "openmanager_backup_last_size_bytes") > 0
    assert value(metrics, "openmanager_backup_failures_total") == 0


async def test_a_failed_round_is_counted_not_raised(make_settings: SettingsFactory, tmp_path: Path) -> None:
    settings = make_settings(backup_dir=str(tmp_path / "backups"))
    metrics = BackupMetrics()
    await scheduled_backup(settings, "postgresql://nobody@127.0.0.1:1/none", metrics, may_run=lambda: True)
    assert value(metrics, "openmanager_backup_failures_total") == 1
    assert value(metrics, "openmanager_backup_last_success_timestamp_seconds") == 0
