"""``samlabel --smoke-test``: start the real app offscreen, prompt once, report, exit.

It checks an installation end to end, the same way for a source checkout, a fresh wheel
install and a frozen (PyInstaller) build:

1. start Qt (offscreen unless ``SAMLABEL_SMOKE_DISPLAY=1`` or ``QT_QPA_PLATFORM`` is set);
2. pick the model: the configured one (``--model``, else the default for the device)
   when its checkpoint is found (``--checkpoint``, else the downloaded file), otherwise
   the tiny random ``test_tiny`` model, so that a machine without weights still checks
   the whole pipeline;
3. open the main window on a temporary copy of the bundled sample image, with settings
   in the same temporary folder (so that nothing is written into the installation or
   the user's settings);
4. wait for the image embedding (``embeddingReady``), prompt one positive point at the
   image centre, wait for the mask (``predictionShown``) and check it.

Every step prints ``ok: ...`` with its time; the first failure prints ``FAIL: ...`` and
the test returns 1. Waits use a ``QEventLoop`` with a timeout (``SAMLABEL_SMOKE_TIMEOUT``
seconds, default 180), never sleeps.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Optional

TINY_MODEL = "test_tiny"
DEFAULT_TIMEOUT_S = 180.0


class SmokeFailure(Exception):
    """One step of the smoke test failed; the message says which and why."""


class _Report:
    """Prints one line per step on stdout and remembers the first failure."""

    def __init__(self, out=None) -> None:
        self.out = out or sys.stdout
        self.t0 = time.perf_counter()

    def ok(self, message: str) -> None:
        print(f"ok: {message}", file=self.out, flush=True)

    def fail(self, message: str) -> None:
        print(f"FAIL: {message}", file=self.out, flush=True)


def _timeout_s() -> float:
    raw = os.environ.get("SAMLABEL_SMOKE_TIMEOUT", "")
    try:
        return float(raw) if raw else DEFAULT_TIMEOUT_S
    except ValueError:
        raise SmokeFailure(f"SAMLABEL_SMOKE_TIMEOUT={raw!r} is not a number of seconds") from None


def _configure_platform() -> None:
    """Offscreen Qt unless the user asked for a visible window (must run before QApplication)."""
    if os.environ.get("SAMLABEL_SMOKE_DISPLAY", "") in ("1", "true", "yes"):
        return
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


class SignalWaiter:
    """Records every emission of ``signal`` from construction on, and waits for the next one.

    Connecting before the action that causes the signal means that nothing can be
    missed, whether it arrives at once or later. Waiting runs a ``QEventLoop`` that a
    single-shot ``QTimer`` ends at the timeout; an exception escaping a Qt slot (collected
    in ``errors`` by the smoke test's exception hook) ends it early.
    """

    def __init__(self, signal, errors: Optional[list] = None) -> None:
        self.received: list[tuple] = []
        self._errors = errors if errors is not None else []
        self._loop = None
        self._signal = signal
        signal.connect(self._on_signal)

    def _on_signal(self, *args) -> None:
        self.received.append(args)
        if self._loop is not None:
            self._loop.quit()

    def _on_error_check(self, n_errors: int) -> None:
        if len(self._errors) > n_errors and self._loop is not None:
            self._loop.quit()

    def wait(self, timeout_s: float, count: int = 1) -> tuple:
        """Arguments of emission number ``count`` (1-based); ``TimeoutError`` if it does not come."""
        from PySide6.QtCore import QEventLoop, QTimer

        n_errors = len(self._errors)
        deadline = time.monotonic() + timeout_s
        while len(self.received) < count and len(self._errors) == n_errors:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self._loop = QEventLoop()
            timer = QTimer()
            timer.setSingleShot(True)
            timer.timeout.connect(self._loop.quit)
            timer.start(max(1, int(remaining * 1000)))
            watchdog = QTimer()
            watchdog.timeout.connect(lambda: self._on_error_check(n_errors))
            watchdog.start(50)
            self._loop.exec()
            timer.stop()
            watchdog.stop()
            self._loop = None
        if len(self._errors) > n_errors:
            raise SmokeFailure(f"an exception escaped a Qt slot:\n{self._errors[n_errors]}")
        if len(self.received) < count:
            raise TimeoutError(f"nothing arrived within {timeout_s:g} s")
        return self.received[count - 1]

    def disconnect(self) -> None:
        try:
            self._signal.disconnect(self._on_signal)
        except (RuntimeError, TypeError):  # the sender is already gone
            pass


def configured_model_name() -> Optional[str]:
    """The model chosen in the app's settings (Model menu), if any; never raises."""
    try:
        from samlabel.gui.settings import AppSettings

        return AppSettings().model_name
    except Exception:  # a broken settings file must not stop the smoke test
        return None


def choose_model(model: Optional[str], checkpoint: Optional[str], device: Optional[str]):
    """``(sam_model, description)``: the configured model if its checkpoint is found, else ``test_tiny``.

    The name is ``model``, else the one saved in the settings, else the default for the
    device. An explicit ``checkpoint`` (a file, or a Hugging Face snapshot folder as
    ``build_sam`` takes it) that is missing or does not load is a failure (the user asked
    for it); a checkpoint that was never downloaded is not (the tiny model
    checks the pipeline instead).
    """
    from samlabel.sam.build import build_sam, default_model_name

    name = model or configured_model_name() or default_model_name(device)
    if checkpoint is None:
        try:
            from samlabel.sam.files.download import find_checkpoint

            found = find_checkpoint(name)
        except Exception as exc:  # an unknown saved name, or no download module in this build
            found = None
            reason = f"{type(exc).__name__}: {exc}"
        else:
            reason = "not downloaded (see 'samlabel download')"
        if found is None:
            sam = build_sam(TINY_MODEL, device=device)
            return sam, f"{TINY_MODEL} (random weights; no checkpoint for {name}: {reason})"
        checkpoint = str(found)
    else:
        from samlabel.sam.files.checkpoint_path import checkpoint_path_problem

        problem = checkpoint_path_problem(checkpoint)  # a file or a Hugging Face snapshot folder
        if problem is not None:
            raise SmokeFailure(f"model: the {problem}")
    sam = build_sam(name, checkpoint=checkpoint, device=device)
    return sam, f"{name} from {checkpoint}"


def _mask_of(shown: Any):
    """The boolean mask carried by a ``predictionShown`` payload (a result object or an array)."""
    import numpy as np

    mask = getattr(shown, "mask", None)
    if mask is not None and not callable(mask):
        return np.asarray(mask)
    if isinstance(shown, np.ndarray):
        return shown
    logits = getattr(shown, "logits", None)
    if logits is not None:  # a samlabel.sam.interactive.Prediction
        best = int(np.argmax(np.asarray(shown.scores)))
        return np.asarray(logits)[best] > getattr(shown, "threshold", 0.0)
    if callable(mask):
        return np.asarray(mask())
    raise SmokeFailure(f"predictionShown carried {type(shown).__name__}, which has no mask")


def check_mask(mask, require_foreground: bool) -> str:
    """Validate a predicted mask; returns a short description or raises ``SmokeFailure``."""
    import numpy as np

    if mask.ndim != 2 or mask.size == 0:
        raise SmokeFailure(f"the mask has shape {mask.shape}, expected a non-empty (H, W) array")
    if mask.dtype != np.bool_:
        raise SmokeFailure(f"the mask has dtype {mask.dtype}, expected bool")
    area = int(mask.sum())
    if require_foreground and area == 0:
        raise SmokeFailure("the model returned an empty mask for a click on the sample image")
    return f"{mask.shape[1]}x{mask.shape[0]} mask, {area} px foreground"


def _run_steps(report: _Report, model, checkpoint, device, workdir: Path, errors: list) -> None:
    import numpy as np
    from PySide6.QtWidgets import QApplication

    from samlabel.paths import resource_path

    timeout = _timeout_s()
    t = time.perf_counter()
    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "samlabel"])
    report.ok(f"Qt {_qt_version()} on platform '{app.platformName()}' ({time.perf_counter() - t:.1f} s)")

    sample = resource_path("sample", "coffee.jpg")
    if not sample.is_file():
        raise SmokeFailure(f"the bundled sample image {sample} is missing")
    image_path = workdir / sample.name
    shutil.copyfile(sample, image_path)
    report.ok(f"sample image {sample}")

    t = time.perf_counter()
    try:
        sam, description = choose_model(model, checkpoint, device)
    except SmokeFailure:
        raise
    except Exception as exc:
        raise SmokeFailure(f"model: {type(exc).__name__}: {exc}") from exc
    is_tiny = description.startswith(TINY_MODEL)
    report.ok(f"model {description} ({time.perf_counter() - t:.1f} s)")

    from samlabel.gui.app import create_main_window
    from samlabel.gui.settings import AppSettings

    t = time.perf_counter()
    # Settings in the temporary folder: the smoke test leaves the user's settings alone.
    settings = AppSettings(workdir / "settings.ini")
    window = create_main_window(path=str(image_path), device=device, sam_model=sam, settings=settings)
    # Connect before the event loop runs: the embedding arrives through it, never earlier.
    embedded = SignalWaiter(window.embeddingReady, errors)
    shown = SignalWaiter(window.predictionShown, errors)
    window.show()
    report.ok(f"window ({time.perf_counter() - t:.1f} s)")
    try:
        try:
            (key,) = embedded.wait(timeout)
        except TimeoutError as exc:
            raise SmokeFailure(f"embedding: {exc} (no embeddingReady signal)") from None
        report.ok(f"embedding in {time.perf_counter() - t:.2f} s ({key})")

        from PIL import Image

        with Image.open(image_path) as im:
            width, height = im.size
        points = np.array([[width / 2.0, height / 2.0]], dtype=np.float32)
        labels = np.array([1], dtype=np.int32)
        t = time.perf_counter()
        before = len(shown.received)
        window.prompt_points(points, labels)
        try:
            (result,) = shown.wait(timeout, count=before + 1)
        except TimeoutError as exc:
            raise SmokeFailure(f"prediction: {exc} (no predictionShown signal)") from None
        seconds = time.perf_counter() - t
        report.ok(f"prediction in {seconds:.2f} s: {check_mask(_mask_of(result), require_foreground=not is_tiny)}")
    finally:
        embedded.disconnect()
        shown.disconnect()
        window.close()  # saves (into the temporary folder) and stops the worker threads
        shutdown = getattr(window, "shutdown", None)
        if callable(shutdown):
            shutdown()
        window.deleteLater()
        app.processEvents()
    if errors:
        raise SmokeFailure(f"an exception escaped a Qt slot:\n{errors[0]}")
    report.ok("window closed")


def _qt_version() -> str:
    import PySide6

    return PySide6.__version__


def run_smoke_test(model: Optional[str] = None, checkpoint: Optional[str] = None,
                   device: Optional[str] = None) -> int:
    """Run the smoke test; 0 on success, 1 (after printing ``FAIL: ...``) otherwise."""
    _configure_platform()
    report = _Report()
    errors: list[str] = []
    old_hook = sys.excepthook

    def hook(exc_type, exc, tb) -> None:  # exceptions raised inside Qt slots land here
        errors.append("".join(traceback.format_exception(exc_type, exc, tb)))
        old_hook(exc_type, exc, tb)

    sys.excepthook = hook
    workdir = Path(tempfile.mkdtemp(prefix="samlabel-smoke-"))
    t0 = time.perf_counter()
    try:
        _run_steps(report, model, checkpoint, device, workdir, errors)
    except SmokeFailure as exc:
        report.fail(str(exc))
        return 1
    except Exception as exc:  # anything else is a failure of the app, reported with its traceback
        traceback.print_exc()
        report.fail(f"{type(exc).__name__}: {exc}")
        return 1
    finally:
        sys.excepthook = old_hook
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"smoke test passed in {time.perf_counter() - t0:.1f} s", flush=True)
    return 0
