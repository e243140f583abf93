"""Running an argv for real: exit code and output, the output cap, the deadline killing the process group."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from exporter.actions.runner import child_environment, run_argv
from tests.polling import eventually


async def test_a_command_returns_its_exit_code_and_both_streams() -> None:
    code = "import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)"
    result = await run_argv([sys.executable, "-c", code], 10, 1000)
    assert (result.exit_code, result.stdout, result.stderr) == (3, "out\n", "err\n")
    assert not result.truncated and not result.timed_out and result.duration_s > 0


async def test_arguments_reach_the_program_unchanged_without_a_shell(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    argument = f"; touch {marker} $(id) `id` | cat"
    result = await run_argv([sys.executable, "-c", "import sys; print(sys.argv[1])", argument], 10, 1000)
    assert result.stdout == argument + "\n"
    assert not marker.exists()


async def test_output_over_the_cap_is_cut_and_flagged() -> None:
    code = "import sys; sys.stdout.write('x' * 300000); sys.stderr.write('é' * 10)"
    result = await run_argv([sys.executable, "-c", code], 10, 100)
    assert result.stdout == "x" * 100 and result.truncated and result.exit_code == 0
    # 20 bytes of two-byte characters fit the cap whole; a cut character would decode as U+FFFD.
    assert result.stderr == "é" * 10


async def test_a_cut_multibyte_character_is_replaced() -> None:
    result = await run_argv([sys.executable, "-c", "import sys; sys.stdout.write('é' * 3)"], 10, 3)
    assert result.stdout == "é\ufffd" and result.truncated


async def test_the_deadline_kills_the_whole_process_group(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild.pid"
    code = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen(['sleep', '60'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
        "time.sleep(60)\n"
    )
    result = await run_argv([sys.executable, "-c", code], 0.5, 1000)
    assert result.timed_out and result.exit_code is None
    grandchild = int(pid_file.read_text())

    def gone() -> bool:
        try:
            os.kill(grandchild, 0)
        except ProcessLookupError:
            return True
        # A zombie waiting for its (dead) parent's reaper is gone as far as running goes.
        return Path(f"/proc/{grandchild}/stat").read_text().split(") ")[1].startswith("Z")

    await eventually(gone)


async def test_a_missing_program_is_exit_code_127(tmp_path: Path) -> None:
    result = await run_argv([str(tmp_path / "nothing")], 10, 1000)
    assert result.exit_code == 127 and "cannot run" in result.stderr


def test_the_child_sees_only_path_and_locale(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OM_SECRET_TOKEN", "x")
    monkeypatch.setenv("PATH", "/opt/bin:/usr/bin")
    assert child_environment() == {"PATH": "/opt/bin:/usr/bin", "LANG": "C.UTF-8"}
