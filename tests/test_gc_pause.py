"""The cyclic garbage collector is paused only while the engine's bulk work runs, and always left
as it was found: enabled for an application that had it on, disabled for one that turned it off."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from omega_memory_plugin import Memory
from omega_memory_plugin.gc_pause import collection_paused


@pytest.fixture
def gc_restored() -> Iterator[None]:
    was = gc.isenabled()
    yield
    gc.enable() if was else gc.disable()


def test_paused_inside_and_restored_after_nested_and_threaded_holders(gc_restored: None) -> None:
    gc.enable()
    inside, release = threading.Barrier(3), threading.Event()

    def hold() -> None:
        with collection_paused():
            inside.wait()
            release.wait(10)

    threads = [threading.Thread(target=hold) for _ in range(2)]
    for thread in threads:
        thread.start()
    inside.wait()
    assert not gc.isenabled()
    with collection_paused():  # a third, nested holder leaving first changes nothing
        pass
    assert not gc.isenabled()
    release.set()
    for thread in threads:
        thread.join()
    assert gc.isenabled()


@pytest.mark.parametrize("enabled", [True, False])
def test_writes_and_rebuilds_leave_the_collector_as_they_found_it(
    tmp_path: Path, gc_restored: None, enabled: bool
) -> None:
    gc.enable() if enabled else gc.disable()
    with Memory(tmp_path / "mem", embedder="hash:16") as memory:
        with memory.transaction() as tx:
            for i in range(50):
                tx.upsert(f"note {i}", id=str(i))
        memory.upsert("one more", id="x")
        memory.rebuild(progress=False)
        assert memory.count() == 51
    assert gc.isenabled() is enabled
