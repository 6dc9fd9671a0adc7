"""ProposalsDock: lists pending proposals; accept/reject (selected, all) emit what changed."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMainWindow

from samlabel.gui.docks.proposals_dock import ProposalsDock
from samlabel.gui.proposals import ProposalSet, ProposalState


def _records(n):
    records = []
    for i in range(n):
        seg = np.zeros((10, 10), dtype=bool)
        seg[i, : i + 1] = True
        records.append({"segmentation": seg, "area": i + 1, "bbox": [0, i, i + 1, 1],
                        "predicted_iou": 0.5 + i / 100, "stability_score": 0.9})
    return records


@pytest.fixture
def dock(qtbot):
    dock = ProposalsDock()
    qtbot.addWidget(dock)
    dock.set_proposals(ProposalSet.from_records(_records(4)))
    dock.show()
    return dock


def test_lists_pending_best_first(dock):
    assert dock.visible_ids() == [0, 1, 2, 3]
    assert "IoU 0.53" in dock.list.item(0).text()
    assert dock.summary.text() == "4 pending · 0 accepted · 0 rejected"
    assert not dock.accept_button.isEnabled() and dock.accept_all_button.isEnabled()


def test_accept_and_reject_selected(qtbot, dock):
    dock.list.item(1).setSelected(True)
    with qtbot.waitSignal(dock.accepted) as blocker:
        dock.accept_button.click()
    (proposal,) = blocker.args[0]
    assert proposal.id == 1 and proposal.state == ProposalState.ACCEPTED
    assert dock.visible_ids() == [0, 2, 3]
    assert dock.selected_ids() == [2]  # the next one, for a keyboard flow
    with qtbot.waitSignal(dock.rejected) as blocker:
        dock.reject_button.click()
    assert [p.id for p in blocker.args[0]] == [2]
    assert dock.summary.text() == "2 pending · 1 accepted · 1 rejected"


def test_accept_all_and_reject_all(qtbot, dock):
    dock.proposals().reject([0])
    with qtbot.waitSignal(dock.accepted) as blocker:
        dock.accept_all_button.click()
    assert sorted(p.id for p in blocker.args[0]) == [1, 2, 3]
    assert dock.visible_ids() == [] and not dock.reject_all_button.isEnabled()

    dock.set_proposals(ProposalSet.from_records(_records(3)))
    with qtbot.waitSignal(dock.rejected) as blocker:
        dock.reject_all_button.click()
    assert sorted(p.id for p in blocker.args[0]) == [0, 1, 2]


def test_changes_made_on_the_set_are_emitted_too(qtbot, dock):
    with qtbot.waitSignal(dock.accepted) as blocker:
        dock.proposals().accept([3])
    assert [p.id for p in blocker.args[0]] == [3]


def test_keys_beat_window_shortcuts_while_the_list_has_focus(qtbot):
    window = QMainWindow()
    qtbot.addWidget(window)
    dock = ProposalsDock(window)
    dock.set_proposals(ProposalSet.from_records(_records(4)))
    fired = []
    action = QAction("Accept mask", window)
    action.setShortcut(QKeySequence("Return"))
    action.triggered.connect(lambda: fired.append(True))
    window.addAction(action)
    window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
    window.show()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    dock.list.setFocus()
    qtbot.keyClick(window, Qt.Key.Key_Return)  # the shortcut works elsewhere in the window
    assert fired == [True]
    fired.clear()
    dock.list.item(0).setSelected(True)
    with qtbot.waitSignal(dock.accepted):
        qtbot.keyClick(dock.list, Qt.Key.Key_Return)
    assert fired == []
    with qtbot.waitSignal(dock.rejected) as blocker:
        qtbot.keyClick(dock.list, Qt.Key.Key_Delete)
    assert [p.id for p in blocker.args[0]] == [1]


def test_selection_signal_and_clear(qtbot, dock):
    with qtbot.waitSignal(dock.selectionChanged) as blocker:
        dock.list.item(2).setSelected(True)
    assert blocker.args == [[2]]
    emitted = []
    dock.selectionChanged.connect(emitted.append)
    dock.select_ids([0, 3])
    assert dock.selected_ids() == [0, 3] and emitted == []
    with qtbot.waitSignal(dock.cleared):
        dock.set_proposals(None)
    assert dock.visible_ids() == [] and dock.accept_all() == []
