"""The app's Auto-label folder… task: progress, cancel, and what the window shows after."""

from __future__ import annotations

import pytest

from autolabel_testing import make_project, read_json

pytest.importorskip("pytestqt")


def _auto_count(root) -> int:
    return sum(1 for p in root.glob("img*.json") if any("samlabel_autolabel" in s for s in read_json(p)["shapes"]))


def test_dialog_runs_the_job_with_progress(qtbot, tmp_path, runner):
    from samlabel.gui.dialogs.autolabel_dialog import AutolabelDialog

    root = make_project(tmp_path / "p", n_images=2, boxes_per_image=2)
    dialog = AutolabelDialog(root, model=runner.sam)
    qtbot.addWidget(dialog)
    dialog.keep_boxes_check.setChecked(True)
    with qtbot.waitSignal(dialog.labelled, timeout=120_000) as blocker:
        dialog.start()
        assert not dialog.start_button.isEnabled() and dialog.cancel_button.isEnabled()
    report = blocker.args[0]
    assert (report.written, report.made, report.kept) == (2, 4, 4)
    assert _auto_count(root) == 2
    assert "4 mask(s) made" in dialog.status_label.text() and dialog.progress_bar.value() == dialog.progress_bar.maximum()
    assert dialog.start_button.isEnabled() and not dialog.cancel_button.isEnabled()


def test_cancel_keeps_what_is_done_and_a_restart_finishes(qtbot, tmp_path, runner):
    from samlabel.autolabel.job import run_local
    from samlabel.gui.dialogs.autolabel_dialog import AutolabelDialog

    root = make_project(tmp_path / "p", n_images=4, boxes_per_image=2)
    dialog = None

    def cancel_after_first(spec, progress, cancel, runner):
        def watched(done, total, message=""):
            if done == 1 and dialog.task is not None:
                dialog.task.cancel()  # thread-safe: the user pressed Cancel after one image
            progress(done, total, message)

        return run_local(spec, progress=watched, cancel=cancel, runner=runner)

    dialog = AutolabelDialog(root, model=runner.sam, run_fn=cancel_after_first)
    qtbot.addWidget(dialog)
    task = dialog.start()  # its signals arrive through this thread's event loop, which waitSignal runs
    with qtbot.waitSignal(task.cancelled, timeout=120_000):
        pass
    assert dialog.report is None  # cancelled, not finished
    assert _auto_count(root) == 1
    assert "start again to finish the rest" in dialog.status_label.text()
    dialog._run_fn = None
    with qtbot.waitSignal(dialog.labelled, timeout=120_000) as blocker:
        dialog.start()
    assert blocker.args[0].written == 3 and _auto_count(root) == 4


def test_window_menu_action_reloads_the_open_image_undoably(qtbot, tmp_path, runner, monkeypatch):
    monkeypatch.setenv("SAMLABEL_CACHE_DIR", str(tmp_path / "cache"))
    from samlabel.gui.app import create_main_window
    from samlabel.gui.settings import AppSettings

    root = make_project(tmp_path / "p", n_images=2, boxes_per_image=2)
    win = create_main_window(path=str(root), settings=AppSettings(tmp_path / "settings.ini"))
    qtbot.addWidget(win)
    try:
        win.set_model(runner.sam)
        win.show()
        qtbot.waitExposed(win)
        qtbot.waitUntil(lambda: win.document is not None, timeout=10_000)
        assert [s.kind for s in win.document.annotation.shapes].count("rectangle") == 2
        assert win.autolabel_action.text().replace("&", "") == "Auto-label folder…"
        win.autolabel_action.trigger()
        dialog = win._autolabel_dialog
        with qtbot.waitSignal(dialog.labelled, timeout=120_000):
            dialog.start()
        qtbot.waitUntil(lambda: win.document is not None
                        and [s.kind for s in win.document.annotation.shapes].count("rectangle") == 0, timeout=10_000)
        assert [s.kind for s in win.document.annotation.shapes] == ["polygon"] * 3
        win.document.undo()  # the job's changes are one ordinary undoable step in the app
        assert [s.kind for s in win.document.annotation.shapes].count("rectangle") == 2
        win.document.redo()
        dialog.close()

        dialog = AutolabelDialog_for(win)
        dialog.set_mode("everything")
        dialog.points_spin.setValue(6)
        dialog.iou_spin.setValue(0.0)
        dialog.stability_spin.setValue(0.0)
        with qtbot.waitSignal(dialog.labelled, timeout=120_000) as blocker:
            dialog.start()
        assert blocker.args[0].proposals > 0
        win.next_image()  # opening an image shows the proposals stored for it, pending
        qtbot.waitUntil(lambda: win._proposal_set is not None, timeout=10_000)
        assert len(win._proposal_set.pending()) > 0 and win.proposals_dock.isVisible()
        dialog.close()
    finally:
        win.shutdown()


def AutolabelDialog_for(win):  # noqa: N802 - the window's own way of opening the dialog
    win.autolabel_action.trigger()
    return win._autolabel_dialog
