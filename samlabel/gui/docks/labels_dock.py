"""LabelsDock: the label list with colour swatches, shape counts, visibility and 1-9 keys.

D1 wiring::

    dock = LabelsDock(project.labels, parent=main_window)        # a LabelSet (edited in place)
    main_window.addDockWidget(Qt.RightDockWidgetArea, dock)      # objectName "labels_dock"
    dock.set_document(document)          # after every image switch (or once, if the Document
                                         # object is reused with reset()); counts follow its changes
    dock.currentLabelChanged.connect(canvas_controller.set_current_label)      # (str)
    dock.visibilityChanged.connect(canvas.set_label_visible)                     # (str label, bool)
    dock.labelsChanged.connect(lambda: (project.save_labels(), canvas.update_colors()))
    # the "label_1_9" shortcut (keys 1..9): dock.choose_number(n)
    # the "choose_label" shortcut (L): LabelPickerDialog.get_label(...) then dock.add_label()/
    #                                   dock.set_current_label(name)
    dock.set_labels(other_label_set)     # when another project opens
    dock.set_project(project)            # enables "rename in every image" (None: open image only)
    dock.projectRenameFinished.connect(lambda report: files_dock.refresh())   # optional

Constructor: ``LabelsDock(labels: LabelSet, parent=None, title="Labels")``.

Signals:

- ``currentLabelChanged(str name)`` -- the label new shapes get;
- ``visibilityChanged(str name, bool visible)`` -- the row's checkbox;
- ``labelsChanged()`` -- the LabelSet was edited (add / rename / recolour / remove): save
  the label file, repaint colours;
- ``labelRenamed(str old, str new)`` -- also emitted on rename (after ``labelsChanged``);
- ``projectRenameFinished(object report)`` -- a project-wide rename ended: the
  :class:`~samlabel.annotations.RenameReport` (files rewritten, shapes, problems; problems
  are also shown in a message box).

Methods: ``current_label()``, ``set_current_label(name)``, ``choose_number(n)`` (1-based,
returns False when there is no such row), ``hidden_labels()``, ``set_label_visible(name,
visible)``, ``add_label(name, color=None, make_current=True)``, ``rename_label(old, new)``,
``recolor_label(name, (r, g, b))``, ``remove_label(name)``, ``rows()`` (the shown
:class:`~samlabel.gui.docks.models.LabelRow` list), ``refresh()``.

Renaming relabels the attached document's shapes in one undoable step ("Rename label").
With a project set (``set_project``), the Rename button's dialog offers "Rename in every
image of the project" (on by default): ``rename_label(old, new, everywhere=True)`` then
also rewrites every other image's sidecar with ``Project.rename_label`` in a background
:class:`~samlabel.gui.tasks.Task` (returned, so its ``progress`` can be shown; the open
image's sidecar is left to the document's autosave). Without it, other images keep the
old name (they show up as extra rows when opened).
The buttons ask with QInputDialog / QColorDialog / QMessageBox through ``_ask_text``,
``_ask_rename``, ``_ask_color`` and ``_confirm`` (tests replace those).
"""

from __future__ import annotations

import threading
from typing import Callable

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QColorDialog,
    QDockWidget,
    QHBoxLayout,
    QInputDialog,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from samlabel.gui.dialogs.label_picker import swatch_icon
from samlabel.gui.docks.binding import bind
from samlabel.gui.docks.models import LabelRow, label_rows
from samlabel.gui.tasks import Task

NAME_ROLE = Qt.ItemDataRole.UserRole
_PROJECT_RENAMES = threading.Lock()
_NUMBER_KEYS = {getattr(Qt.Key, f"Key_{n}"): n for n in range(1, 10)}


