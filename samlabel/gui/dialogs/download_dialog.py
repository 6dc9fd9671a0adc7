"""DownloadModelDialog: fetch a SAM checkpoint with a progress bar and a Cancel button.

The download runs ``samlabel.sam.download.download_checkpoint`` in a :class:`~samlabel.gui.tasks.Task`,
so the window stays responsive. Failures show the error's own text (which names the URL
or file and the reason) in the dialog; the user can retry or pick another model.

D1 wiring (the "no checkpoint found" banner / Model menu)::

    dialog = DownloadModelDialog(parent=main_window, current="vit_b")
    dialog.downloaded.connect(main_window.on_checkpoint_downloaded)   # slot(str path)
    dialog.exec()          # or .open(); the dialog stays open to show the result

``DownloadModelDialog(parent=None, models=("vit_t", "vit_b", "vit_l", "vit_h"), current=None,
directory=None, url=None, download_fn=None)``

- ``directory``: destination (default: ``download_checkpoint``'s default, i.e.
  ``samlabel.paths.checkpoint_dir()``); ``url`` overrides the official URL (mirrors, tests).
- ``download_fn(name, directory=..., url=..., progress=...) -> Path`` replaces the real
  download (tests, or a caller with its own verification).
- Signal ``downloaded(str path)`` after success; ``failed(str message)`` on error.
- ``start()`` starts the download of the chosen model (what the Download button does);
  ``cancel()`` stops it; ``task`` is the running :class:`Task` (or None).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QLabel,
    QPushButton,
)

from samlabel.gui.dialogs.task_dialog import TaskDialog
from samlabel.gui.tasks import Task

DEFAULT_MODELS = ("vit_t", "vit_b", "vit_l", "vit_h")

# Sizes the registry does not record (bytes, approximate) so the user still sees what to expect.
_APPROX_SIZES = {"vit_t": 40_728_226, "vit_h": 2_564_550_879}
_BLURBS = {
    "vit_t": "MobileSAM: fast on a laptop CPU, a little less precise",
    "vit_b": "SAM ViT-B: good quality, a few seconds per image on CPU",
    "vit_l": "SAM ViT-L: better edges, slow without a GPU",
    "vit_h": "SAM ViT-H: the best masks; needs a GPU for comfortable use",
}


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
        from samlabel.sam.config import get_config

        config = get_config(name)
        size = config.checkpoint_size
        exact = size is not None
        if name not in _BLURBS and config.description:
            description = config.description
    except Exception:  # noqa: BLE001 - the registry is optional information here
        pass
    if size is None:
        size = _APPROX_SIZES.get(name)
    return description, size, exact


def _default_folder() -> str:
    from samlabel.paths import checkpoint_dir

    return str(checkpoint_dir())


def _existing_checkpoint(name: str, directory) -> Path | None:
    try:
        from samlabel.sam.download import find_checkpoint

        return find_checkpoint(name, directory)
    except Exception:  # noqa: BLE001 - only a hint in the dialog
        return None


def _default_download(name: str, directory=None, url=None, progress=None) -> Path:
    from samlabel.sam.download import download_checkpoint

    return download_checkpoint(name, directory=directory, url=url, progress=progress)


class DownloadModelDialog(TaskDialog):
    downloaded = Signal(str)
    failed = Signal(str)

    def __init__(
        self,
        parent=None,
        models: Sequence[str] = DEFAULT_MODELS,
        current: str | None = None,
        directory: str | Path | None = None,
        url: str | None = None,
        download_fn: Callable[..., Path] | None = None,
    ):
        super().__init__(parent, cancel_text="Cancel download")
        self.setWindowTitle("Download a Segment Anything model")
        self.setMinimumWidth(460)
        self._directory = directory
        self._url = url
        self._download_fn = download_fn or _default_download
        self.path: str | None = None

        intro = QLabel(
            "The AI tools need a Segment Anything checkpoint. Choose a model to download; "
            "manual polygon and rectangle tools work without one.",
            self,
        )
        intro.setWordWrap(True)
        self.model_combo = QComboBox(self)
        for name in models:
            self.model_combo.addItem(name, name)
        if current in models:
            self.model_combo.setCurrentIndex(list(models).index(current))
        self.info_label = QLabel(self)
        self.info_label.setWordWrap(True)
        self.size_label = QLabel(self)
        self.folder_label = QLabel(str(directory) if directory is not None else _default_folder(), self)
        self.folder_label.setWordWrap(True)
        self.folder_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.progress_bar.setVisible(False)

        self.download_button = QPushButton("Download", self)
        self.download_button.setDefault(True)

        form = QFormLayout()
        form.addRow("Model:", self.model_combo)
        form.addRow("", self.info_label)
        form.addRow("Size:", self.size_label)
        form.addRow("Saved in:", self.folder_label)
        self._lay_out(form, self.download_button, above=(intro,))

        self.model_combo.currentIndexChanged.connect(self._show_model_info)
        self.download_button.clicked.connect(self.start)
        self._show_model_info()

    # ---------------------------------------------------------------- public
    def model_name(self) -> str:
        return self.model_combo.currentData()

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

    # ---------------------------------------------------------------- internals
    def _show_model_info(self) -> None:
        name = self.model_name()
        description, size, exact = model_info(name)
        self.info_label.setText(description)
        self.size_label.setText(format_bytes(size) if exact or size is None else f"about {format_bytes(size)}")
        existing = _existing_checkpoint(name, self._directory)
        self._set_status(f"Already downloaded: {existing}" if existing else "")

    def _set_busy(self, busy: bool) -> None:
        self.download_button.setEnabled(not busy)
        self.model_combo.setEnabled(not busy)
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
        self._set_status(f"Saved to {self.path}")
        self.download_button.setText("Download again")
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
