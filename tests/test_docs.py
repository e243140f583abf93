"""The README documents every setting, environment variable and command that exists."""

from __future__ import annotations

import re
import shutil
import subprocess
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


UNITS = sorted((ROOT / "deploy").glob("openmanager*.service"))
ACTIONS_DROP_IN = ROOT / "deploy" / "actions" / "openmanager-exporter-actions.conf"
INSTALLED_PROGRAM = re.compile(r"^(ExecStart=)/\S+/openmanager(-exporter)?(?=\s|$)", re.MULTILINE)


def _verifiable(text: str) -> str:
    """A unit's text with its installed program (absent here) replaced by one that exists, so that
    systemd-analyze checks everything else."""
    return INSTALLED_PROGRAM.sub(r"\1/bin/true", text)


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
@pytest.mark.parametrize(
    "unit", [*UNITS, ACTIONS_DROP_IN], ids=lambda p: p.name if p != ACTIONS_DROP_IN else "exporter+actions"
)
def test_systemd_accepts_every_unit_and_the_actions_drop_in(unit: Path, tmp_path: Path) -> None:
    """``systemd-analyze verify`` warns (exit status 0) of unknown keys and bad values: none may show."""
    if unit == ACTIONS_DROP_IN:
        # A drop-in applies over its unit: the same keys read after the unit's, as one file gives them.
        base = (ROOT / "deploy" / "openmanager-exporter.service").read_text(encoding="utf-8")
        text, name = base + "\n" + unit.read_text(encoding="utf-8"), "openmanager-exporter.service"
    else:
        text, name = unit.read_text(encoding="utf-8"), unit.name
    assert "/bin/true" in _verifiable(text)
    (tmp_path / name).write_text(_verifiable(text), encoding="utf-8")
    done = subprocess.run(
        ["systemd-analyze", "verify", f"./{name}"],
        check=False,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    said = (done.stdout + done.stderr).strip()
    assert done.returncode == 0 and not said, said
