"""ExpandVideoDialog: the progress of a video file being expanded into a folder of frames.

The owner (:class:`~samlabel.gui.video_controller.VideoController`) starts the
:class:`~samlabel.gui.tasks.Task` running :func:`samlabel.video.expand.expand_video` and
hands it to :meth:`ExpandVideoDialog.watch`. Cancel (or Esc, or closing the dialog) stops
it; the engine then removes its temporary folder, so no half folder is left. The dialog
closes itself when the frames are written (the owner opens the folder); a failure stays
shown in red.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFormLayout, QLabel, QPushButton, QWidget

from samlabel.gui.dialogs.task_dialog import TaskDialog
from samlabel.gui.tasks import Task


class ExpandVideoDialog(TaskDialog):
    def __init__(self, video: Path, out_dir: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent, status="Starting…")
        self.setObjectName("expand_video_dialog")
        self.setWindowTitle(f"Opening {Path(video).name}")
        self.video, self.out_dir = Path(video), Path(out_dir)
        self.intro = QLabel(f"Writing the frames of {self.video.name} as JPEG files into\n{self.out_dir}", self)
        self.intro.setWordWrap(True)
        self.frames_done = 0
        self.hidden_start = QPushButton("Open", self)  # the layout's start button: the task starts at once
        self.hidden_start.hide()
        self._lay_out(QFormLayout(), self.hidden_start, above=(self.intro,))
        self.resize(480, 170)

    def watch(self, task: Task) -> None:
        self._watch(task)
        self.cancel_button.setEnabled(True)
        self._show_progress(0, 0)

    def _on_progress(self, done: int, total: int, message: str) -> None:
        self._show_progress(done, total)
        self.frames_done = done
        self._set_status(f"{done} / {total} frame(s) — {message}" if total > 0 else f"{done} frame(s) — {message}")

    def _on_finished(self, result: object) -> None:
        super()._on_finished(result)
        self.cancel_button.setEnabled(False)
        self._set_status(f"{len(result)} frame(s) written." if isinstance(result, list) else "Done.")
        self.accept()

    def _on_failed(self, message: str) -> None:
        self.cancel_button.setEnabled(False)
        super()._on_failed(message)

    def _on_cancelled(self) -> None:
        self.cancel_button.setEnabled(False)
        self._show_ended(False)
        self._set_status(f"Cancelled: nothing was written to {self.out_dir}.")
