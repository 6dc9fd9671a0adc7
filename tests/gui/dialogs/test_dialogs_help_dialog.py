"""HelpDialog: every shortcut, grouped, searchable."""

from __future__ import annotations

from PySide6.QtGui import QKeySequence

from samlabel.gui.dialogs.help_dialog import HelpDialog
from samlabel.gui.shortcuts import SHORTCUTS


def test_help_lists_every_shortcut_grouped(qtbot):
    dialog = HelpDialog()
    qtbot.addWidget(dialog)
    rows = {action: (group, keys, description) for group, action, keys, description in dialog.rows()}
    assert len(dialog.rows()) == len(SHORTCUTS)
    for entry in SHORTCUTS:
        group, keys, description = rows[entry.action]
        assert group == entry.group
        assert description == entry.description
        for key in entry.keys:
            assert QKeySequence(key).toString(QKeySequence.SequenceFormat.NativeText) in keys.split(", ")
    groups_in_order = list(dict.fromkeys(e.group for e in SHORTCUTS))
    assert [dialog.tree.topLevelItem(i).text(0) for i in range(dialog.tree.topLevelItemCount())] == groups_in_order


def test_help_search_filters_rows(qtbot):
    dialog = HelpDialog()
    qtbot.addWidget(dialog)
    qtbot.keyClicks(dialog.search, "undo")
    visible = dialog.visible_actions()
    assert "undo" in visible and "open_image" not in visible
    dialog.search.clear()
    assert len(dialog.visible_actions()) == len(SHORTCUTS)
