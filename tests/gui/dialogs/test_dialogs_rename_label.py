"""RenameLabelDialog: the new name, and whether to rename in every image."""

from __future__ import annotations

from samlabel.gui.dialogs.rename_label import RenameLabelDialog


def test_rename_dialog_answers(qtbot):
    dialog = RenameLabelDialog("car", offer_everywhere=True)
    qtbot.addWidget(dialog)
    dialog.edit.setText("  bus ")
    assert dialog.answer() == ("bus", True)
    dialog.everywhere.setChecked(False)
    assert dialog.answer() == ("bus", False)
    dialog.edit.setText("  ")
    assert dialog.answer() is None
    only_here = RenameLabelDialog("car", offer_everywhere=False)
    qtbot.addWidget(only_here)
    assert only_here.answer() == ("car", False)
