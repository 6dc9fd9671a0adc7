"""Auto-label folder…: the ``samlabel autolabel`` job as a background task with progress
and cancel.

The dialog only collects options and shows progress; the job is
:func:`samlabel.autolabel.job.run_local` (the command's local engine), run in a
:class:`~samlabel.gui.tasks.Task` on a thread that ends with it. It reuses the app's loaded
model when there is one (else it builds the default model, which needs a downloaded
checkpoint). Cancel stops between images; every image already done stays written, and
starting again finishes the rest.

Main-window wiring (``samlabel/gui/window_ui.py``: Tools ▸ Auto-label folder…)::

    self._autolabel_dialog = open_autolabel_dialog(self)   # saves first; reloads the open image after

``AutolabelDialog(project_dir, model=None, parent=None, model_spec=None, run_fn=None)``:
``run_fn(spec, progress=, cancel=, runner=)`` replaces ``run_local`` in tests.
Signals: ``labelled(object report)`` (an :class:`~samlabel.autolabel.report.AutolabelReport`),
``failed(str message)``. Methods: ``start()``, ``cancel()``, ``spec()``, ``report``, ``task``.

:func:`stored_proposal_set` turns the proposals an ``--from everything`` run stored in the
open image's sidecar into the :class:`~samlabel.gui.proposals.ProposalSet` the proposals
dock shows (those already accepted as shapes left out).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QLineEdit, QPushButton, QSpinBox

from samlabel.gui.dialogs.task_dialog import TaskDialog
from samlabel.gui.tasks import Task

MODES = {"boxes": "Boxes → masks (every rectangle)", "everything": "Segment everything → proposals"}
SELECTIONS = {"all": "All images", "unlabelled": "Unlabelled images only"}


class AutolabelDialog(TaskDialog):
    labelled = Signal(object)
    failed = Signal(str)

    def __init__(self, project_dir: str | Path, model: Any = None, parent=None, model_spec: Any = None,
                 run_fn: Callable[..., Any] | None = None):
        super().__init__(parent)
        self.setWindowTitle("Auto-label folder")
        self.setMinimumWidth(460)
        self._project_dir = Path(project_dir)
        self._model = model
        self._model_spec = model_spec
        self._run_fn = run_fn
        self._started_at = 0.0
        self.report = None
        self._set_status(f"Project {self._project_dir}")

        self.mode_combo = QComboBox(self)
        for key, text in MODES.items():
            self.mode_combo.addItem(text, key)
        self.keep_boxes_check = QCheckBox("Keep the rectangles beside the masks", self)
        self.images_combo = QComboBox(self)
        for key, text in SELECTIONS.items():
            self.images_combo.addItem(text, key)
        self.glob_edit = QLineEdit(self)
        self.glob_edit.setPlaceholderText("e.g. cam1_*.jpg (empty: every image)")
        self.points_spin = QSpinBox(self)
        self.points_spin.setRange(4, 64)
        self.points_spin.setValue(32)
        self.points_spin.setSuffix(" points per side")
        self.iou_spin = self._fraction(0.88)
        self.stability_spin = self._fraction(0.95)
        self.start_button = QPushButton("Start", self)
        self.start_button.setDefault(True)

        form = QFormLayout()
        form.addRow("Mode:", self.mode_combo)
        form.addRow("", self.keep_boxes_check)
        form.addRow("Images:", self.images_combo)
        form.addRow("File names:", self.glob_edit)
        form.addRow("Density:", self.points_spin)
        form.addRow("Min. predicted IoU:", self.iou_spin)
        form.addRow("Min. stability:", self.stability_spin)
        self._lay_out(form, self.start_button)
        self.mode_combo.currentIndexChanged.connect(self._enable_options)
        self.start_button.clicked.connect(self.start)
        self._enable_options()

    def _fraction(self, value: float) -> QDoubleSpinBox:
        spin = QDoubleSpinBox(self)
        spin.setRange(0.0, 1.0)
        spin.setSingleStep(0.01)
        spin.setValue(value)
        return spin

    def set_mode(self, mode: str) -> None:
        self.mode_combo.setCurrentIndex(self.mode_combo.findData(mode))

    def _enable_options(self, *_args) -> None:
        boxes = self.mode_combo.currentData() == "boxes"
        busy = self.is_running()
        self.keep_boxes_check.setEnabled(boxes and not busy)
        for widget in (self.points_spin, self.iou_spin, self.stability_spin):
            widget.setEnabled(not boxes and not busy)
        for widget in (self.mode_combo, self.images_combo, self.glob_edit, self.start_button):
            widget.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)

    def spec(self):
        """The job the options describe (AutolabelError for a bad value)."""
        from samlabel.autolabel.spec import AutolabelSpec, EverythingParams, ModelSpec

        return AutolabelSpec(
            project_dir=str(self._project_dir), mode=self.mode_combo.currentData(),
            model=self._model_spec or ModelSpec(), select=self.images_combo.currentData(),
            glob=self.glob_edit.text().strip() or None, keep_boxes=self.keep_boxes_check.isChecked(),
            everything=EverythingParams(points_per_side=self.points_spin.value(), pred_iou_thresh=self.iou_spin.value(),
                                        stability_score_thresh=self.stability_spin.value()),
        )

    # ---------------------------------------------------------------- running
    def start(self) -> Task | None:
        from samlabel.autolabel.errors import AutolabelError

        if self.is_running():
            return self.task
        try:
            spec = self.spec()
        except AutolabelError as exc:
            self._set_status(f"Cannot start: {exc}", error=True)
            return None
        run_fn, model = self._run_fn, self._model

        def work(*, progress, cancel):  # worker thread
            from samlabel.autolabel.job import run_local
            from samlabel.autolabel.model import Runner
            from samlabel.gui.transient_thread import run_on_transient_thread

            def job():
                runner = Runner.for_spec(spec, sam=model)
                return (run_fn or run_local)(spec, progress=progress, cancel=cancel, runner=runner)

            return run_on_transient_thread(job, name="samlabel-autolabel")

        self._started_at = time.monotonic()
        self.progress_bar.setRange(0, 0)
        self._set_status("Loading the model…" if model is None else "Starting…")
        task = self._watch(Task(work, parent=self))
        task.start()
        self._enable_options()
        return task

    def _on_progress(self, done: int, total: int, message: str) -> None:
        self._show_progress(done, total)
        if total > 0:
            elapsed = time.monotonic() - self._started_at
            rate = done / elapsed if elapsed > 0 and done else 0.0
            eta = f", about {(total - done) / rate:.0f} s left" if rate else ""
            self._set_status(f"{done} of {total} images ({message}){eta}")

    def _on_finished(self, report: object) -> None:
        super()._on_finished(report)
        self.report = report
        self._enable_options()
        text = f"Done: {report.summary()}."  # type: ignore[attr-defined]
        problems = getattr(report, "problems", [])
        if problems:
            text += " Skipped: " + "; ".join(problems[:5]) + (" …" if len(problems) > 5 else "")
        self._set_status(text, error=bool(problems))
        self.labelled.emit(report)

    def _on_failed(self, message: str) -> None:
        super()._on_failed(message)
        self._enable_options()
        self._set_status(f"Auto-label failed: {message}", error=True)
        self.failed.emit(message)

    def _on_cancelled(self) -> None:
        super()._on_cancelled()
        self._enable_options()
        self._set_status("Cancelled. The images already done are saved; start again to finish the rest.")


def open_autolabel_dialog(window) -> AutolabelDialog | None:
    """The main window's Tools ▸ Auto-label folder…: save, show the dialog, and when the job
    ends show its changes to the open image (reloaded as one undoable step)."""
    if window.project is None:
        window.statusBar().showMessage("Auto-label needs a folder: File ▸ Open folder…", 8000)
        return None
    window.save_now()
    dialog = AutolabelDialog(window.project.root, model=window.model, parent=window)

    def done(report) -> None:
        window.statusBar().showMessage(f"Auto-label: {report.summary()}", 15000)
        window.check_outside_edits()

    dialog.labelled.connect(done)
    dialog.open()
    return dialog


def stored_proposal_set(annotation, image_key: str | None):
    """The proposals an everything run stored in ``annotation`` as a ProposalSet (None when
    it has none), without those that already are a shape (accepted: mask IoU >= 0.9)."""
    import numpy as np

    from samlabel.autolabel.provenance import stored_proposal_records
    from samlabel.gui.proposals import ProposalSet

    records = stored_proposal_records(annotation)
    if not records:
        return None
    h, w = annotation.image_height, annotation.image_width
    shapes = [s.to_mask(h, w) for s in annotation.shapes if s.kind in ("polygon", "mask")]
    proposals = ProposalSet.from_records(records, image_key=image_key)
    taken = []
    for proposal in proposals:
        mask = proposal.mask()
        for shape in shapes:
            union = np.logical_or(mask, shape).sum()
            if union and np.logical_and(mask, shape).sum() / union >= 0.9:
                taken.append(proposal.id)
                break
    if taken:
        proposals = ProposalSet([p for p in proposals if p.id not in set(taken)], image_key=image_key)
    return proposals if len(proposals) else None
