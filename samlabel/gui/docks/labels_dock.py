"""LabelsDock: the label list with colour swatches, shape counts, visibility and 1-9 keys.

The dock shows a :class:`~samlabel.gui.label_state.LabelState` (the one owner of the label
set, the current label and the hidden labels) and edits it; whoever else changes the state
(the toolbar's box, keys 1-9, the label picker) is shown too. Wiring::

    dock = LabelsDock(window.label_state, parent=window)   # or a LabelSet: it gets a state of its own
    dock.set_document(document)          # after every image switch; counts follow its changes
    dock.set_project(project)            # enables "rename in every image" (None: open image only)
    dock.projectRenameFinished.connect(lambda report: files_dock.refresh())   # optional

Signals (forwarded from the state, for widgets that do not listen to it themselves):
``currentLabelChanged(str)``, ``visibilityChanged(str, bool)``, ``labelsChanged()`` (added,
renamed, recoloured, removed, or another set), ``labelRenamed(str old, str new)`` (after
``labelsChanged``), ``projectRenameFinished(object report)`` (a project-wide rename ended:
the :class:`~samlabel.annotations.RenameReport`; problems are also shown in a message box).

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
image's sidecar is left to the document's autosave). The rename jobs live in
:class:`~samlabel.gui.label_renames.LabelRenames` (``dock.renames``), not in the widget. Without it, other images keep the
old name (they show up as extra rows when opened).
The buttons ask with QInputDialog / QColorDialog / QMessageBox through ``_ask_text``,
``_ask_rename``, ``_ask_color`` and ``_confirm`` (tests replace those).
"""

from __future__ import annotations

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
from samlabel.annotations.document import ChangeReason
from samlabel.gui.docks.models import LabelCounts, LabelRow
from samlabel.gui.label_renames import LabelRenames
from samlabel.gui.label_state import LabelChange, LabelChangeKind, LabelState
from samlabel.gui.tasks import Task

