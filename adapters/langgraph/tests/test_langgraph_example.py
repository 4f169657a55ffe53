"""examples/langgraph_agent.py stays runnable offline, recalls in one thread what another was told,
and answers the same after a rebuild."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).parents[3] / "examples" / "langgraph_agent.py"


def test_example_recalls_across_threads_before_and_after_a_rebuild(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runpy.run_path(str(EXAMPLE), run_name="example")["main"](tmp_path)
    out = capsys.readouterr().out
    for fact in ("my favourite tea is a smoky lapsang souchong", "my sister Grace lives in Lisbon"):
        assert out.count(f"ai> From memory: {fact}") == 2  # in thread 'friday', and again after the rebuild
    assert out.count("ai> From memory: I am allergic to peanuts") == 2
    assert "Thread 'monday' holds 6 messages" in out
    assert "Same answers after the rebuild: True" in out
    assert "Thread 'monday' still holds 6 messages." in out
