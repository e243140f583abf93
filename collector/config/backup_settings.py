"""The ``backup`` section of the settings: scheduled backups of the database and the keys that read it.

``schedule`` is either an interval written as a Prometheus duration (``24h``, ``6h30m``) or a five-field
crontab line (``30 2 * * *``, in UTC); unset, the service makes no backups by itself (``openmanager backup``
still does). Each backup is a directory under ``dir`` (``<data_dir>/backups`` when unset); after a
scheduled backup only the newest ``keep`` are kept. ``pg_bin_dir`` names the directory of ``pg_dump`` and
``pg_restore`` when the ones found by themselves (the embedded server's, the PostgreSQL client packages')
do not fit the server.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC
from pathlib import Path

from apscheduler.triggers.cron import CronTrigger
from pydantic import Field, field_validator

from collector.config.section import Section
from collector.config.units import parse_duration

BACKUP_DIR_NAME = "backups"
"""The backups' directory under ``data_dir`` when ``backup.dir`` is not set."""
MIN_INTERVAL_S = 60.0
"""A shorter interval would start a backup before the previous one could end on any real database."""
BACKUP_PATH_KEYS = ("dir", "pg_bin_dir")
"""Paths of the section that a settings file may give relative to its own directory."""


@dataclass(frozen=True)
class Interval:
    """A backup every ``seconds``."""

    seconds: float


@dataclass(frozen=True)
class Crontab:
    """A backup at the times of a five-field crontab line, in UTC."""

    line: str


def parse_schedule(text: str) -> Interval | Crontab:
    """An interval (``24h``) or a crontab line (``30 2 * * *``); ``ValueError`` saying which forms exist."""
    text = text.strip()
    if len(text.split()) == 5:
        try:
            CronTrigger.from_crontab(text, timezone=UTC)
        except ValueError as exc:
            raise ValueError(f"not a valid crontab line: {exc}") from None
        return Crontab(text)
    try:
        seconds = parse_duration(text)
    except ValueError:
        raise ValueError(
            "expected an interval such as 24h or 6h30m, or a five-field crontab line such as '30 2 * * *'"
        ) from None
    if seconds < MIN_INTERVAL_S:
        raise ValueError(f"an interval of at least {MIN_INTERVAL_S:g}s is expected")
    return Interval(seconds)


class BackupSettings(Section):
    """When the service backs up, where to, and how many backups it keeps."""

    schedule: str | None = None
    """An interval (``24h``) or a crontab line (``30 2 * * *``, UTC); unset: no scheduled backups."""
    dir: Path | None = None
    """Where backups go; unset: ``<data_dir>/backups``."""
    keep: int = Field(default=7, ge=1, le=10_000)
    """How many scheduled backups are kept, the newest; older ones are deleted after each new one."""
    pg_bin_dir: Path | None = None
    """The directory of ``pg_dump`` and ``pg_restore``; unset: found by the server's version."""

    @field_validator("schedule")
    @classmethod
    def _check_schedule(cls, value: str | None) -> str | None:
        if value is not None:
            parse_schedule(value)
        return value

    @property
    def parsed_schedule(self) -> Interval | Crontab | None:
        """The schedule as an interval or a crontab line; None when backups are not scheduled."""
        return parse_schedule(self.schedule) if self.schedule is not None else None

    def backup_dir(self, data_dir: Path) -> Path:
        """The directory backups go to."""
        return self.dir if self.dir is not None else data_dir / BACKUP_DIR_NAME
