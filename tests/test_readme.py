"""Every Python block of the READMEs runs as written (issue 11).

The blocks of one file run in order in one namespace, as a reader following along would run them
(a block may use what an earlier one defined), in a fresh working directory, with no ``OMEGA_*``
variable set. Top-level ``await`` is allowed (the README shows async code the way a notebook runs
it). A block preceded by ``<!-- readme-test: servers -->`` needs the production servers: it runs
against the test servers, its ``mongodb://localhost:27017/omega...`` URL (the compose stack's replica
set) and ``http://localhost:6333`` replaced by theirs.
"""

from __future__ import annotations

import ast
import asyncio
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
READMES = [
    ROOT / "README.md",
    ROOT / "adapters" / "langchain" / "README.md",
    ROOT / "adapters" / "langgraph" / "README.md",
    ROOT / "adapters" / "llama_index" / "README.md",
]
BLOCK = re.compile(r"(?:<!-- readme-test: (?P<marker>[a-z ]+) -->\n)?```python\n(?P<code>.*?)^```", re.S | re.M)


@dataclass(frozen=True)
class Block:
    line: int
    code: str
    servers: bool


def blocks_of(readme: Path) -> list[Block]:
    text = readme.read_text()
    return [
        Block(text.count("\n", 0, m.start("code")) + 1, m["code"], (m["marker"] or "").strip() == "servers")
        for m in BLOCK.finditer(text)
    ]


def test_every_readme_has_python_blocks() -> None:
    assert all(blocks_of(readme) for readme in READMES)


@pytest.mark.parametrize("readme", READMES, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_blocks_run_as_written(
    readme: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("OMEGA_"):
            monkeypatch.delenv(name)
    namespace: dict[str, object] = {"__name__": "__readme__"}
    loop = asyncio.new_event_loop()
    try:
        for block in blocks_of(readme):
            code = block.code
            if block.servers:
                mongo = request.getfixturevalue("mongo_url")
                qdrant = request.getfixturevalue("qdrant_url")
                code = re.sub(r"mongodb://localhost:27017/omega[^\"']*", mongo, code).replace(
                    "http://localhost:6333", qdrant
                )
            compiled = compile(code, f"{readme.name}:{block.line}", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
            result = eval(compiled, namespace)  # noqa: S307 - our own documentation, run on purpose
            if asyncio.iscoroutine(result):
                loop.run_until_complete(result)
    finally:
        for value in namespace.values():  # close what the blocks left open, in any order
            close = getattr(value, "close", None)
            if type(value).__name__ == "Memory" and callable(close):
                close()
        loop.close()
