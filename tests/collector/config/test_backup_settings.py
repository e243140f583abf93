"""The ``backup`` settings: schedules as intervals or crontab lines, the default directory, paths relative
to the settings file, errors naming the file, key and value."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.config.backup_settings import BackupSettings, Crontab, Interval, parse_schedule
from collector.config.configfile import ConfigError
from collector.config.settings import load_settings


@pytest.mark.parametrize(
    ("text", "schedule"),
    [
        ("24h", Interval(86400.0)),
        ("6h30m", Interval(23400.0)),
        ("1m", Interval(60.0)),
        ("30 2 * * *", Crontab("30 2 * * *")),
        (" 0 */6 * * mon-fri ", Crontab("0 */6 * * mon-fri")),
    ],
)
def test_a_schedule_is_an_interval_or_a_crontab_line(text: str, schedule: Interval | Crontab) -> None:
    assert parse_schedule(text) == schedule


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("daily", "expected an interval such as 24h"),
        ("30s", "at least 60s"),
        ("0", "at least 60s"),
        ("61 2 * * *", "not a valid crontab line"),
        ("* * * *", "expected an interval"),
    ],
)
def test_a_bad_schedule_says_which_forms_exist(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_schedule(text)


def test_unset_means_no_schedule_and_backups_under_the_data_directory() -> None:
    settings = load_settings(None, env={})
    assert settings.backup.parsed_schedule is None
    assert settings.backup.backup_dir(Path("/var/lib/om")) == Path("/var/lib/om/backups")
    assert settings.backup.keep == BackupSettings().keep


def test_the_file_and_the_environment_set_the_section(tmp_path: Path) -> None:
    file = tmp_path / "om.yml"
    file.write_text("backup:\n  schedule: '15 3 * * *'\n  dir: saved\n  keep: 3\n  pg_bin_dir: pg/bin\n")
    backup = load_settings(file, env={}).backup
    assert backup.parsed_schedule == Crontab("15 3 * * *")
    assert (backup.backup_dir(Path("/x")), backup.keep) == (tmp_path / "saved", 3)
    assert backup.pg_bin_dir == tmp_path / "pg" / "bin"
    env = {"OM_BACKUP_SCHEDULE": "12h", "OM_BACKUP_DIR": "/srv/backups", "OM_BACKUP_KEEP": "10"}
    backup = load_settings(file, env=env).backup
    assert (backup.parsed_schedule, backup.dir, backup.keep) == (Interval(43200.0), Path("/srv/backups"), 10)


@pytest.mark.parametrize(
    ("text", "key", "value"),
    [
        ("backup:\n  schedule: sometimes\n", "backup.schedule", "sometimes"),
        ("backup:\n  keep: 0\n", "backup.keep", "0"),
        ("backup:\n  every: 1h\n", "backup.every", "1h"),
    ],
)
def test_invalid_backup_settings_name_the_file_key_and_value(
    tmp_path: Path, text: str, key: str, value: str
) -> None:
    file = tmp_path / "om.yml"
    file.write_text(text)
    with pytest.raises(ConfigError) as error:
        load_settings(file, env={})
    message = str(error.value)
    assert str(file) in message and key in message and value in message, message


def test_a_bad_schedule_from_the_environment_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="OM_BACKUP_SCHEDULE"):
        load_settings(None, env={"OM_BACKUP_SCHEDULE": "5 minutes"})
