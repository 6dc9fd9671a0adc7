"""PropagateDialog: carry the objects of the frame on screen through the sequence (EdgeTAM or SAM 2.1).

The form: forward or backward, to the end or over the next N frames, and "overwrite frames a
person edited or reviewed" (off by default: the engine keeps them). Start emits
``startRequested(PropagateOptions)``; the owner (:class:`~samlabel.gui.video_controller.VideoController`)
starts the :class:`~samlabel.gui.tasks.Task` and hands it to :meth:`PropagateDialog.watch`.
While it runs the progress bar counts frames (done / total, the frame's name) and the
preview shows the frame just written with its shapes, one colour per object
(:func:`object_rgb`), at most a few times a second. A problem found before starting (no
shapes on the frame, not a sequence) is shown in red and Start stays off; a failure (no
SAM 2.1 model) is shown in red when it happens.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from PySide6.QtCore import QPointF, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QImage, QPainter, QPen, QPixmap, QPolygonF
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QRadioButton,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from samlabel.gui.object_colors import object_rgb
from samlabel.gui.dialogs.task_dialog import TaskDialog
from samlabel.gui.tasks import Task

log = logging.getLogger(__name__)

PREVIEW_SIZE = (320, 200)
PREVIEW_INTERVAL_MS = 150


@dataclass(frozen=True)
class PropagateOptions:
    """What to propagate: ``reverse`` (backward), ``max_frames`` (None: to the end), ``overwrite``."""

    reverse: bool = False
    max_frames: Optional[int] = None
    overwrite: bool = False


def render_preview(image: Path, annotation: Any, size: tuple[int, int] = PREVIEW_SIZE) -> QPixmap:
    """The frame ``image`` scaled into ``size`` with ``annotation``'s polygons and rectangles
    filled in their object's colour (None annotation: the frame alone)."""
    picture = QImage(str(image))
    if picture.isNull():
        pixmap = QPixmap(*size)
        pixmap.fill(QColor(60, 60, 60))
        return pixmap
    scaled = picture.scaled(size[0], size[1], Qt.AspectRatioMode.KeepAspectRatio,
                            Qt.TransformationMode.SmoothTransformation)
    pixmap = QPixmap.fromImage(scaled)
    if annotation is None:
        return pixmap
    sx = scaled.width() / max(1, picture.width())
    sy = scaled.height() / max(1, picture.height())
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    for shape in annotation.shapes:
        r, g, b = object_rgb(shape.label, shape.group_id)
        painter.setPen(QPen(QColor(r, g, b), 1.5))
        painter.setBrush(QBrush(QColor(r, g, b, 110)))
        for ring in _rings(shape):
            painter.drawPolygon(QPolygonF([QPointF(float(x) * sx, float(y) * sy) for x, y in ring]))
    painter.end()
    return pixmap


def _rings(shape: Any) -> list:
    if shape.kind == "polygon":
        return [poly.exterior for poly in shape.polygons]
    if shape.kind == "rectangle" and shape.points is not None and len(shape.points) >= 2:
        (x0, y0), (x1, y1) = shape.points[0], shape.points[1]
        return [[(x0, y0), (x1, y0), (x1, y1), (x0, y1)]]
    return []


