"""`make demo` runs examples/quickstart.py: it must leave a memory in ./.omega-memory that the CLI
commands it prints can explore, and say the same thing when run again (issue 11)."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

QUICKSTART = Path(__file__).resolve().parent.parent / "examples" / "quickstart.py"


def run(arguments: list[str], cwd: Path) -> str:
    result = subprocess.run(arguments, cwd=cwd, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "Warning" not in result.stderr, result.stderr
    return result.stdout


def without_positions(text: str) -> str:
    return re.sub(r"@\d+|\bv\d+|position \d+|from \d+ events", "#", text)


def test_the_demo_leaves_a_memory_the_printed_commands_explore(tmp_path: Path) -> None:
    first = run([sys.executable, str(QUICKSTART)], tmp_path)
    assert (tmp_path / ".omega-memory" / "log.db").is_file()
    assert "same results: True" in first
    assert "Before the transaction Ada had 3 memories; now 4." in first
    assert "ok: the index matches the log (5 memories in 2 namespaces" in first

    # Run again: a fresh start in the same memory, the same story (only positions and versions move on).
    second = run([sys.executable, str(QUICKSTART)], tmp_path)
    assert without_positions(second) == without_positions(first)

    commands = [line.split("#")[0].strip() for line in first.splitlines() if line.strip().startswith("omega-memory ")]
    assert len(commands) >= 4
    for command in commands:
        arguments = shlex.split(command)[1:]
        output = run([sys.executable, "-m", "omega_memory_plugin.cli", *arguments], tmp_path)
        assert output.strip(), command
    history = run(
        [sys.executable, "-m", "omega_memory_plugin.cli", "history", "pref-tea", "--namespace", "ada"], tmp_path
    )
    assert "Ada switched to oolong tea" in history
