"""FileListDock: the project's images, marked when annotated, with a filter box.

D1 wiring::

    dock = FileListDock(parent=main_window)                    # objectName "file_list_dock"
    dock.set_project(project)                                  # a Project (images, has_annotations)
    dock.imageActivated.connect(main_window.open_image_path)   # (str path); ignore the open one
    dock.set_current(path)                                     # when the window opens an image (no signal)
    dock.refresh(path)                                         # after saving/autosaving that image's sidecar

Constructor: ``FileListDock(parent=None, title="Images")``.

Signal ``imageActivated(str path)``: the user clicked a row, moved to it with the keys, or
pressed Enter / double-clicked on it (so it may repeat for the open image).

Methods: ``set_project(project_or_None)``, ``set_images(paths, annotated=callable)``,
``set_current(path)``, ``current_path()``, ``refresh(path=None)`` (one image's mark, or all),
``is_marked(path)``, ``mark_problem(path, reason)`` (an image that cannot be opened: red,
reason in its tooltip; ``reason=None`` clears it), ``problem(path)``, ``visible_paths()``,
``set_filter(text, which="all")`` where ``which`` is ``"all"``, ``"annotated"`` or
``"not annotated"``, ``set_save_location(caption, path)`` (under the list: where the open
image's annotations are saved, the caption naming the file and a read-only, selectable
field showing its folder, the full path in its tooltip).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QComboBox, QDockWidget, QHBoxLayout, QLabel, QLineEdit, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from samlabel.gui.docks.models import ANNOTATION_FILTERS, check_which, file_matches, filter_words

PATH_ROLE = Qt.ItemDataRole.UserRole
MARK_ROLE = Qt.ItemDataRole.UserRole + 1
PROBLEM_ROLE = Qt.ItemDataRole.UserRole + 2


def _mark_icon(annotated: bool, size: int = 12) -> QIcon:
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    if annotated:
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(46, 160, 67))
    else:
        painter.setPen(QPen(QColor(150, 150, 150), 1.2))
        painter.setBrush(Qt.BrushStyle.NoBrush)
    painter.drawEllipse(1, 1, size - 2, size - 2)
    painter.end()
    return QIcon(pixmap)


class FileListDock(QDockWidget):
    imageActivated = Signal(str)

    def __init__(self, parent: QWidget | None = None, title: str = "Images"):
        super().__init__(title, parent)
        self.setObjectName("file_list_dock")
        self._annotated: Callable[[Path], bool] = lambda _p: False
        self._rows: dict[str, QListWidgetItem] = {}
        self._names: dict[str, str] = {}  # key -> case-folded file name
        self._marked = 0
        self._updating = False
        self._icons = {True: _mark_icon(True), False: _mark_icon(False)}

        body = QWidget(self)
        self.filter_edit = QLineEdit(body)
        self.filter_edit.setPlaceholderText("Filter by name…")
        self.filter_edit.setClearButtonEnabled(True)
        self.which_combo = QComboBox(body)
        for which in ANNOTATION_FILTERS:
            self.which_combo.addItem(which.capitalize(), which)
        self.list = QListWidget(body)
        self.list.setUniformItemSizes(True)
        self.summary = QLabel(body)
        self.summary.setEnabled(False)
        self.save_caption = QLabel(body)
        self.save_caption.setObjectName("save_location_caption")
        self.save_caption.setWordWrap(True)
        self.save_path = QLineEdit(body)  # a long folder scrolls instead of widening the dock
        self.save_path.setObjectName("save_location_path")
        self.save_path.setReadOnly(True)
        self.save_path.setFrame(False)
        for widget in (self.save_caption, self.save_path):
            widget.hide()
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.filter_edit, 1)
        top.addWidget(self.which_combo)
        layout = QVBoxLayout(body)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(top)
        layout.addWidget(self.list)
        layout.addWidget(self.summary)
        layout.addWidget(self.save_caption)
        layout.addWidget(self.save_path)
        self.setWidget(body)

        self.filter_edit.textChanged.connect(lambda _t: self._apply_filter())
        self.which_combo.currentIndexChanged.connect(lambda _i: self._apply_filter())
        self.list.currentItemChanged.connect(self._on_current_changed)
        self.list.itemActivated.connect(self._emit_item)

    # ---------------------------------------------------------------- content
    def set_project(self, project) -> None:
        """Show a Project's images (None empties the list)."""
        if project is None:
            self.set_images([])
        else:
            self.set_images(project.images, annotated=project.has_annotations)

    def set_images(self, paths: Sequence[str | os.PathLike], annotated: Callable[[Path], bool] | None = None) -> None:
        self._annotated = annotated or (lambda _p: False)
        self._updating = True
        self.list.setUpdatesEnabled(False)
        try:
            self.list.clear()
            self._rows = {}
            self._names = {}
            self._marked = 0
            for path in map(os.fspath, paths):
                name = os.path.basename(path)
                item = QListWidgetItem(name, self.list)
                item.setData(PATH_ROLE, path)
                item.setToolTip(path)
                key = self._key(path)
                self._rows[key] = item
                self._names[key] = name.casefold()
                self._mark(item, bool(self._annotated(Path(path))))
        finally:
            self.list.setUpdatesEnabled(True)
            self._updating = False
        self._apply_filter()

    @staticmethod
    def _key(path: str | os.PathLike) -> str:
        return os.path.normcase(os.path.abspath(os.fspath(path)))

    def _mark(self, item: QListWidgetItem, annotated: bool) -> None:
        before = item.data(MARK_ROLE)
        if before is not None and bool(before) == annotated:
            return
        self._marked += int(annotated) - int(bool(before))
        item.setData(MARK_ROLE, annotated)
        item.setIcon(self._icons[annotated])

    def refresh(self, path: str | os.PathLike | None = None) -> None:
        """Re-check whether ``path`` (or every image) has annotations."""
        if path is None:
            for item in self._rows.values():
                self._mark(item, bool(self._annotated(Path(item.data(PATH_ROLE)))))
            self._apply_filter()
            return
        key = self._key(path)
        item = self._rows.get(key)
        if item is not None:
            self._mark(item, bool(self._annotated(Path(item.data(PATH_ROLE)))))
            item.setHidden(not self._matches(key, item))
            self._update_summary()

    def mark_problem(self, path: str | os.PathLike, reason: str | None) -> None:
        """Show that ``path`` cannot be opened (red, ``reason`` in the tooltip); None clears it."""
        item = self._rows.get(self._key(path))
        if item is None:
            return
        full = item.data(PATH_ROLE)
        if reason:
            item.setForeground(QColor(200, 40, 40))
            item.setToolTip(f"{full}\nCannot be opened: {reason}")
            item.setData(PROBLEM_ROLE, reason)
        else:
            item.setData(Qt.ItemDataRole.ForegroundRole, None)
            item.setToolTip(full)
            item.setData(PROBLEM_ROLE, None)

    def problem(self, path: str | os.PathLike) -> str | None:
        """The reason ``path`` could not be opened, or None."""
        item = self._rows.get(self._key(path))
        return item.data(PROBLEM_ROLE) if item is not None else None

    def is_marked(self, path: str | os.PathLike) -> bool:
        item = self._rows.get(self._key(path))
        return bool(item is not None and item.data(MARK_ROLE))

    # ---------------------------------------------------------------- filter
    def set_filter(self, text: str, which: str = "all") -> None:
        check_which(which)
        self.which_combo.setCurrentIndex(ANNOTATION_FILTERS.index(which))
        self.filter_edit.setText(text)
        self._apply_filter()

    def _matches(self, key: str, item: QListWidgetItem) -> bool:
        return file_matches(self._names[key], filter_words(self.filter_edit.text()), bool(item.data(MARK_ROLE)),
                            self.which_combo.currentData())

    def _apply_filter(self) -> None:
        words = filter_words(self.filter_edit.text())
        which = self.which_combo.currentData()
        self.list.setUpdatesEnabled(False)
        try:
            for key, item in self._rows.items():
                hide = not file_matches(self._names[key], words, bool(item.data(MARK_ROLE)), which)
                if item.isHidden() != hide:
                    item.setHidden(hide)
        finally:
            self.list.setUpdatesEnabled(True)
        self._update_summary()

    def _update_summary(self) -> None:
        total = len(self._rows)
        shown = sum(1 for item in self._rows.values() if not item.isHidden()) if total else 0
        text = f"{self._marked} of {total} annotated"
        if shown != total:
            text += f" · {shown} shown"
        self.summary.setText(text)

    def visible_paths(self) -> list[str]:
        return [self.list.item(i).data(PATH_ROLE) for i in range(self.list.count()) if not self.list.item(i).isHidden()]

    def set_save_location(self, caption: str, path: str | os.PathLike | None) -> None:
        """Say where the open image's annotations are saved (None hides it)."""
        shown = path is not None
        self.save_caption.setText(caption if shown else "")
        self.save_path.setText(os.path.dirname(os.fspath(path)) if shown else "")
        self.save_path.setToolTip(os.fspath(path) if shown else "")
        self.save_path.setCursorPosition(0)
        self.save_caption.setVisible(shown)
        self.save_path.setVisible(shown)

    # ---------------------------------------------------------------- current image
    def set_current(self, path: str | os.PathLike | None) -> None:
        """Highlight the open image without emitting ``imageActivated``."""
        item = self._rows.get(self._key(path)) if path is not None else None
        self._updating = True
        try:
            self.list.setCurrentItem(item)
            if item is not None:
                self.list.scrollToItem(item)
        finally:
            self._updating = False

    def current_path(self) -> str | None:
        item = self.list.currentItem()
        return item.data(PATH_ROLE) if item is not None else None

    def _on_current_changed(self, current: QListWidgetItem | None, _previous) -> None:
        if not self._updating and current is not None:
            self._emit_item(current)

    def _emit_item(self, item: QListWidgetItem) -> None:
        self.imageActivated.emit(item.data(PATH_ROLE))
