"""The app's persistent settings: a typed wrapper over ``QSettings`` with defaults.

Settings live in one INI file, ``<config dir>/samlabel.ini``, where the config dir is
``$SAMLABEL_CONFIG_DIR`` when set (the test suite sets it) and platformdirs' user config
folder otherwise. Using an explicit INI file (rather than the registry or plist) keeps the
behaviour the same on every platform and lets tests point it at a temporary folder.

Usage (D1: create one in the main window and keep it)::

    settings = AppSettings()                  # or AppSettings(tmp_path / "s.ini") in tests
    settings.overlay_opacity = 0.6            # written immediately (QSettings batches the disk write)
    opacity = settings.overlay_opacity        # typed, clamped, default when unset or unreadable
    settings.save_window(main_window)         # in closeEvent: geometry + dock/toolbar state
    settings.restore_window(main_window)      # after creating docks (they need objectName()s)
    settings.sync()                           # flush to disk now

Every property falls back to its default when the stored value is missing or cannot be
read as the right type (a hand-edited file never crashes the app).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import platformdirs
from PySide6.QtCore import QByteArray, QSettings

from samlabel.paths import APP_NAME

SETTINGS_FILE_NAME = "samlabel.ini"

DEFAULT_OVERLAY_OPACITY = 0.45
DEFAULT_SIMPLIFY_TOLERANCE = 1.0
DEFAULT_EXPORT_FORMAT = "coco"


def config_dir() -> Path:
    """Folder of the settings file. ``SAMLABEL_CONFIG_DIR`` overrides it."""
    override = os.environ.get("SAMLABEL_CONFIG_DIR")
    return Path(override) if override else Path(platformdirs.user_config_dir(APP_NAME))


def default_settings_path() -> Path:
    return config_dir() / SETTINGS_FILE_NAME


def _to_bool(value: Any, default: bool) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("true", "1", "yes", "on"):
            return True
        if text in ("false", "0", "no", "off"):
            return False
    return default


def _to_float(value: Any, default: float, lo: float, hi: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    if number != number:  # NaN
        return default
    return min(hi, max(lo, number))


class AppSettings:
    """Typed access to the app's settings; see the module docstring."""

    def __init__(self, path: str | os.PathLike[str] | None = None):
        self.path = Path(path) if path is not None else default_settings_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.qsettings = QSettings(str(self.path), QSettings.Format.IniFormat)

    # ------------------------------------------------------------------ helpers
    def _get_str(self, key: str, default: str | None = None) -> str | None:
        value = self.qsettings.value(key)
        if value is None or (isinstance(value, str) and value == ""):
            return default
        return str(value)

    def _set_optional(self, key: str, value: Any) -> None:
        if value is None or value == "":
            self.qsettings.remove(key)
        else:
            self.qsettings.setValue(key, value)

    def sync(self) -> None:
        """Write pending changes to the file now."""
        self.qsettings.sync()

    def clear(self) -> None:
        self.qsettings.clear()

    # ------------------------------------------------------------------ files
    @property
    def last_folder(self) -> str | None:
        """Last folder opened (project or image's folder); None when never set."""
        return self._get_str("files/last_folder")

    @last_folder.setter
    def last_folder(self, value: str | os.PathLike[str] | None) -> None:
        self._set_optional("files/last_folder", None if value is None else str(value))

    @property
    def export_folder(self) -> str | None:
        return self._get_str("export/folder")

    @export_folder.setter
    def export_folder(self, value: str | os.PathLike[str] | None) -> None:
        self._set_optional("export/folder", None if value is None else str(value))

    @property
    def export_format(self) -> str:
        return self._get_str("export/format", DEFAULT_EXPORT_FORMAT) or DEFAULT_EXPORT_FORMAT

    @export_format.setter
    def export_format(self, value: str) -> None:
        self.qsettings.setValue("export/format", str(value))

    # ------------------------------------------------------------------ model
    @property
    def model_name(self) -> str | None:
        """SAM model name (``vit_t``, ``vit_b``..., ``sam2.1_hiera_tiny``...: a name of
        ``samlabel.sam.files.official.APP_MODELS`` or another registered one); None means
        "choose automatically". Set when the user downloads a model in the app (once it has
        loaded) or passes ``--model``."""
        return self._get_str("model/name")

    @model_name.setter
    def model_name(self, value: str | None) -> None:
        self._set_optional("model/name", value)

    @property
    def checkpoint_path(self) -> str | None:
        """A checkpoint file the user chose (or downloaded); None means "find it"."""
        return self._get_str("model/checkpoint")

    @checkpoint_path.setter
    def checkpoint_path(self, value: str | os.PathLike[str] | None) -> None:
        self._set_optional("model/checkpoint", None if value is None else str(value))

    @property
    def refine(self) -> bool:
        """Feed the previous low-res logits back as ``mask_input`` when refining."""
        return _to_bool(self.qsettings.value("model/refine"), True)

    @refine.setter
    def refine(self, value: bool) -> None:
        self.qsettings.setValue("model/refine", "true" if value else "false")

    # ------------------------------------------------------------------ view
    @property
    def overlay_opacity(self) -> float:
        """Opacity of the mask and shape overlays, in [0.05, 1]."""
        return _to_float(self.qsettings.value("view/overlay_opacity"), DEFAULT_OVERLAY_OPACITY, 0.05, 1.0)

    @overlay_opacity.setter
    def overlay_opacity(self, value: float) -> None:
        self.qsettings.setValue("view/overlay_opacity", _to_float(value, DEFAULT_OVERLAY_OPACITY, 0.05, 1.0))

    @property
    def object_colours(self) -> bool:
        """Grouped shapes (a label plus a group id: one object) in their object's colour."""
        return _to_bool(self.qsettings.value("view/object_colours"), True)

    @object_colours.setter
    def object_colours(self, value: bool) -> None:
        self.qsettings.setValue("view/object_colours", "true" if value else "false")

    @property
    def repropagate(self) -> bool:
        """A correction on a propagated frame is carried on through the frames after it."""
        return _to_bool(self.qsettings.value("video/repropagate"), True)

    @repropagate.setter
    def repropagate(self, value: bool) -> None:
        self.qsettings.setValue("video/repropagate", "true" if value else "false")

    @property
    def simplify_tolerance(self) -> float:
        """Polygon simplification tolerance in image pixels, in [0, 50] (0 = keep every vertex)."""
        return _to_float(self.qsettings.value("edit/simplify_px"), DEFAULT_SIMPLIFY_TOLERANCE, 0.0, 50.0)

    @simplify_tolerance.setter
    def simplify_tolerance(self, value: float) -> None:
        self.qsettings.setValue("edit/simplify_px", _to_float(value, DEFAULT_SIMPLIFY_TOLERANCE, 0.0, 50.0))

    # ------------------------------------------------------------------ window
    @property
    def window_geometry(self) -> QByteArray | None:
        value = self.qsettings.value("window/geometry")
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    @window_geometry.setter
    def window_geometry(self, value: QByteArray | bytes | None) -> None:
        self._set_optional("window/geometry", None if value is None else QByteArray(value))

    @property
    def window_state(self) -> QByteArray | None:
        value = self.qsettings.value("window/state")
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    @window_state.setter
    def window_state(self, value: QByteArray | bytes | None) -> None:
        self._set_optional("window/state", None if value is None else QByteArray(value))

    def save_window(self, window: Any) -> None:
        """Store a QMainWindow's geometry and dock/toolbar layout."""
        self.window_geometry = window.saveGeometry()
        self.window_state = window.saveState()

    def restore_window(self, window: Any) -> bool:
        """Restore what :meth:`save_window` stored; False when nothing (valid) was stored."""
        restored = False
        geometry = self.window_geometry
        if geometry is not None:
            restored = bool(window.restoreGeometry(geometry)) or restored
        state = self.window_state
        if state is not None:
            restored = bool(window.restoreState(state)) or restored
        return restored
