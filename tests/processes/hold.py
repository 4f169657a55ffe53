"""A plugin that holds a process right after its append, before it projects: the public
``after_append`` hook, blocking while the file named by OMEGA_TEST_HOLD exists. A test uses it to
make a process apply an old event after another process applied a newer one, deterministically."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

from omega_memory_plugin import hookimpl
from omega_memory_plugin.events import Event


@hookimpl
def omega_memory_after_append(events: Sequence[Event]) -> None:
    hold = Path(os.environ["OMEGA_TEST_HOLD"])
    if not hold.exists():
        return
    Path(f"{hold}.held").write_text(",".join(str(e.position) for e in events))
    deadline = time.monotonic() + 60
    while hold.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
