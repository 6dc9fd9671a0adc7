"""The main window's model side: loading a checkpoint, the Model menu, the model indicator.

The window keeps one :class:`~samlabel.gui.model_status.ModelStatus` (no model, loading,
failed, ready). Every way to a model goes through :meth:`ModelMixin.load_model` and so
through the one :class:`~samlabel.gui.model_manager.ModelLoader` that ``--checkpoint`` uses:

- Model ▸ Download model… (:meth:`show_download_dialog`): the official, verified file, of
  SAM 1 (vit_t/b/l/h) or SAM 2.1 (``sam2.1_hiera_tiny`` ... ``_large``, built by ``build_sam``
  like the others and shown as "SAM 2.1 Hiera tiny"...);
- Model ▸ Load checkpoint file… (:meth:`load_checkpoint_dialog`, also a button in the
  download dialog): a file of the user's, shown as "your file" in the model indicator. Its
  model is inferred from the file name or its exact official size, else asked for.

An AI tool used without a model calls :meth:`require_model`, which says why nothing
happened and how to get a model.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QInputDialog

from samlabel.gui.dialogs.download_dialog import CHECKPOINT_FILTER, DEFAULT_MODELS as MODEL_NAMES
from samlabel.gui.model_status import ModelState, ModelStatus

log = logging.getLogger(__name__)


class ModelMixin:
    """Mixed into :class:`MainWindow`; expects ``model_choice``, ``set_model``, ``_model_status``."""

    def _init_model_status(self) -> None:
        self.model_status = ModelStatus.off(self.model_choice)
        self._model_loader = None  # the latest loader: only its result is used
        self._model_loaders: list = []  # every loader started (waited for at shutdown)
        self._remember_on_load = None  # a downloaded model's name: saved as the setting once it loads

    # ------------------------------------------------------------------ loading
    def load_model(self, choice) -> None:
        """Load ``choice`` (a ModelChoice) in a background thread; the AI tools come on when it
        is loaded, or the reason is shown when it fails. A load still running is superseded: its
        result is not used, and a first OpenVINO export or int8 quantisation in it (up to two
        minutes of both cores) stops at its next step instead of running on for nothing."""
        from samlabel.gui.model_manager import ModelLoader

        self.model_choice = choice
        self._engine_note = ""
        self._model_loaders = [old for old in self._model_loaders if old.isRunning()]
        for old in self._model_loaders:
            old.requestInterruption()
        self._model_loader = None
        if not choice.available:
            self.model_status = ModelStatus.off(choice)
            self._show_model_status()
            self.statusBar().showMessage(choice.message, 20000)
            return
        self.model_status = ModelStatus.loading(choice)
        self._show_model_status()
        self.statusBar().showMessage(f"Loading {choice.name} from {choice.weights_text}…")
        loader = ModelLoader(choice, self)
        loader.loaded.connect(self._on_model_loaded)  # bound methods: delivered on the UI thread
        loader.failed.connect(self._on_model_failed)
        loader.progress.connect(self._on_model_progress)
        self._model_loaders.append(loader)
        self._model_loader = loader
        loader.start()

    def _from_current_loader(self) -> bool:
        sender = self.sender()
        return sender is None or sender is self._model_loader

    def _on_model_progress(self, message: str) -> None:
        """A slow step of loading (the OpenVINO engine's first export: tens of seconds)."""
        if self._from_current_loader():
            self.statusBar().showMessage(message, 20000)

    def _on_model_loaded(self, model) -> None:
        if self._from_current_loader():
            loader = self._model_loader
            self._engine_note = getattr(loader, "engine_note", "") if loader is not None else ""
            self._remember_downloaded_model()
            self.set_model(model)

    def _remember_downloaded_model(self) -> None:
        """A model the user downloaded (Model ▸ Download model…) has loaded: the next start
        chooses it too (``AppSettings.model_name``; its file is found at the download location)."""
        choice, name = self.model_choice, getattr(self, "_remember_on_load", None)
        self._remember_on_load = None
        settings = getattr(self, "settings", None)
        if settings is not None and choice is not None and name == choice.name and not choice.user_file:
            settings.model_name = name

    def _on_model_failed(self, message: str) -> None:
        """The checkpoint could not be loaded: AI stays off; the reason (naming the file) is shown
        in the status bar and kept in the model indicator's tooltip once the message is gone."""
        if not self._from_current_loader():
            return
        self.model_status = ModelStatus.failed(self.model_choice, message)
        self._show_model_status()
        self.statusBar().showMessage(message, 20000)

    def wait_for_model_loaders(self) -> None:
        """Before shutting down: no loader may still be running (it is a child QThread), and
        none of their results is used any more."""
        self._model_loader = None
        for loader in self._model_loaders:
            loader.requestInterruption()  # a first OpenVINO export stops between its steps
        for loader in self._model_loaders:
            loader.wait()

    # ------------------------------------------------------------------ telling the user
    def require_model(self, what: str) -> bool:
        """True when the AI tools can run; else the status bar says why not and how to get a model."""
        if self.model is not None:
            return True
        status = self.model_status if not self.model_status.available else ModelStatus.off(self.model_choice)
        self.statusBar().showMessage(status.why_unavailable(what) or "", 10000)
        return False

    def _show_model_status(self, model=None) -> None:
        """The model indicator in the status bar (and the toolbar's Download button without one)."""
        self.download_tool_action.setVisible(model is None)
        device, precision, engine = "", "fp32", ""
        if model is not None:
            from samlabel.sam.fast.precision import encoder_precision

            device = str(getattr(model, "device", "") or "")
            precision = encoder_precision(model)
            if getattr(getattr(model, "image_encoder", None), "_samlabel_openvino", None) is not None:
                engine = "OpenVINO"  # samlabel.sam.fast.openvino_engine
        text, tip = self.model_status.indicator(device, precision=precision, engine=engine)
        note = getattr(self, "_engine_note", "") if model is not None else ""
        if note:  # e.g. "OpenVINO not used (...)": the status bar message is gone after a moment
            tip = f"{tip}\n{note}"
        self._model_status.setText(text)
        self._model_status.setToolTip(tip)

    def _status_for_model(self, model) -> ModelStatus:
        """The READY status of ``model`` (its name from its model id; weights from the choice)."""
        name = str(getattr(model, "model_id", "SAM")).split(":")[0]
        choice = self.model_choice
        if choice is None:
            return ModelStatus(ModelState.READY, name)
        return ModelStatus(ModelState.READY, name, "", choice.checkpoint, choice.user_file)

    # ------------------------------------------------------------------ Model menu
    def show_download_dialog(self):
        from samlabel.gui.dialogs.download_dialog import DownloadModelDialog

        name = self.model_choice.name if self.model_choice is not None else None
        dialog = DownloadModelDialog(parent=self, current=name)
        dialog.downloaded.connect(self.on_checkpoint_downloaded)
        dialog.checkpointChosen.connect(self.load_checkpoint_file)
        dialog.open()
        self._download_dialog = dialog
        return dialog

    def on_checkpoint_downloaded(self, path: str) -> None:
        """A verified download finished: load it (the official file, not "your file")."""
        from samlabel.sam.files.official import model_name_for_file

        name = model_name_for_file(path) or (self.model_choice.name if self.model_choice is not None else None)
        self._remember_on_load = name  # once it has loaded, the next start chooses it too
        self.load_model(self._choice(name, path, user_file=False))

    def load_checkpoint_dialog(self) -> None:
        """Model ▸ Load checkpoint file…: pick a file, then load it as the user's own."""
        path = self._choose_checkpoint_file()
        if path:
            self.load_checkpoint_file(path)

    def load_checkpoint_file(self, path: str, default_name: str | None = None) -> bool:
        """Load the checkpoint file ``path`` the user chose, as with ``--checkpoint``.

        Its model comes from the file name or size (``model_name_for_file``), else the user
        is asked, with ``default_name`` (or the current model) preselected. False when the
        user cancelled.
        """
        from samlabel.sam.files.official import model_name_for_file

        name = model_name_for_file(path)
        if name is None:
            current = default_name or (self.model_choice.name if self.model_choice is not None else None)
            name = self._ask_model_name(path, current if current in MODEL_NAMES else "vit_t")
            if not name:
                self.statusBar().showMessage("Loading the checkpoint cancelled.", 5000)
                return False
        self.load_model(self._choice(name, path, user_file=True))
        return True

    def _choice(self, name, path, user_file: bool):
        from samlabel.gui.model_manager import choose_model

        old = self.model_choice
        return choose_model(model_name=name, checkpoint=path, device=old.device if old is not None else None,
                            quantize=old.quantize if old is not None else None, user_file=user_file,
                            engine=old.engine if old is not None else None)

    def _choose_checkpoint_file(self) -> str:
        """Ask for a checkpoint file (replaced in tests)."""
        from samlabel.paths import checkpoint_dir

        start = str(Path(self.model_choice.checkpoint).parent) if (
            self.model_choice is not None and self.model_choice.checkpoint is not None) else str(checkpoint_dir())
        path, _ = QFileDialog.getOpenFileName(self, "Load a SAM checkpoint file", start, CHECKPOINT_FILTER)
        return path

    def _ask_model_name(self, path: str, default: str) -> str | None:
        """Which model ``path`` is for, when its name does not say (replaced in tests)."""
        name, ok = QInputDialog.getItem(
            self, "Which model is this?",
            f"Which Segment Anything model is {Path(path).name} a checkpoint of?\n"
            "(vit_t: MobileSAM; vit_b / vit_l / vit_h: Meta's SAM; sam2.1_hiera_tiny / small / base_plus / "
            "large: Meta's SAM 2.1, whose image model SAM 2 files fit too)",
            list(MODEL_NAMES), MODEL_NAMES.index(default), False,
        )
        return name if ok else None
