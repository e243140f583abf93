"""No code path of the project builds a shell command line: nothing a user sends may reach a shell."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SKIPPED_DIRS = {".venv", "node_modules", ".git", "build", "dist"}
FORBIDDEN = re.compile(
    "|".join(
        [
            r"shell\s*=\s*True",
            r"os\.system\s*\(",
            r"create_subprocess_shell",
            r"os\.popen\s*\(",
            r"\bos\.exec[lv]p?e?\s*\(\s*['\"]/bin/(ba)?sh",
        ]
    )
)


def _python_files() -> list[Path]:
    return [
        path
        for path in ROOT.rglob("*.py")
        if not SKIPPED_DIRS.intersection(path.relative_to(ROOT).parts)
        and not any(part.endswith(".egg-info") for part in path.relative_to(ROOT).parts)
        # This file holds the forbidden spellings as samples of what the pattern must catch.
        and path != Path(__file__).resolve()
    ]


def test_no_python_file_runs_a_shell() -> None:
    files = _python_files()
    assert len(files) > 50, "the search must see the project's code"
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in files
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if FORBIDDEN.search(line)
    ]
    assert found == []


def test_the_pattern_catches_each_spelling() -> None:
    samples = [
        "subprocess.run(cmd, shell=True)",
        "subprocess.Popen(cmd, shell = True)",
        "os.system('ls')",
        "await asyncio.create_subprocess_shell(cmd)",
        "os.popen('ls')",
    ]
    assert all(FORBIDDEN.search(sample) for sample in samples)
    assert not FORBIDDEN.search("asyncio.create_subprocess_exec(*argv)")
