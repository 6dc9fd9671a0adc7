"""Renaming a label: the open image's shapes (one undo step), the label state, and optionally
every other image of the project in a background task. Not a widget: the labels dock, a
shortcut or a script ask this object, and the window waits on :meth:`LabelRenames.pending`
before switching images (an image opened half-way could autosave the old name back).
"""

from __future__ import annotations

import threading

from PySide6.QtCore import QObject, Signal

from samlabel.gui.label_state import LabelState
from samlabel.gui.tasks import Task

_PROJECT_RENAMES = threading.Lock()  # one at a time: two renames must not edit a sidecar at once


class LabelRenames(QObject):
    """Signals: ``finished(report)`` when a project-wide rename ends (a
    :class:`~samlabel.annotations.RenameReport`), ``warning(str)`` for what the user must be
    told, ``jobStarted(task)`` when one starts."""

    finished = Signal(object)
    warning = Signal(str)
    jobStarted = Signal(object)  # the Task of a project-wide rename (the workspace tracks it)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._tasks: list[Task] = []  # project-wide renames not ended yet (they queue on a lock)
        self.latest: Task | None = None

    def rename(self, state: LabelState, document, project, old: str, new: str, everywhere: bool = False) -> Task | None:
        """Relabel ``document``'s shapes ``old`` -> ``new`` (one undo step), rename in ``state``,
        and with ``everywhere`` and a ``project`` start (and return) the task renaming it in
        every other image's sidecar (the open image's is left to the document's autosave)."""
        new = new.strip()
        if not new or new == old:
            return None
        if document is not None:
            uids = [s.uid for s in document.shapes if s.label == old]
            if uids:
                document.set_label(uids, new, text=f"Rename label {old} → {new}")
        state.rename(old, new)
        if everywhere and project is not None:
            return self._in_project(project, document, old, new)
        return None

    def _in_project(self, project, document, old: str, new: str) -> Task:
        exclude = []
        if document is not None and document.annotation.image_path:
            exclude.append(project.root / document.annotation.image_path)

        def work(progress, cancel):
            with _PROJECT_RENAMES:
                return project.rename_label(old, new, progress=progress, exclude=exclude, update_labels=False)

        task = Task(work, parent=self)
        task.finished.connect(self._on_finished)
        task.failed.connect(lambda message: self.warning.emit(f"Renaming “{old}” in the project failed: {message}"))
        self.latest = task
        self._tasks = [t for t in self._tasks if t.is_running()] + [task]
        task.start()
        self.jobStarted.emit(task)
        return task

    def pending(self) -> list[Task]:
        """Project-wide renames still rewriting sidecars."""
        self._tasks = [t for t in self._tasks if t.is_running()]
        return list(self._tasks)

    def _on_finished(self, report) -> None:
        if report.problems:
            self.warning.emit("Some annotation files could not be renamed and keep the old name:\n"
                              + "\n".join(report.problems))
        self.finished.emit(report)
