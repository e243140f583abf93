"""Run one action's argv: no shell, its own process group, a deadline, and capped output.

The child starts in a new session, so on timeout the whole process group is killed, including anything
the command forked. stdout and stderr are read concurrently to the end (so a chatty child never blocks on
a full pipe) but only the first ``output_limit_bytes`` of each are kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass

# What a child sees: the exporter's PATH (systemctl, sudo) and a UTF-8 locale; nothing else leaks in.
_DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_READ_CHUNK_BYTES = 65536


@dataclass(frozen=True)
class RunResult:
    """What a run produced; exit_code is None when the command was killed at its deadline."""

    exit_code: int | None
    duration_s: float
    stdout: str
    stderr: str
    truncated: bool
    timed_out: bool


class _Capture:
    """Keeps the first `limit` bytes of a stream and notes whether more came."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.data = bytearray()
        self.truncated = False

    async def drain(self, stream: asyncio.StreamReader) -> None:
        while chunk := await stream.read(_READ_CHUNK_BYTES):
            room = self.limit - len(self.data)
            if len(chunk) > room:
                self.truncated = True
            self.data += chunk[: max(room, 0)]

    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace")


def child_environment() -> dict[str, str]:
    """The environment a command runs with: PATH and a UTF-8 C locale only."""
    return {"PATH": os.environ.get("PATH", _DEFAULT_PATH), "LANG": "C.UTF-8"}


async def run_argv(argv: Sequence[str], timeout_s: float, output_limit_bytes: int) -> RunResult:
    """Run `argv` directly (never through a shell) and wait at most `timeout_s` for it and its output."""
    started = time.monotonic()
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=child_environment(),
            start_new_session=True,
        )
    except OSError as exc:
        # A missing or non-executable program is the command failing, reported like a shell would (127).
        return RunResult(
            127, time.monotonic() - started, "", f"cannot run {argv[0]}: {exc.strerror}\n", False, False
        )
    assert process.stdout is not None and process.stderr is not None
    out, err = _Capture(output_limit_bytes), _Capture(output_limit_bytes)
    timed_out = False
    try:
        await asyncio.wait_for(
            asyncio.gather(out.drain(process.stdout), err.drain(process.stderr), process.wait()), timeout_s
        )
    except TimeoutError:
        timed_out = True
        await _kill_group(process)
    except asyncio.CancelledError:
        await _kill_group(process)
        raise
    return RunResult(
        exit_code=None if timed_out else process.returncode,
        duration_s=time.monotonic() - started,
        stdout=out.text(),
        stderr=err.text(),
        truncated=out.truncated or err.truncated,
        timed_out=timed_out,
    )


async def _kill_group(process: asyncio.subprocess.Process) -> None:
    """Kill the command's whole process group and reap the command.

    Only called while the group still has a member (the command, or a child holding its pipes), so the
    group id cannot have been reused by an unrelated process.
    """
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    await process.wait()
