"""HelpDialog: every keyboard shortcut of the app, grouped, with a search box.

The rows come from :data:`samlabel.gui.shortcuts.SHORTCUTS`, the same table the main
window builds its actions from, so the help can never disagree with the keys.

D1 wiring::

    HelpDialog(parent=main_window).exec()      # on the "help" action (F1)

``HelpDialog(shortcuts=SHORTCUTS, parent=None)``; ``rows()`` returns what is shown as
``(group, action, keys_text, description)`` tuples (used by the tests).
"""

from __future__ import annotations

from typing import Sequence

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QHeaderView, QLineEdit, QTreeWidget, QTreeWidgetItem, QVBoxLayout

from samlabel.gui.shortcuts import SHORTCUTS, Shortcut

ACTION_ROLE = Qt.ItemDataRole.UserRole


def key_text(keys: Sequence[str]) -> str:
    """Keys as the user reads them on this platform, e.g. ``"Ctrl+Shift+Z, Ctrl+Y"``."""
    shown = []
    for key in keys:
        native = QKeySequence(key).toString(QKeySequence.SequenceFormat.NativeText)
        shown.append(native or key)
    return ", ".join(shown)


class HelpDialog(QDialog):
    def __init__(self, shortcuts: Sequence[Shortcut] = SHORTCUTS, parent=None):
        super().__init__(parent)
        self.setWindowTitle("samlabel — keyboard shortcuts")
        self.resize(620, 560)
        self.search = QLineEdit(self)
        self.search.setPlaceholderText("Search shortcuts…")
        self.search.setClearButtonEnabled(True)
        self.tree = QTreeWidget(self)
        self.tree.setColumnCount(2)
        self.tree.setHeaderLabels(["Keys", "What it does"])
        self.tree.setRootIsDecorated(False)
        self.tree.setAlternatingRowColors(True)
        self.tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.header().setStretchLastSection(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.search)
        layout.addWidget(self.tree)
        layout.addWidget(buttons)
        self._fill(shortcuts)
        self.search.textChanged.connect(self._filter)

    def _fill(self, shortcuts: Sequence[Shortcut]) -> None:
        groups: dict[str, QTreeWidgetItem] = {}
        for entry in shortcuts:
            group = groups.get(entry.group)
            if group is None:
                group = QTreeWidgetItem(self.tree, [entry.group])
                font = group.font(0)
                font.setBold(True)
                group.setFont(0, font)
                group.setFirstColumnSpanned(True)
                group.setFlags(Qt.ItemFlag.ItemIsEnabled)
                groups[entry.group] = group
            item = QTreeWidgetItem(group, [key_text(entry.keys), entry.description])
            item.setData(0, ACTION_ROLE, entry.action)
            item.setToolTip(1, entry.action)
        self.tree.expandAll()

    def _filter(self, text: str) -> None:
        query = text.strip().casefold()
        for g in range(self.tree.topLevelItemCount()):
            group = self.tree.topLevelItem(g)
            visible = 0
            for c in range(group.childCount()):
                child = group.child(c)
                hay = f"{group.text(0)} {child.text(0)} {child.text(1)}".casefold()
                hide = bool(query) and query not in hay
                child.setHidden(hide)
                visible += not hide
            group.setHidden(visible == 0)

    def rows(self) -> list[tuple[str, str, str, str]]:
        """What the dialog shows: ``(group, action, keys_text, description)`` per shortcut."""
        result = []
        for g in range(self.tree.topLevelItemCount()):
            group = self.tree.topLevelItem(g)
            for c in range(group.childCount()):
                child = group.child(c)
                result.append((group.text(0), child.data(0, ACTION_ROLE), child.text(0), child.text(1)))
        return result

    def visible_actions(self) -> list[str]:
        return [
            group.child(c).data(0, ACTION_ROLE)
            for g in range(self.tree.topLevelItemCount())
            if not (group := self.tree.topLevelItem(g)).isHidden()
            for c in range(group.childCount())
            if not group.child(c).isHidden()
        ]
