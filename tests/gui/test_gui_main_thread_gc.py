"""MainThreadGC: automatic collection off, cycles collected by a UI-thread timer."""

import gc
import threading
import weakref

from samlabel.gui.main_thread_gc import MainThreadGC


class _Node:
    pass


def _cycle():
    a, b = _Node(), _Node()
    a.other, b.other = b, a
    return weakref.ref(a)


def test_collects_cycles_on_the_ui_thread_only(qtbot):
    was = gc.isenabled()
    collector = MainThreadGC(interval_ms=10).install()
    try:
        assert collector.installed and not gc.isenabled()
        # a worker allocating heavily no longer triggers collections
        ref = _cycle()
        t = threading.Thread(target=lambda: [[object() for _ in range(1000)] for _ in range(200)])
        t.start()
        t.join()
        assert ref() is not None
        # the timer on the UI thread does (the young generation at the next tick)
        qtbot.waitUntil(lambda: ref() is None, timeout=5000)
        assert collector.collections[0] >= 1
        collector.install()  # idempotent
    finally:
        collector.uninstall()
    assert not collector.installed
    assert gc.isenabled() == was


def test_uninstall_restores_a_disabled_collector(qtbot):
    gc.disable()  # as the test hooks leave it during Qt tests
    collector = MainThreadGC(interval_ms=10).install()
    collector.uninstall()
    assert not gc.isenabled()
