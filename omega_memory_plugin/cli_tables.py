"""The tables the command line prints, drawn by rich.

On a terminal: a header, a rule under it, and long texts folded to the window's width. Into a pipe
or a file: rows only, one line each, never wrapped and without colour, so that ``grep``, ``cut``
and ``head`` work on the output as on any Unix tool's (``--json`` is there for programs).
Cells are plain text: a memory's ``[bold]`` or ``:smile:`` is printed as written.

Example::

    print_table(["id", "score"], [("pref-tea", "0.9132"), ("allergy", "0.4410")])
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence

from rich import box
from rich.console import Console
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

# Wide enough that no row of a pipe's output is ever wrapped.
_UNWRAPPED = 1_000_000


def print_table(columns: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    """Print ``rows`` (cells as text) under ``columns``, indented by two spaces; the columns line up
    whatever the cells' lengths. Nothing is printed for no rows."""
    # Built per call: sys.stdout may have been replaced since (tests, redirections in a notebook).
    console = Console(highlight=False, markup=False, emoji=False)
    terminal = console.is_terminal
    table = Table(box=box.SIMPLE_HEAD if terminal else None, show_header=terminal, show_edge=False, pad_edge=False)
    for name in columns:
        table.add_column(name, no_wrap=not terminal, overflow="fold")
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))
    if not table.row_count:
        return
    indented = Padding(table, (0, 0, 0, 2), expand=False)
    if terminal:
        console.print(indented)
        return
    plain = io.StringIO()
    Console(file=plain, width=_UNWRAPPED, no_color=True, highlight=False, markup=False, emoji=False).print(indented)
    for line in plain.getvalue().splitlines():
        print(line.rstrip())  # cells are padded to their column's width: not at the end of a line