NAME_ROLE = Qt.ItemDataRole.UserRole
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
        # the one owner of the labels, the current label and the hidden ones (a LabelSet
        # given here gets a state of its own); the dock shows it and forwards its changes
        self.state = labels if isinstance(labels, LabelState) else LabelState(labels)
        self._unsubscribe_state = bind(self, self.state, self._on_state_change)
        self.renames = LabelRenames(self)
        self.renames.finished.connect(self.projectRenameFinished)
        self.renames.warning.connect(lambda text: self._warn(text))
        self._document = None
        self._project = None
        self._unsubscribe: Callable[[], None] | None = None
        self._updating = False
        self._rows: list[LabelRow] = []
        self._counts = LabelCounts()  # shapes per label, followed change by change

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
        return self.state.labels

    def set_labels(self, labels) -> None:
        """Show another label set (another project)."""
        self.state.set_labels(labels)

    def _on_state_change(self, change: LabelChange) -> None:
        """Show the state's change and tell the window (the dock's signals)."""
        self.refresh()
        kind = change.kind
        if kind is LabelChangeKind.CURRENT:
            self.currentLabelChanged.emit(change.name)
        elif kind is LabelChangeKind.VISIBILITY:
            self.visibilityChanged.emit(change.name, change.visible)
        else:
            self.labelsChanged.emit()
            if kind is LabelChangeKind.RENAMED:
                self.labelRenamed.emit(change.old, change.name)

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
        self._counts.reset(self._shapes())
        self.refresh()

    def _on_document_change(self, change) -> None:
        """Counts follow the shapes the change touched (a change naming no shape, or a
        document that cannot look one up, is counted afresh)."""
        reason = getattr(change, "reason", None)
        if reason == ChangeReason.SAVED:
            return
        uids = getattr(change, "uids", ())
        find = getattr(self._document, "find", None)
        if uids and find is not None and reason != ChangeReason.RESET:
            changed = self._counts.update(uids, find)
            if not changed and not self._counts.ordered_by_shapes(self.labels):
                return  # a vertex drag changes no count
        else:
            self._counts.reset(self._shapes())
        if self._counts.rows(self.labels, self._shapes()) != self._rows:
            self.refresh()

    def _shapes(self):
        return self._document.shapes if self._document is not None else ()

    # ---------------------------------------------------------------- view
    def rows(self) -> list[LabelRow]:
        return list(self._rows)

    def refresh(self) -> None:
        """Re-read the label set and the counts (keeps the current label and checkboxes)."""
        rows = self._counts.rows(self.labels, self._shapes())
        hidden, current = self.state.hidden, self.state.current
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
                item.setCheckState(Qt.CheckState.Unchecked if row.name in hidden else Qt.CheckState.Checked)
                font = item.font()
                font.setItalic(not row.in_set)
                item.setFont(font)
                item.setToolTip(
                    f"{row.name}: {row.count} shape(s) in this image"
                    + ("" if row.in_set else " — not in the project's label list")
                )
            self._rows = rows
            names = [r.name for r in rows]
            self.list.setCurrentRow(names.index(current) if current in names else -1)
        finally:
            self._updating = False
        has_row = self.list.currentRow() >= 0
        for button in (self.rename_button, self.color_button, self.remove_button):
            button.setEnabled(has_row)

    # ---------------------------------------------------------------- current label
    def current_label(self) -> str | None:
        return self.state.current if self._rows else None

    def set_current_label(self, name: str) -> None:
        if name not in [r.name for r in self._rows]:
            raise KeyError(f"label {name!r} is not in the list")
        self.state.set_current(name)

    def choose_number(self, number: int) -> bool:
        """Make the ``number``-th label (1-based) current; False when there is none."""
        if not 1 <= number <= len(self._rows):
            return False
        self.set_current_label(self._rows[number - 1].name)
        return True

    def _on_current_row(self, row: int) -> None:
        if self._updating or row < 0:
            return
        self.state.set_current(self.list.item(row).data(NAME_ROLE))
        for button in (self.rename_button, self.color_button, self.remove_button):
            button.setEnabled(True)

    # ---------------------------------------------------------------- visibility
    def hidden_labels(self) -> set[str]:
        return set(self.state.hidden)

    def set_label_visible(self, name: str, visible: bool) -> None:
        self.state.set_visible(name, visible)

    def _on_item_changed(self, item: QListWidgetItem) -> None:
        if self._updating:
            return
        self.set_label_visible(item.data(NAME_ROLE), item.checkState() == Qt.CheckState.Checked)

    # ---------------------------------------------------------------- editing
    def add_label(self, name: str, color: tuple[int, int, int] | None = None, make_current: bool = True):
        """Add a label (or return the existing one of that name); by default make it current."""
        return self.state.add(name, color=color, make_current=make_current)

    def rename_label(self, old: str, new: str, everywhere: bool = False) -> Task | None:
        """Rename in the label set and relabel the document's shapes (one undo step).

        With ``everywhere`` and a project set, also start (and return) the background task
        renaming the label in every other image's sidecar; see the module docstring.
        """
        return self.renames.rename(self.state, self._document, self._project, old, new, everywhere)

    def pending_renames(self) -> list[Task]:
        """Project-wide renames still rewriting sidecars (the window waits for them before
        switching images: an image opened half-way could autosave the old name back)."""
        return self.renames.pending()

    def recolor_label(self, name: str, color: tuple[int, int, int]) -> None:
        self.state.recolor(name, color)

    def remove_label(self, name: str) -> None:
        """Drop the label from the list; shapes that use it keep it (shown as an extra row)."""
        self.state.remove(name)

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
        color = self._ask_color(self.labels.color_of(name), f"Colour of “{name}”")
        if color is not None:
            self.recolor_label(name, color)

    def _on_remove(self) -> None:
        name = self._selected_name()
        if name is None or name not in self.labels:
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