class PropagateDialog(TaskDialog):
    """See the module docstring. ``frame``: the source frame's file; ``index`` / ``count``: its
    place in the sequence; ``load(frame_path)``: a frame's annotation (for the preview);
    ``problem``: why propagation cannot start (shown, Start off)."""

    startRequested = Signal(object)  # PropagateOptions
    frameShown = Signal(str)  # the preview now shows this frame (tests)

    def __init__(self, frame: Path, index: int, count: int, load: Callable[[Path], Any] | None = None,
                 problem: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent, status="")
        self.setWindowTitle("Propagate through the sequence")
        self.setObjectName("propagate_dialog")
        self.frame = Path(frame)
        self.index, self.count = index, count
        self._load = load
        self._pending_preview: Optional[str] = None
        self.report = None
        self.intro = QLabel(f"Carry the objects of frame {index + 1} / {count} ({self.frame.name}) through the "
                            "sequence with the video model (EdgeTAM on a CPU, else SAM 2.1). Each frame is saved as it is computed.", self)
        self.intro.setWordWrap(True)
        self.forward = QRadioButton("Forward", self)
        self.backward = QRadioButton("Backward", self)
        self.forward.setChecked(True)
        self._direction = QButtonGroup(self)
        self._direction.addButton(self.forward)
        self._direction.addButton(self.backward)
        direction = QHBoxLayout()
        direction.addWidget(self.forward)
        direction.addWidget(self.backward)
        direction.addStretch(1)
        self.to_end = QRadioButton("To the end", self)
        self.next_n = QRadioButton("Over the next", self)
        self.to_end.setChecked(True)
        self._range = QButtonGroup(self)
        self._range.addButton(self.to_end)
        self._range.addButton(self.next_n)
        self.frames_spin = QSpinBox(self)
        self.frames_spin.setRange(1, max(1, count - 1))
        self.frames_spin.setValue(min(10, max(1, count - 1)))
        self.frames_spin.setSuffix(" frame(s)")
        self.frames_spin.setEnabled(False)
        self.next_n.toggled.connect(self.frames_spin.setEnabled)
        span = QHBoxLayout()
        span.addWidget(self.to_end)
        span.addWidget(self.next_n)
        span.addWidget(self.frames_spin)
        span.addStretch(1)
        self.overwrite = QCheckBox("Overwrite frames a person edited or reviewed", self)
        self.overwrite.setChecked(False)
        form = QFormLayout()
        form.addRow("Direction:", direction)
        form.addRow("Frames:", span)
        form.addRow("", self.overwrite)
        self.preview = QLabel(self)
        self.preview.setObjectName("propagate_preview")
        self.preview.setMinimumSize(*PREVIEW_SIZE)
        self.preview.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)  # the pixmap follows it
        self.preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview.setStyleSheet("background: #333; color: #ddd;")
        self.preview_caption = QLabel(self)
        self.preview_caption.setObjectName("propagate_preview_caption")
        below = QWidget(self)
        column = QVBoxLayout(below)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.preview, 1)
        column.addWidget(self.preview_caption)
        self.start_button = QPushButton("Propagate", self)
        self.start_button.setObjectName("propagate_start")
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self.start)
        self._lay_out(form, self.start_button, above=(self.intro,), below=below)
        self._preview_timer = QTimer(self)
        self._preview_timer.setSingleShot(True)
        self._preview_timer.setInterval(PREVIEW_INTERVAL_MS)
        self._preview_timer.timeout.connect(self._show_pending_preview)
        self.show_frame(self.frame.name)
        self.resize(520, 560)
        if problem:
            self.start_button.setEnabled(False)
            self._set_status(problem, error=True)

    # ---------------------------------------------------------------- options
    def options(self) -> PropagateOptions:
        return PropagateOptions(reverse=self.backward.isChecked(),
                                max_frames=self.frames_spin.value() if self.next_n.isChecked() else None,
                                overwrite=self.overwrite.isChecked())

    def _form_enabled(self, on: bool) -> None:
        for widget in (self.forward, self.backward, self.to_end, self.next_n, self.overwrite, self.start_button):
            widget.setEnabled(on)
        self.frames_spin.setEnabled(on and self.next_n.isChecked())

    def start(self) -> None:
        if self.is_running():
            return
        self.report = None
        self._set_status("Starting (loading the video model)…")
        self.startRequested.emit(self.options())

    def watch(self, task: Task) -> None:
        """Show ``task``'s progress (the owner started it)."""
        self._watch(task)
        self._form_enabled(False)
        self.cancel_button.setEnabled(True)
        self._show_progress(0, 0)

    # ---------------------------------------------------------------- progress
    def _on_progress(self, done: int, total: int, message: str) -> None:
        self._show_progress(done, total)
        if message and message != "done" and done > 0:
            self._set_status(f"{done} / {total} frame(s) done — {message}")
            self._pending_preview = message
            if not self._preview_timer.isActive():
                self._preview_timer.start()
        elif done == 0:
            self._set_status(f"Tracking from {self.frame.name}… 0 / {total} frame(s)")

    def _show_pending_preview(self) -> None:
        if self._pending_preview is not None:
            name, self._pending_preview = self._pending_preview, None
            self.show_frame(name)

    def show_frame(self, name: str) -> None:
        """The preview: frame ``name`` of the sequence, with its shapes as saved now."""
        path = self.frame.parent / name
        annotation = None
        if self._load is not None:
            try:
                annotation = self._load(path)
            except Exception as exc:  # noqa: BLE001 - a preview only: the frame alone
                log.debug("preview of %s: %s", path, exc)
        size = self.preview.contentsRect().size()
        size = (max(PREVIEW_SIZE[0], size.width()), max(PREVIEW_SIZE[1], size.height()))
        self.preview.setPixmap(render_preview(path, annotation, size))
        count = len(annotation.shapes) if annotation is not None else 0
        self.preview_caption.setText(f"{name}: {count} shape(s)")
        self.frameShown.emit(name)

    def _end(self) -> None:
        self._preview_timer.stop()
        self._show_pending_preview()
        self._form_enabled(True)
        self.cancel_button.setEnabled(False)

    def _on_finished(self, result: object) -> None:
        super()._on_finished(result)
        self._end()
        self.report = result
        self._set_status(describe_report(result))

    def _on_failed(self, message: str) -> None:
        self._end()
        super()._on_failed(message)

    def _on_cancelled(self) -> None:
        self._end()
        self._set_status("Cancelled: the frames already computed are saved.")
        self._show_ended(False)


def describe_report(report: Any) -> str:
    """What a finished propagation did, for the status line (the lost objects named)."""
    text = f"Done: {report.summary()}."
    if report.lost:
        lost = "; ".join(f"{key} on {', '.join(names[:5])}{' …' if len(names) > 5 else ''}"
                         for key, names in sorted(report.lost.items()))
        text += f" Lost: {lost}."
    if report.kept:
        text += f" Kept as a person left them: {', '.join(sorted(report.kept)[:5])}{' …' if len(report.kept) > 5 else ''}."
    if getattr(report, "held", None):
        text += " Frames held had unsaved edits: save to keep them, or propagate again to fill them."
    return text
