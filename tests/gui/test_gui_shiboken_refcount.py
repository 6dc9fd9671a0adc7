"""The installed PySide6 / shiboken must not leak references to ``None``.

shiboken6 6.12.0 on Python < 3.12 returned ``None`` from every void Qt method without
taking a reference: each call lowered ``None``'s reference count by one and, after some
tens of thousands of calls, Python aborted with "Fatal Python error: none_dealloc".
pyproject pins PySide6 below 6.12; this test catches any release with the same defect.
"""

from __future__ import annotations

import sys

import pytest


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="None is immortal from Python 3.12: its count says nothing")
def test_void_qt_calls_keep_none_refcount(qapp):
    from PySide6.QtCore import QObject

    probe = QObject()
    probe.setObjectName("warm-up")  # first call may cache things
    calls = 2000
    before = sys.getrefcount(None)
    for _ in range(calls):
        probe.setObjectName("probe")  # a void method: returns None
    after = sys.getrefcount(None)
    # A leaking release loses one reference per call (-2000); unrelated interpreter
    # activity moves the count by a handful at most.
    assert after - before > -calls // 10, f"None lost {before - after} references over {calls} void Qt calls"
