"""TaskDialog: the part the download, export and segment-everything dialogs share.

One background :class:`~samlabel.gui.tasks.Task` at a time, a progress bar, a status line
(red for errors) and cancelling: Cancel, Close, Esc and closing the window all cancel a
running task, so no work is left orphaned. Subclasses build a form and a start button,
arrange them with ``self._lay_out(...)`` (form, progress bar, status line, buttons with the
shared ``cancel_button`` and ``close_button``), start a task with ``self._watch(task)`` and
implement ``_on_progress``, ``_on_finished``, ``_on_failed`` and ``_on_cancelled``.

The status line is word-wrapped and selectable, and the dialog keeps room for all of it: a
long error (a URL, a path, what to do) grows the dialog instead of being cut off or
squashing the form, and the dialog cannot be shrunk below what its text needs at the
current width (Qt does not do this itself for word-wrapped labels in a top-level window).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QLayout,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from samlabel.gui.tasks import Task

_STEPS = 1000  # progress bar resolution


class TaskDialog(QDialog):
    def __init__(self, parent: QWidget | None = None, status: str = "", cancel_text: str = "Cancel"):
        super().__init__(parent)
        self.task: Task | None = None
        self.progress_bar = QProgressBar(self)
        self.progress_bar.setRange(0, _STEPS)
        self.progress_bar.setValue(0)
        self.status_label = QLabel(status, self)
        self.status_label.setObjectName("status_label")
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status_label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        self.cancel_button = QPushButton(cancel_text, self)
        self.cancel_button.setEnabled(False)
        self.close_button = QPushButton("Close", self)
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button.clicked.connect(self.reject)

    def is_running(self) -> bool:
        return self.task is not None and self.task.is_running()

    def cancel(self) -> None:
        if self.is_running():
            self._set_status("Cancelling…")
            self.task.cancel()  # type: ignore[union-attr]

    def reject(self) -> None:  # Esc / Close / window close
        self.cancel()
        super().reject()

    # ---------------------------------------------------------------- for subclasses
    def _lay_out(
        self,
        form: QLayout,
        start_button: QPushButton,
        *,
        above: tuple[QWidget, ...] = (),
        below: QWidget | None = None,
        left_buttons: tuple[QPushButton, ...] = (),
    ) -> None:
        """``above``, the form, progress bar, status line, ``below`` (stretching; else an empty
        stretch), then the button row: ``left_buttons`` on the left; start, Cancel and Close
        on the right."""
        buttons = QHBoxLayout()
        for button in left_buttons:
            buttons.addWidget(button)
        buttons.addStretch(1)
        for button in (start_button, self.cancel_button, self.close_button):
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        for widget in above:
            layout.addWidget(widget)
        layout.addLayout(form)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.status_label)
        if below is not None:
            layout.addWidget(below, 1)
        else:
            layout.addStretch(1)  # room to spare goes above the buttons, not between the rows
        layout.addLayout(buttons)

    def _watch(self, task: Task) -> Task:
        """Make ``task`` this dialog's task and route its signals to the ``_on_*`` slots."""
        self.task = task
        task.progress.connect(self._on_progress)
        task.finished.connect(self._on_finished)
        task.failed.connect(self._on_failed)
        task.cancelled.connect(self._on_cancelled)
        return task

    def _set_status(self, text: str, error: bool = False) -> None:
        self.status_label.setStyleSheet("color: #c0392b;" if error else "")
        self.status_label.setText(text)
        self._make_room()

    def needed_height(self, width: int | None = None) -> int:
        """The height the layout needs at ``width`` (default: the current width), word-wrapped
        labels included."""
        layout = self.layout()
        if layout is None:
            return 0
        layout.activate()
        width = self.width() if width is None else width
        if layout.hasHeightForWidth():
            return max(layout.totalHeightForWidth(width), layout.totalMinimumSize().height())
        return layout.totalMinimumSize().height()

    def _make_room(self) -> None:
        """Grow (never shrink) to show the whole status text; keep that as the minimum height."""
        need = self.needed_height()
        if need <= 0:
            return
        self.setMinimumHeight(need)
        if self.height() < need:
            self.resize(self.width(), need)

    def resizeEvent(self, event) -> None:  # noqa: N802 - a new width: the text needs another height
        super().resizeEvent(event)
        if event.oldSize().width() != event.size().width():
            self._make_room()

    def showEvent(self, event) -> None:  # noqa: N802
        super().showEvent(event)
        self._make_room()

    def _show_progress(self, done: int, total: int) -> None:
        """A fraction when ``total`` is known (> 0), else a busy indicator."""
        if total > 0:
            self.progress_bar.setRange(0, _STEPS)
            self.progress_bar.setValue(int(_STEPS * min(done, total) / total))
        else:
            self.progress_bar.setRange(0, 0)

    def _show_ended(self, complete: bool) -> None:
        """A full bar after success, an empty one after failure or cancel."""
        self.progress_bar.setRange(0, _STEPS)
        self.progress_bar.setValue(_STEPS if complete else 0)

    def _on_progress(self, done: int, total: int, message: str) -> None:
        self._show_progress(done, total)

    def _on_finished(self, result: object) -> None:
        self._show_ended(True)

    def _on_failed(self, message: str) -> None:
        self._show_ended(False)
        self._set_status(message, error=True)

    def _on_cancelled(self) -> None:
        self._show_ended(False)
        self._set_status("Cancelled.")
