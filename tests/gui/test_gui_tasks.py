"""The background task runner: progress, result, failure and cancellation."""

from __future__ import annotations

import threading

import pytest

from samlabel.gui.tasks import Task, TaskCancelled
from samlabel.sam.errors import Cancelled


def _collect(task):
    seen = {"progress": [], "finished": [], "failed": [], "cancelled": 0, "done": 0, "threads": set()}
    task.progress.connect(lambda d, t, m: (seen["progress"].append((d, t, m)), seen["threads"].add(threading.get_ident())))
    task.finished.connect(lambda r: seen["finished"].append(r))
    task.failed.connect(lambda m: seen["failed"].append(m))
    task.cancelled.connect(lambda: seen.__setitem__("cancelled", seen["cancelled"] + 1))
    task.done.connect(lambda: seen.__setitem__("done", seen["done"] + 1))
    return seen


def test_task_reports_progress_and_result_on_the_ui_thread(qtbot):
    worker_threads = []

    def work(n, *, progress, cancel, scale=1):
        worker_threads.append(threading.get_ident())
        for i in range(n):
            progress(i + 1, n, f"item {i}")
        return sum(range(n)) * scale

    task = Task(work, 5, scale=10)
    seen = _collect(task)
    with qtbot.waitSignal(task.done, timeout=5000):
        task.start()
    assert seen["finished"] == [100]
    assert seen["failed"] == [] and seen["cancelled"] == 0 and seen["done"] == 1
    assert task.state == "finished" and task.result == 100
    # throttled, but the last report always arrives
    assert seen["progress"][-1] == (5, 5, "item 4")
    assert seen["threads"] == {threading.get_ident()}
    assert worker_threads and worker_threads[0] != threading.get_ident()


def test_unknown_total_is_reported_as_zero(qtbot):
    def work(*, progress, cancel):
        progress(3, None, "bytes")
        return "ok"

    task = Task(work)
    seen = _collect(task)
    with qtbot.waitSignal(task.done, timeout=5000):
        task.start()
    assert seen["progress"] == [(3, 0, "bytes")]


def test_failure_message_reaches_the_ui(qtbot):
    def work(*, progress, cancel):
        raise FileNotFoundError("model.pth: no such file")

    task = Task(work)
    seen = _collect(task)
    with qtbot.waitSignal(task.failed, timeout=5000) as blocker:
        task.start()
    assert blocker.args == ["model.pth: no such file"]
    assert seen["finished"] == [] and task.state == "failed"


def test_failure_without_text_names_the_exception(qtbot):
    def work(*, progress, cancel):
        raise KeyError()

    task = Task(work)
    with qtbot.waitSignal(task.failed, timeout=5000) as blocker:
        task.start()
    assert "KeyError" in blocker.args[0]


@pytest.mark.parametrize("how", ["poll_and_return", "raise_cancelled", "progress_raises"])
def test_cancel_is_cooperative(qtbot, how):
    started = threading.Event()
    release = threading.Event()

    def work(*, progress, cancel):
        started.set()
        assert release.wait(5)
        if how == "poll_and_return":
            assert cancel()
            return "partial"
        if how == "raise_cancelled":
            raise Cancelled("stopped")
        progress(1, 2)  # raises TaskCancelled because cancel was requested
        return "should not get here"

    task = Task(work)
    seen = _collect(task)
    task.start()
    assert started.wait(5)
    task.cancel()
    release.set()
    qtbot.waitUntil(lambda: seen["done"] == 1, timeout=5000)
    assert seen["cancelled"] == 1
    assert seen["finished"] == [] and seen["failed"] == []
    assert task.state == "cancelled"


def test_task_cancelled_is_a_cancelled():
    assert issubclass(TaskCancelled, Cancelled)


def test_a_task_runs_only_once(qtbot):
    task = Task(lambda *, progress, cancel: 1)
    with qtbot.waitSignal(task.done, timeout=5000):
        task.start()
    with pytest.raises(RuntimeError):
        task.start()


def test_shutdown_cancels_running_tasks(qtbot):
    from samlabel.gui.tasks import running_tasks, shutdown_tasks

    started = threading.Event()

    def work(*, progress, cancel):
        started.set()
        while not cancel():
            threading.Event().wait(0.001)
        return "stopped"

    task = Task(work)
    task.start()
    assert started.wait(5)
    assert task in running_tasks()
    assert shutdown_tasks(5000)
    assert task not in running_tasks()
    qtbot.waitUntil(lambda: task.state == "cancelled", timeout=5000)


def test_progress_carries_multi_gigabyte_byte_counts(qtbot):
    def work(*, progress, cancel):
        progress(3_000_000_000, 2_564_550_879 * 2, "vit_h")
        return None

    task = Task(work)
    with qtbot.waitSignal(task.progress, timeout=5000) as blocker:
        task.start()
    assert blocker.args == [3_000_000_000, 5_129_101_758, "vit_h"]
