"""DownloadModelDialog: fetch a SAM checkpoint with a progress bar and a Cancel button.

The download runs ``samlabel.sam.files.download.download_checkpoint`` in a :class:`~samlabel.gui.tasks.Task`,
so the window stays responsive. Failures show the error's own text (which names the URL
or file and the reason) in full: a word-wrapped, selectable status line that the dialog
grows to fit; the user can retry, pick another model, or load a checkpoint file they
already have ("Load checkpoint file…"). A file at the chosen model's download location
that is not the official checkpoint (wrong size) is named with what to do about it.

D1 wiring (the "no checkpoint found" banner / Model menu)::

    dialog = DownloadModelDialog(parent=main_window, current="vit_b")
    dialog.downloaded.connect(main_window.on_checkpoint_downloaded)   # slot(str path)
    dialog.checkpointChosen.connect(main_window.load_checkpoint_file)  # slot(str path, str model)
    dialog.exec()          # or .open(); the dialog stays open to show the result

``DownloadModelDialog(parent=None, models=DEFAULT_MODELS, current=None, directory=None, url=None,
download_fn=None)``; ``DEFAULT_MODELS``: vit_t, vit_b, vit_l, vit_h and the four SAM 2.1 models
(``sam2.1_hiera_tiny`` ... ``sam2.1_hiera_large``, shown as "SAM 2.1 Hiera tiny" ...). Every row
gives the official file's size; a model whose official hash is not known says that its download
is checked by size and by loading, not by a hash ("SHA-256 unverified").

- ``directory``: destination (default: ``download_checkpoint``'s default, i.e.
  ``samlabel.paths.checkpoint_dir()``); ``url`` overrides the official URL (mirrors, tests).
- ``download_fn(name, directory=..., url=..., progress=...) -> Path`` replaces the real
  download (tests, or a caller with its own verification).
- Signal ``downloaded(str path)`` after success; ``failed(str message)`` on error;
  ``checkpointChosen(str path, str model)`` when the user picked a file of their own with
  "Load checkpoint file…" (``model``: the model selected in the list; the dialog closes).
- ``start()`` starts the download of the chosen model (what the Download button does);
  ``cancel()`` stops it; ``task`` is the running :class:`Task` (or None).
- ``model_list`` (one row per model: name, size, description, whether it is on disk),
  ``select_model(name)``, ``model_name()``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QFormLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
)

from samlabel.gui.dialogs.task_dialog import TaskDialog
from samlabel.gui.tasks import Task

DEFAULT_MODELS = ("vit_t", "vit_b", "vit_l", "vit_h",
                  "sam2.1_hiera_tiny", "sam2.1_hiera_small", "sam2.1_hiera_base_plus", "sam2.1_hiera_large")
CHECKPOINT_FILTER = "Checkpoints (*.pth *.pt *.bin *.safetensors *.ckpt);;All files (*)"

# Sizes the registry does not record (bytes, approximate) so the user still sees what to expect.
_APPROX_SIZES = {"vit_t": 40_728_226, "vit_h": 2_564_550_879}
_BLURBS = {
    "vit_t": "MobileSAM: fast on a laptop CPU, a little less precise",
    "vit_b": "SAM ViT-B: good quality, a few seconds per image on CPU",
    "vit_l": "SAM ViT-L: better edges, slow without a GPU",
    "vit_h": "SAM ViT-H: the best masks; needs a GPU for comfortable use",
    "sam2.1_hiera_tiny": "Meta's SAM 2.1: the smallest and fastest of its four sizes",
    "sam2.1_hiera_small": "SAM 2.1: a little slower than tiny, a little more precise",
    "sam2.1_hiera_base_plus": "SAM 2.1 with sharper masks; slower on a CPU",
    "sam2.1_hiera_large": "SAM 2.1's best masks; for a GPU",
    "edgetam": "Meta's video tracker: about 4x faster than SAM 2.1 on a CPU",
}
VIDEO_MODELS = ("edgetam", "sam2.1_hiera_tiny")
"""What Video ▸ Download video model… offers (the propagation's models)."""


def display_name(name: str) -> str:
    """``"SAM 2.1 Hiera tiny"`` for ``sam2.1_hiera_tiny``; SAM 1 names as they are."""
    try:
        from samlabel.sam.files.official import display_name as _display

        return _display(name)
    except Exception:  # noqa: BLE001 - only a label
        return name


def hash_known(name: str) -> bool:
    """Whether ``name``'s download is verified by a hash (True when unknown to the registry:
    such a row makes no claim)."""
    try:
        from samlabel.sam.files.official import official_file

        spec = official_file(name)
    except Exception:  # noqa: BLE001 - only a label
        return True
    return spec.hash_known or not spec.url


def format_bytes(count: float | None) -> str:
    """``375042383`` -> ``"375.0 MB"`` (decimal units, as download sites show them)."""
    if count is None:
        return "unknown size"
    for unit in ("B", "kB", "MB", "GB"):
        if abs(count) < 1000 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000.0
    return f"{count:.1f} GB"  # pragma: no cover


def model_info(name: str) -> tuple[str, int | None, bool]:
    """``(description, size_bytes or None, size_is_exact)`` of a model name."""
    size = None
    exact = False
    description = _BLURBS.get(name, name)
    try:
        from samlabel.sam.files.official import official_file

        size = official_file(name).size
        exact = size is not None
        if name not in _BLURBS and not name.startswith("sam2"):
            from samlabel.sam.config import get_config

            description = get_config(name).description or description
    except Exception:  # noqa: BLE001 - the registry is optional information here
        pass
    if size is None:
        size = _APPROX_SIZES.get(name)
    return description, size, exact


def _default_folder() -> str:
    from samlabel.paths import checkpoint_dir

    return str(checkpoint_dir())


def _existing_checkpoint(name: str, directory):
    """The size check (free) of the file at ``name``'s download location, or None."""
    try:
        from samlabel.sam.files.official import check_official_file

        return check_official_file(name, directory, hashes=False)
    except Exception:  # noqa: BLE001 - only a hint in the dialog
        return None


def _default_download(name: str, directory=None, url=None, progress=None) -> Path:
    from samlabel.sam.files.download import download_checkpoint

    return download_checkpoint(name, directory=directory, url=url, progress=progress)


class DownloadModelDialog(TaskDialog):
    downloaded = Signal(str)
    failed = Signal(str)
    checkpointChosen = Signal(str, str)

    def __init__(
        self,
        parent=None,
        models: Sequence[str] = DEFAULT_MODELS,
        current: str | None = None,
        directory: str | Path | None = None,
        url: str | None = None,
        download_fn: Callable[..., Path] | None = None,
        intro: str | None = None,
    ):
        super().__init__(parent, cancel_text="Cancel download")
        self.setWindowTitle("Download a Segment Anything model")
        self.setMinimumWidth(560)
        self._directory = directory
        self._url = url
        self._download_fn = download_fn or _default_download
        self.path: str | None = None

        intro = QLabel(
            intro or "The AI tools need a Segment Anything checkpoint. Choose a model to download, or load a "
            "checkpoint file you already have; manual polygon and rectangle tools work without one.",
            self,
        )
        intro.setWordWrap(True)
        self.model_list = QListWidget(self)
        self.model_list.setObjectName("model_list")
        self.model_list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.model_list.setWordWrap(True)
        for name in models:
            item = QListWidgetItem(self.model_list)
            item.setData(Qt.ItemDataRole.UserRole, name)
        self.model_list.setSpacing(2)
        self._label_rows()
        self.model_list.setFixedHeight(self._list_height())  # every row shown, never squashed
        self.select_model(current if current in models else (models[0] if models else None))
        self.size_label = QLabel(self)
        self.folder_label = QLabel(str(directory) if directory is not None else _default_folder(), self)
        self.folder_label.setWordWrap(True)
        self.folder_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.progress_bar.setVisible(False)

        self.download_button = QPushButton("Download", self)
        self.download_button.setDefault(True)
        self.load_button = QPushButton("Load checkpoint file…", self)
        self.load_button.setObjectName("load_checkpoint_button")
        self.load_button.setToolTip("Use a checkpoint file you already have (your own, or one downloaded elsewhere)")

        form = QFormLayout()
        form.addRow("Size:", self.size_label)
        form.addRow("Saved in:", self.folder_label)
        self._lay_out(form, self.download_button, above=(intro, self.model_list), left_buttons=(self.load_button,))

        self.model_list.currentRowChanged.connect(lambda _row: self._show_model_info())
        self.download_button.clicked.connect(self.start)
        self.load_button.clicked.connect(self.load_checkpoint_file)
        self._show_model_info()

    # ---------------------------------------------------------------- public
    def model_name(self) -> str:
        item = self.model_list.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item is not None else ""

    def select_model(self, name: str | None) -> None:
        for row in range(self.model_list.count()):
            if self.model_list.item(row).data(Qt.ItemDataRole.UserRole) == name:
                self.model_list.setCurrentRow(row)
                return

    def start(self) -> Task:
        """Start downloading the chosen model."""
        if self.is_running():
            return self.task  # type: ignore[return-value]
        name = self.model_name()
        self._set_busy(True)
        self._set_status(f"Downloading {name}…")
        self.progress_bar.setRange(0, 0)
        download, directory, url = self._download_fn, self._directory, self._url

        def work(*, progress, cancel):  # worker thread; cancel reaches it through progress()
            return download(name, directory=directory, url=url, progress=progress)

        return self._watch(Task(work, parent=self)).start()

    def load_checkpoint_file(self) -> str | None:
        """"Load checkpoint file…": pick a file, emit ``checkpointChosen`` and close."""
        path = self._choose_file()
        if not path:
            return None
        self.checkpointChosen.emit(path, self.model_name())
        self.accept()
        return path

    # ---------------------------------------------------------------- internals
    def _choose_file(self) -> str:
        """Ask for a checkpoint file (replaced in tests)."""
        folder = str(self._directory) if self._directory is not None else _default_folder()
        path, _ = QFileDialog.getOpenFileName(self, "Load a SAM checkpoint file", folder, CHECKPOINT_FILTER)
        return path

    def _list_height(self) -> int:
        """The height that shows every row of the model list (two text lines each)."""
        spacing = self.model_list.spacing()
        two_lines = self.fontMetrics().lineSpacing() * 2 + 4
        rows = sum(max(self.model_list.sizeHintForRow(r), two_lines) + 2 * spacing
                   for r in range(self.model_list.count()))
        return max(rows, two_lines) + 2 * self.model_list.frameWidth() + 2

    def _label_rows(self) -> None:
        """Each row: name and size, whether it is on disk, and what the model is good for."""
        for row in range(self.model_list.count()):
            item = self.model_list.item(row)
            name = item.data(Qt.ItemDataRole.UserRole)
            description, size, exact = model_info(name)
            size_text = format_bytes(size) if exact or size is None else f"about {format_bytes(size)}"
            check = _existing_checkpoint(name, self._directory)
            state = "" if check is None else (" · downloaded" if check.official else " · ⚠ a different file is there")
            unverified = "" if hash_known(name) else " · SHA-256 unverified"
            label = display_name(name)
            title = name if label == name else f"{label} ({name})"
            item.setText(f"{title} · {size_text}{state}{unverified}\n{description}")
            tip = check.describe() if check is not None else f"{name}: not downloaded yet"
            if not hash_known(name):
                tip += ("\nNo official SHA-256 of this file is known: a download is checked by its size and by "
                        "loading it, not by a hash.")
            item.setToolTip(tip)

    def _show_model_info(self) -> None:
        name = self.model_name()
        if not name:
            return
        _description, size, exact = model_info(name)
        size_text = format_bytes(size) if exact or size is None else f"about {format_bytes(size)}"
        if not hash_known(name):
            size_text += " (SHA-256 unverified: checked by size and by loading)"
        self.size_label.setText(size_text)
        check = _existing_checkpoint(name, self._directory)
        if check is None:
            self._set_status("")
        elif check.official:
            self._set_status(f"Already downloaded: {check.path}")
        else:
            self._set_status(
                f"{check.describe()}. Download replaces it with the verified official file; to use it as your "
                "own checkpoint instead, choose Load checkpoint file… (or delete it).", error=True)

    def _set_busy(self, busy: bool) -> None:
        self.download_button.setEnabled(not busy)
        self.model_list.setEnabled(not busy)
        self.load_button.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)
        self.progress_bar.setVisible(True)

    def _on_progress(self, done: int, total: int, message: str) -> None:
        self._show_progress(done, total)
        text = f"{format_bytes(done)} of {format_bytes(total)}" if total > 0 else f"{format_bytes(done)} downloaded"
        self._set_status(f"{message} — {text}" if message else text)

    def _on_finished(self, path: object) -> None:
        self._set_busy(False)
        self._show_ended(True)
        self.path = str(path)
        how = getattr(path, "verification", None)  # a DownloadResult says how it was checked
        self._set_status(f"Saved to {self.path}" + (f" ({how})" if how else ""))
        self.download_button.setText("Download again")
        self._label_rows()
        self.downloaded.emit(self.path)

    def _on_failed(self, message: str) -> None:
        self._set_busy(False)
        self._show_ended(False)
        self._set_status(f"Download failed: {message}", error=True)
        self.download_button.setText("Retry")
        self.failed.emit(message)

    def _on_cancelled(self) -> None:
        self._set_busy(False)
        self._show_ended(False)
        self._set_status("Download cancelled.")
