"""The README documents every setting, environment variable and command that exists."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel

from collector.config.settings import ENV_KEYS, Settings
from openmanager.cli import COMMANDS

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _setting_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    keys = []
    for name, info in model.model_fields.items():
        if info.exclude:
            continue
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys.extend(_setting_keys(annotation, f"{prefix}{name}."))
        else:
            keys.append(f"{prefix}{name}")
    return keys


@pytest.mark.parametrize("name", sorted(ENV_KEYS))
def test_every_environment_variable_is_in_the_readme(name: str) -> None:
    assert f"`{name}`" in README


@pytest.mark.parametrize("key", _setting_keys(Settings))
def test_every_settings_key_is_in_the_readme(key: str) -> None:
    assert f"`{key}`" in README


def test_every_command_is_in_the_readme() -> None:
    for command in COMMANDS:
        assert f"`openmanager {command}" in README, command


@pytest.mark.parametrize("key", _setting_keys(Settings))
def test_every_settings_key_is_in_the_example_settings_file(key: str) -> None:
    example = (ROOT / "deploy" / "openmanager.example.yml").read_text(encoding="utf-8")
    assert f"{key.rsplit('.', 1)[-1]}:" in example


def test_quick_start_is_two_commands_that_exist() -> None:
    assert "./dev up" in README and "./dev test" in README
    assert (ROOT / "dev").stat().st_mode & 0o111
    assert (ROOT / ".ci" / "run").read_text().strip().endswith("exec ./dev test")


@pytest.mark.parametrize("unit", sorted((ROOT / "deploy").glob("openmanager*.service")), ids=lambda p: p.name)
def test_every_systemd_unit_runs_a_documented_command(unit: Path) -> None:
    starts = [line for line in unit.read_text(encoding="utf-8").splitlines() if line.startswith("ExecStart=")]
    assert len(starts) == 1, starts
    program, *args = starts[0].removeprefix("ExecStart=").split()
    if program.endswith("/openmanager"):
        assert args and args[0] in COMMANDS, starts[0]
    else:
        assert program.endswith("/openmanager-exporter"), starts[0]
    assert f"`deploy/{unit.name}`" in README