class LabelsDock(QDockWidget):
    currentLabelChanged = Signal(str)
    visibilityChanged = Signal(str, bool)
    labelsChanged = Signal()
    labelRenamed = Signal(str, str)
    projectRenameFinished = Signal(object)

    def __init__(self, labels, parent: QWidget | None = None, title: str = "Labels"):
        super().__init__(title, parent)
        self.setObjectName("labels_dock")
        self._labels = labels
        self._document = None
        self._project = None
        self._rename_task: Task | None = None  # the latest project-wide rename
        self._rename_tasks: list[Task] = []  # every one not ended yet (they queue on a lock)
        self._unsubscribe: Callable[[], None] | None = None
        self._hidden: set[str] = set()
        self._current: str | None = None
        self._updating = False
        self._rows: list[LabelRow] = []

        body = QWidget(self)
        self.list = QListWidget(body)
        self.list.setToolTip("Keys 1-9 choose a label; the checkbox shows or hides its shapes")
        self.list.installEventFilter(self)
        self.add_button = self._button("Add", "Add a label", self._on_add)
        self.rename_button = self._button("Rename", "Rename the selected label", self._on_rename)
        self.color_button = self._button("Colour", "Change the selected label's colour", self._on_recolor)
        self.remove_button = self._button("Remove", "Remove the selected label from the list", self._on_remove)
        buttons = QHBoxLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        for button in (self.add_button, self.rename_button, self.color_button, self.remove_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout = QVBoxLayout(body)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.list)
        layout.addLayout(buttons)
        self.setWidget(body)

        self.list.currentRowChanged.connect(self._on_current_row)
        self.list.itemChanged.connect(self._on_item_changed)
        self.list.itemDoubleClicked.connect(lambda _item: self._on_rename())
        self.refresh()
        if self._rows:
            self.set_current_label(self._rows[0].name)

    def _button(self, text: str, tip: str, slot) -> QToolButton:
        button = QToolButton(self)
        button.setText(text)
        button.setToolTip(tip)
        button.setAutoRaise(True)
        button.clicked.connect(slot)
        return button

    # ---------------------------------------------------------------- model binding
    @property
    def labels(self):
        return self._labels

    def set_labels(self, labels) -> None:
        """Show another label set (another project)."""
        self._labels = labels
        self._hidden &= set(labels.names)
        self.refresh()
        if self._current not in [r.name for r in self._rows] and self._rows:
            self.set_current_label(self._rows[0].name)

    def set_project(self, project) -> None:
        """The :class:`~samlabel.annotations.Project` a rename may cover entirely (or None)."""
        self._project = project

    def set_document(self, document) -> None:
        """Count (and relabel on rename) this Document's shapes; None for no image."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self._document = document
        if document is not None:
            self._unsubscribe = bind(self, document, self._on_document_change)
        self.refresh()

    def _on_document_change(self, _change) -> None:
        if label_rows(self._labels, self._shapes()) != self._rows:  # a vertex drag changes no count
            self.refresh()

    def _shapes(self):
        return self._document.shapes if self._document is not None else ()

    # ---------------------------------------------------------------- view
    def rows(self) -> list[LabelRow]:
        return list(self._rows)

    def refresh(self) -> None:
        """Re-read the label set and the counts (keeps the current label and checkboxes)."""
        rows = label_rows(self._labels, self._shapes())
        self._updating = True
        try:
            same_names = [r.name for r in rows] == [r.name for r in self._rows] and self.list.count() == len(rows)
            if not same_names:
                self.list.clear()
            for i, row in enumerate(rows):
                item = self.list.item(i) if same_names else QListWidgetItem(self.list)
                prefix = f"{i + 1}  " if i < 9 else "    "
                item.setText(prefix + row.text)
                item.setData(NAME_ROLE, row.name)
                item.setIcon(swatch_icon(row.color))
                item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsUserCheckable)
                item.setCheckState(Qt.CheckState.Unchecked if row.name in self._hidden else Qt.CheckState.Checked)
                font = item.font()
                font.setItalic(not row.in_set)
                item.setFont(font)
                item.setToolTip(
                    f"{row.name}: {row.count} shape(s) in this image"
                    + ("" if row.in_set else " — not in the project's label list")
                )
            self._rows = rows
            names = [r.name for r in rows]
            self.list.setCurrentRow(names.index(self._current) if self._current in names else -1)
        finally:
            self._updating = False
        has_row = self.list.currentRow() >= 0
        for button in (self.rename_button, self.color_button, self.remove_button):
            button.setEnabled(has_row)

    # ---------------------------------------------------------------- current label
    def current_label(self) -> str | None:
        return self._current

    def set_current_label(self, name: str) -> None:
        names = [r.name for r in self._rows]
        if name not in names:
            raise KeyError(f"label {name!r} is not in the list")
        self.list.setCurrentRow(names.index(name))  # emits through _on_current_row
        if self._current != name:  # the row was already current
            self._set_current(name)

    def choose_number(self, number: int) -> bool:
        """Make the ``number``-th label (1-based) current; False when there is none."""
        if not 1 <= number <= len(self._rows):
            return False
        self.set_current_label(self._rows[number - 1].name)
        return True

    def _set_current(self, name: str | None) -> None:
        if name is not None and name != self._current:
            self._current = name
            self.currentLabelChanged.emit(name)

    def _on_current_row(self, row: int) -> None:
        if self._updating or row < 0:
            return
        self._set_current(self.list.item(row).data(NAME_ROLE))
        for button in (self.rename_button, self.color_button, self.remove_button):
            button.setEnabled(True)

    # ---------------------------------------------------------------- visibility
    def hidden_labels(self) -> set[str]:
        return set(self._hidden)

    def set_label_visible(self, name: str, visible: bool) -> None:
        if (name not in self._hidden) == visible:
            return
        (self._hidden.discard if visible else self._hidden.add)(name)
        self.refresh()
        self.visibilityChanged.emit(name, visible)

    def _on_item_changed(self, item: QListWidgetItem) -> None:
        if self._updating:
            return
        self.set_label_visible(item.data(NAME_ROLE), item.checkState() == Qt.CheckState.Checked)

    # ---------------------------------------------------------------- editing
    def add_label(self, name: str, color: tuple[int, int, int] | None = None, make_current: bool = True):
        """Add a label (or return the existing one of that name); by default make it current."""
        label = self._labels.add(name, color=color)
        self.refresh()
        if make_current:
            self.set_current_label(label.name)
        self.labelsChanged.emit()
        return label

    def rename_label(self, old: str, new: str, everywhere: bool = False) -> Task | None:
        """Rename in the label set and relabel the document's shapes (one undo step).

        With ``everywhere`` and a project set, also start (and return) the background task
        renaming the label in every other image's sidecar; see the module docstring.
        """
        new = new.strip()
        if new == old:
            return None
        if old in self._labels:
            self._labels.rename(old, new)
        elif new not in self._labels:  # a label only shapes use: adopt it under the new name
            self._labels.add(new, color=self._labels.color_of(old))
        uids = [s.uid for s in self._shapes() if s.label == old]
        if uids:
            self._document.set_label(uids, new, text=f"Rename label {old} → {new}")
        if old in self._hidden:
            self._hidden.discard(old)
            self._hidden.add(new)
        was_current = self._current == old
        if was_current:
            self._current = new
        self.refresh()
        self.labelsChanged.emit()
        self.labelRenamed.emit(old, new)
        if was_current:
            self.currentLabelChanged.emit(new)
        if everywhere and self._project is not None:
            return self._rename_in_project(old, new)
        return None

    def _rename_in_project(self, old: str, new: str) -> Task:
        project = self._project
        exclude = []
        if self._document is not None and self._document.annotation.image_path:
            exclude.append(project.root / self._document.annotation.image_path)

        def work(progress, cancel):
            with _PROJECT_RENAMES:  # one at a time: two renames must not edit a sidecar at once
                return project.rename_label(old, new, progress=progress, exclude=exclude, update_labels=False)

        task = Task(work, parent=self)
        task.finished.connect(self._on_project_renamed)
        task.failed.connect(lambda message: self._warn(f"Renaming “{old}” in the project failed: {message}"))
        self._rename_task = task
        self._rename_tasks = [t for t in self._rename_tasks if t.is_running()] + [task]
        return task.start()

    def pending_renames(self) -> list[Task]:
        """Project-wide renames still rewriting sidecars (the window waits for them before
        switching images: an image opened half-way could autosave the old name back)."""
        self._rename_tasks = [t for t in self._rename_tasks if t.is_running()]
        return list(self._rename_tasks)

    def _on_project_renamed(self, report) -> None:
        if report.problems:
            self._warn("Some annotation files could not be renamed and keep the old name:\n" + "\n".join(report.problems))
        self.projectRenameFinished.emit(report)

    def recolor_label(self, name: str, color: tuple[int, int, int]) -> None:
        if name not in self._labels:
            self._labels.add(name, color=color)
        else:
            self._labels.recolor(name, color)
        self.refresh()
        self.labelsChanged.emit()

    def remove_label(self, name: str) -> None:
        """Drop the label from the list; shapes that use it keep it (shown as an extra row)."""
        self._labels.remove(name)
        self.refresh()
        if self._current == name:
            self._current = None
            if self._rows:
                self.set_current_label(self._rows[0].name)
        self.labelsChanged.emit()

    # ---------------------------------------------------------------- buttons and keys
    def _selected_name(self) -> str | None:
        item = self.list.currentItem()
        return item.data(NAME_ROLE) if item is not None else None

    def _ask_text(self, title: str, prompt: str, text: str = "") -> str | None:
        value, ok = QInputDialog.getText(self, title, prompt, text=text)
        return value.strip() if ok and value.strip() else None

    def _ask_color(self, initial: tuple[int, int, int], title: str) -> tuple[int, int, int] | None:
        color = QColorDialog.getColor(QColor(*initial), self, title)
        return (color.red(), color.green(), color.blue()) if color.isValid() else None

    def _confirm(self, title: str, text: str) -> bool:
        return QMessageBox.question(self, title, text) == QMessageBox.StandardButton.Yes

    def _warn(self, text: str) -> None:
        QMessageBox.warning(self, "Labels", text)

    def _on_add(self) -> None:
        name = self._ask_text("Add a label", "Name of the new label:")
        if name:
            try:
                self.add_label(name)
            except Exception as exc:  # noqa: BLE001 - LabelError: show it, keep going
                self._warn(str(exc))

    def _on_rename(self) -> None:
        old = self._selected_name()
        if old is None:
            return
        answer = self._ask_rename(old)
        if answer is None:
            return
        new, everywhere = answer
        if new and new != old:
            try:
                self.rename_label(old, new, everywhere=everywhere)
            except Exception as exc:  # noqa: BLE001
                self._warn(str(exc))

    def _ask_rename(self, old: str) -> tuple[str, bool] | None:
        """``(new name, in every image)``, or None when cancelled."""
        if self._project is None:
            new = self._ask_text("Rename label", f"New name for “{old}”:", old)
            return (new, False) if new else None
        from samlabel.gui.dialogs.rename_label import RenameLabelDialog

        return RenameLabelDialog.get_rename(self, old, offer_everywhere=True)

    def _on_recolor(self) -> None:
        name = self._selected_name()
        if name is None:
            return
        color = self._ask_color(self._labels.color_of(name), f"Colour of “{name}”")
        if color is not None:
            self.recolor_label(name, color)

    def _on_remove(self) -> None:
        name = self._selected_name()
        if name is None or name not in self._labels:
            return
        count = next((r.count for r in self._rows if r.name == name), 0)
        if count and not self._confirm(
            "Remove label", f"{count} shape(s) in this image use “{name}”. Remove it from the list anyway? "
            "The shapes keep their label."
        ):
            return
        self.remove_label(name)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.list and event.type() == QEvent.Type.KeyPress:
            if event.modifiers() in (Qt.KeyboardModifier.NoModifier, Qt.KeyboardModifier.KeypadModifier):
                number = _NUMBER_KEYS.get(event.key())
                if number is not None:
                    self.choose_number(number)
                    return True
                if event.key() == Qt.Key.Key_F2:
                    self._on_rename()
                    return True
        return super().eventFilter(watched, event)
