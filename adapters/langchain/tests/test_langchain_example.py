"""examples/langchain_agent.py stays runnable offline and recalls what it was told, before and after a rebuild."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).parents[3] / "examples" / "langchain_agent.py"


def test_example_recalls_memories(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runpy.run_path(str(EXAMPLE), run_name="example")["main"](tmp_path)
    out = capsys.readouterr().out
    assert "ai> From memory: my favourite tea is a smoky lapsang souchong" in out
    assert "ai> From memory: I am allergic to peanuts" in out
    assert out.count("ai> From memory: my sister Grace lives in Lisbon") == 2  # before and after the rebuild
    assert "The session holds 12 messages." in out
