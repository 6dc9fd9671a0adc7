"""LabelPickerDialog: type to filter the labels, Enter picks, a new name creates a label.

D1 wiring (the "choose_label" (L) and "change_label" (Ctrl+L) actions)::

    result = LabelPickerDialog.get_label(main_window, label_set, current="car")
    if result is not None:
        name, is_new = result          # is_new: the name is not in label_set yet; add it
                                        # (through the document, so it is undoable/saved)

``LabelPickerDialog(labels, current=None, parent=None, allow_new=True, title=...)`` where
``labels`` is a ``LabelSet`` or any iterable of ``Label`` / names. Signal
``picked(str name, bool is_new)`` is emitted on accept; afterwards ``chosen()`` returns
``(name, is_new)`` or None. The dialog never modifies the label set itself.

Keys: typing filters (see :mod:`label_search`), Up/Down move in the list, Enter picks
the highlighted row; the last row "Create 'text'" appears when the text is a new name.
"""

from __future__ import annotations

import functools
from typing import Iterable

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QLineEdit, QListWidget, QListWidgetItem, QVBoxLayout

from samlabel.gui.dialogs.label_search import can_create, exact_match, rank_labels

NAME_ROLE = Qt.ItemDataRole.UserRole
NEW_ROLE = Qt.ItemDataRole.UserRole + 1


def swatch_icon(color: tuple[int, int, int] | QColor, size: int = 14) -> QIcon:
    """A small filled square in the label's colour (also used by the docks); cached."""
    qcolor = QColor(*color) if isinstance(color, tuple) else QColor(color)
    return _swatch(qcolor.rgba(), size)


@functools.lru_cache(maxsize=512)
def _swatch(rgba: int, size: int) -> QIcon:
    pixmap = QPixmap(size, size)
    pixmap.fill(QColor.fromRgba(rgba))
    return QIcon(pixmap)


def _names_and_colors(labels: Iterable) -> list[tuple[str, tuple[int, int, int] | None]]:
    result = []
    for item in labels:
        if isinstance(item, str):
            result.append((item, getattr(labels, "color_of", lambda _n: None)(item)))
        else:
            result.append((item.name, tuple(item.color) if getattr(item, "color", None) else None))
    return result


class LabelPickerDialog(QDialog):
    picked = Signal(str, bool)

    def __init__(self, labels: Iterable, current: str | None = None, parent=None, allow_new: bool = True,
                 title: str = "Choose a label"):
        super().__init__(parent)
        self.setWindowTitle(title)
        self.resize(320, 420)
        self._entries = _names_and_colors(labels)
        self._names = [name for name, _ in self._entries]
        self._colors = dict(self._entries)
        self._allow_new = allow_new
        self._chosen: tuple[str, bool] | None = None

        self.search = QLineEdit(self)
        self.search.setPlaceholderText("Type to filter" + (" or to create a label" if allow_new else ""))
        self.search.setClearButtonEnabled(True)
        self.search.installEventFilter(self)
        self.list = QListWidget(self)
        self.hint = QLabel("Enter picks · ↑/↓ move · Esc cancels", self)
        self.hint.setEnabled(False)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        buttons.accepted.connect(self._pick_current)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.search)
        layout.addWidget(self.list)
        layout.addWidget(self.hint)
        layout.addWidget(buttons)

        self.search.textChanged.connect(self._refill)
        self.list.itemActivated.connect(lambda _item: self._pick_current())
        self.list.itemDoubleClicked.connect(lambda _item: self._pick_current())
        self._refill("")
        if current in self._names:
            self.list.setCurrentRow(self._names.index(current))
        self.search.setFocus()

    # ---------------------------------------------------------------- public
    @classmethod
    def get_label(cls, parent, labels: Iterable, current: str | None = None, allow_new: bool = True,
                  title: str = "Choose a label") -> tuple[str, bool] | None:
        """Run the dialog modally; ``(name, is_new)`` or None when cancelled."""
        dialog = cls(labels, current=current, parent=parent, allow_new=allow_new, title=title)
        return dialog.chosen() if dialog.exec() == QDialog.DialogCode.Accepted else None

    def chosen(self) -> tuple[str, bool] | None:
        return self._chosen

    def visible_names(self) -> list[str]:
        """Existing label names currently listed (the 'create' row excluded)."""
        return [self.list.item(i).data(NAME_ROLE) for i in range(self.list.count())
                if not self.list.item(i).data(NEW_ROLE)]

    # ---------------------------------------------------------------- internals
    def _refill(self, text: str) -> None:
        self.list.clear()
        for name in rank_labels(self._names, text):
            item = QListWidgetItem(name, self.list)
            item.setData(NAME_ROLE, name)
            item.setData(NEW_ROLE, False)
            color = self._colors.get(name)
            if color is not None:
                item.setIcon(swatch_icon(color))
        if self._allow_new and can_create(self._names, text):
            name = text.strip()
            item = QListWidgetItem(f"Create “{name}”", self.list)
            item.setData(NAME_ROLE, name)
            item.setData(NEW_ROLE, True)
            font = item.font()
            font.setItalic(True)
            item.setFont(font)
        if self.list.count():
            self.list.setCurrentRow(0)

    def _pick_current(self) -> None:
        item = self.list.currentItem()
        if item is None:
            text = self.search.text()
            existing = exact_match(self._names, text)
            if existing is None:
                return  # nothing to pick: stay open
            self._finish(existing, False)
            return
        self._finish(item.data(NAME_ROLE), bool(item.data(NEW_ROLE)))

    def _finish(self, name: str, is_new: bool) -> None:
        self._chosen = (name, is_new)
        self.picked.emit(name, is_new)
        self.accept()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.search and event.type() == QEvent.Type.KeyPress:
            key = event.key()
            if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                self._pick_current()
                return True
            if key in (Qt.Key.Key_Up, Qt.Key.Key_Down, Qt.Key.Key_PageUp, Qt.Key.Key_PageDown):
                row = self.list.currentRow()
                step = {Qt.Key.Key_Up: -1, Qt.Key.Key_Down: 1, Qt.Key.Key_PageUp: -5, Qt.Key.Key_PageDown: 5}[key]
                if self.list.count():
                    self.list.setCurrentRow(max(0, min(self.list.count() - 1, row + step)))
                return True
        return super().eventFilter(watched, event)
