"""ExportDialog: export the project to COCO / labelme / YOLO / VOC / mask PNGs / CVAT XML /
SA-1B with progress.

Runs ``samlabel.formats.batch.export_project`` in a :class:`~samlabel.gui.tasks.Task`.
The export reads the sidecar files on disk, so the main window saves the open document
before showing the dialog. The output folder must be new or empty (the export refuses to
overwrite); the dialog proposes ``<project>-<format>`` beside the project, numbered when
that exists. Images that could not be exported are listed with the reason.

D1 wiring (the "export" action, Ctrl+E)::

    main_window.save_now()
    dialog = ExportDialog(project.root, parent=main_window, settings=app_settings,
                          labels_file=None)      # default: the project's label file
    dialog.exported.connect(lambda report: status_bar.showMessage(f"exported {report.exported}"))
    dialog.exec()

``ExportDialog(project_dir, parent=None, settings=None, labels_file=None, export_fn=None,
simplify=None)``: ``settings`` (an :class:`~samlabel.gui.settings.AppSettings`) gives and
remembers the format, folder and simplification; ``export_fn`` replaces ``export_project``
(same signature) in tests.

Signals: ``exported(object report)`` (a ``BatchReport``: ``.exported``, ``.problems``,
``.notes``, ``.out_dir``), ``failed(str message)``.
Methods: ``start()`` (the Export button), ``cancel()``, ``set_format(name)``,
``set_out_dir(path)``, ``set_subset(name)``, ``set_split_file(path)``, ``report`` (the last
report or None), ``task``. The subset and split file (formats with subsets: COCO, VOC,
CVAT) are passed to ``export_fn`` as ``subset=`` / ``split_file=`` only when given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from PySide6.QtCore import QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
)

from samlabel.gui.dialogs.task_dialog import TaskDialog
from samlabel.gui.tasks import Task

FORMATS = {
    "coco": "COCO instances JSON (annotations/instances_<subset>.json + images/<subset>/)",
    "labelme": "labelme JSON beside each image",
    "yolo": "YOLO segmentation (labels/*.txt + data.yaml)",
    "voc": "Pascal VOC (Annotations/ XML + segmentation PNGs + labelmap.txt)",
    "masks": "Mask PNGs (semantic and instance)",
    "cvat": "CVAT for images 1.1 XML (annotations.xml + images/<subset>/)",
    "sa1b": "SA-1B / Segment Anything (per-image JSON with RLE masks)",
    "mots": "MOTS PNG for video sequences (<subset>/instances/*.png: class*1000 + track id)",
}
SUBSET_FORMATS = ("coco", "voc", "cvat", "mots")
"""The formats with subsets (train, val...): the subset and split file apply to them."""


def suggest_out_dir(project_dir: str | Path, fmt: str) -> Path:
    """``<parent>/<project>-<fmt>``, or ``...-<fmt>-2`` etc. when that exists and is not empty."""
    project_dir = Path(project_dir).absolute()
    base = project_dir.parent / f"{project_dir.name}-{fmt}"
    candidate, n = base, 1
    while candidate.exists() and (not candidate.is_dir() or any(candidate.iterdir())):
        n += 1
        candidate = base.with_name(f"{base.name}-{n}")
    return candidate


def _default_export(fmt, project_dir, out_dir, labels_file=None, simplify=None, progress=None, **subsets):
    from samlabel.formats.batch import export_project

    return export_project(
        fmt, project_dir, out_dir, labels_file=labels_file, simplify=simplify, progress=progress, **subsets
    )


class ExportDialog(TaskDialog):
    exported = Signal(object)
    failed = Signal(str)

    def __init__(
        self,
        project_dir: str | Path,
        parent=None,
        settings=None,
        labels_file: str | Path | None = None,
        export_fn: Callable[..., object] | None = None,
        simplify: float | None = None,
    ):
        super().__init__(parent, cancel_text="Cancel export")
        self.setWindowTitle("Export annotations")
        self.setMinimumWidth(520)
        self.project_dir = Path(project_dir)
        self._settings = settings
        self._labels_file = labels_file
        self._export_fn = export_fn or _default_export
        self._out_dir_edited = False
        self.report = None
        self._set_status(f"Project: {self.project_dir}")

        self.format_combo = QComboBox(self)
        for name, description in FORMATS.items():
            self.format_combo.addItem(f"{name} — {description}", name)
        self.out_edit = QLineEdit(self)
        self.browse_button = QPushButton("Browse…", self)
        self.simplify_spin = QDoubleSpinBox(self)
        self.simplify_spin.setRange(0.0, 50.0)
        self.simplify_spin.setSingleStep(0.5)
        self.simplify_spin.setDecimals(1)
        self.simplify_spin.setSuffix(" px")
        self.simplify_spin.setToolTip("Polygon simplification tolerance in image pixels (0 keeps every vertex)")
        self.subset_edit = QLineEdit(self)
        self.subset_edit.setPlaceholderText("default")
        self.subset_edit.setToolTip("The subset every image goes to (COCO, VOC, CVAT), e.g. train")
        self.split_edit = QLineEdit(self)
        self.split_edit.setPlaceholderText("none")
        self.split_edit.setToolTip("A split file: one 'SUBSET IMAGE_FILE_NAME' per line (COCO, VOC, CVAT); "
                                   "images it does not list go to the subset above")
        self.split_browse_button = QPushButton("Browse…", self)
        self.problems_view = QPlainTextEdit(self)
        self.problems_view.setReadOnly(True)
        self.problems_view.setVisible(False)
        self.problems_view.setMaximumBlockCount(10000)
        self.export_button = QPushButton("Export", self)
        self.export_button.setDefault(True)
        self.open_button = QPushButton("Open folder", self)
        self.open_button.setVisible(False)

        out_row = QHBoxLayout()
        out_row.addWidget(self.out_edit, 1)
        out_row.addWidget(self.browse_button)
        form = QFormLayout()
        form.addRow("Format:", self.format_combo)
        form.addRow("Output folder:", out_row)
        form.addRow("Simplify:", self.simplify_spin)
        split_row = QHBoxLayout()
        split_row.addWidget(self.split_edit, 1)
        split_row.addWidget(self.split_browse_button)
        form.addRow("Subset:", self.subset_edit)
        form.addRow("Split file:", split_row)
        self._lay_out(form, self.export_button, below=self.problems_view, left_buttons=(self.open_button,))

        fmt = settings.export_format if settings is not None else "coco"
        self.set_format(fmt if fmt in FORMATS else "coco")
        if simplify is None and settings is not None:
            simplify = settings.simplify_tolerance
        self.simplify_spin.setValue(1.0 if simplify is None else float(simplify))
        self._suggest()

        self.format_combo.currentIndexChanged.connect(lambda _i: self._suggest())
        self.format_combo.currentIndexChanged.connect(lambda _i: self._enable_subsets())
        self.split_browse_button.clicked.connect(self._browse_split)
        self._enable_subsets()
        self.out_edit.textEdited.connect(self._on_out_edited)
        self.browse_button.clicked.connect(self._browse)
        self.export_button.clicked.connect(self.start)
        self.open_button.clicked.connect(self._open_folder)

    # ---------------------------------------------------------------- options
    def format(self) -> str:
        return self.format_combo.currentData()

    def set_format(self, name: str) -> None:
        if name not in FORMATS:
            raise ValueError(f"unknown export format {name!r} (expected one of {', '.join(FORMATS)})")
        self.format_combo.setCurrentIndex(list(FORMATS).index(name))

    def set_subset(self, name: str) -> None:
        self.subset_edit.setText(name)

    def set_split_file(self, path: str | Path) -> None:
        self.split_edit.setText(str(path))

    def _subset_options(self) -> dict:
        """``subset=`` / ``split_file=`` for the export, those given, for formats with subsets."""
        if self.format() not in SUBSET_FORMATS:
            return {}
        options = {}
        if self.subset_edit.text().strip():
            options["subset"] = self.subset_edit.text().strip()
        if self.split_edit.text().strip():
            options["split_file"] = Path(self.split_edit.text().strip()).expanduser()
        return options

    def _enable_subsets(self) -> None:
        on = self.format() in SUBSET_FORMATS and not self.is_running()
        for widget in (self.subset_edit, self.split_edit, self.split_browse_button):
            widget.setEnabled(on)

    def _browse_split(self) -> None:
        chosen, _filter = QFileDialog.getOpenFileName(self, "Split file", str(self.project_dir))
        if chosen:
            self.set_split_file(chosen)

    def out_dir(self) -> Path:
        return Path(self.out_edit.text().strip()).expanduser()

    def set_out_dir(self, path: str | Path) -> None:
        self._out_dir_edited = True
        self.out_edit.setText(str(path))

    def _on_out_edited(self, _text: str) -> None:
        self._out_dir_edited = True

    def _suggest(self) -> None:
        if not self._out_dir_edited:
            self.out_edit.setText(str(suggest_out_dir(self.project_dir, self.format())))

    def _browse(self) -> None:
        start = str(self.out_dir().parent if self.out_edit.text() else self.project_dir.parent)
        chosen = QFileDialog.getExistingDirectory(self, "Export into (a new or empty folder)", start)
        if chosen:
            self.set_out_dir(chosen)

    # ---------------------------------------------------------------- running
    def start(self) -> Task | None:
        if self.is_running():
            return self.task
        if not self.out_edit.text().strip():
            self._set_status("Choose an output folder first.", error=True)
            return None
        fmt, out, simplify = self.format(), self.out_dir(), float(self.simplify_spin.value())
        if self._settings is not None:
            self._settings.export_format = fmt
            self._settings.export_folder = out.parent
        self.report = None
        self.problems_view.clear()
        self.problems_view.setVisible(False)
        self.open_button.setVisible(False)
        self._set_busy(True)
        self._set_status(f"Exporting to {out}…")
        export, project_dir, labels_file = self._export_fn, self.project_dir, self._labels_file
        subsets = self._subset_options()

        def work(*, progress, cancel):  # worker thread; cancel reaches it through progress()
            return export(fmt, project_dir, out, labels_file=labels_file, simplify=simplify, progress=progress, **subsets)

        return self._watch(Task(work, parent=self)).start()

    def _set_busy(self, busy: bool) -> None:
        for widget in (self.export_button, self.format_combo, self.out_edit, self.browse_button, self.simplify_spin):
            widget.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)
        for widget in (self.subset_edit, self.split_edit, self.split_browse_button):
            widget.setEnabled(not busy and self.format() in SUBSET_FORMATS)

    def _on_progress(self, done: int, total: int, message: str) -> None:
        self._show_progress(done, total)
        if message:
            self._set_status(message)

    def _on_finished(self, report: object) -> None:
        self._set_busy(False)
        self._show_ended(True)
        self.report = report
        problems = list(getattr(report, "problems", []))
        notes = list(getattr(report, "notes", []))
        exported = getattr(report, "exported", 0)
        text = f"Exported {exported} image(s) to {self.out_dir()}."
        if problems:
            text += f" {len(problems)} image(s) were left out (listed below)."
        self._set_status(text, error=bool(problems))
        lines = [f"Left out: {p}" for p in problems] + [f"Note: {n}" for n in notes]
        if lines:
            self.problems_view.setPlainText("\n".join(lines))
            self.problems_view.setVisible(True)
        self.open_button.setVisible(True)
        self._out_dir_edited = False
        self._suggest()  # a second export needs a new folder
        self.exported.emit(report)

    def _on_failed(self, message: str) -> None:
        self._set_busy(False)
        self._show_ended(False)
        self._set_status(f"Export failed: {message}", error=True)
        self.failed.emit(message)

    def _on_cancelled(self) -> None:
        self._set_busy(False)
        self._show_ended(False)
        self._set_status("Export cancelled; nothing was written.")

    def _open_folder(self) -> None:
        report_dir = getattr(self.report, "out_dir", None)
        if report_dir is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(report_dir)))
