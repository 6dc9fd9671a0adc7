"""The first minutes of use (issue 19): loading a checkpoint file of one's own, no silent
loading of a wrong file at the official location, AI keys that say why nothing happens, an
image opened inside its folder, where the sample's annotations go, a title naming the file once."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from samlabel.gui.model_manager import ModelLoader, choose_model
from samlabel.gui.model_status import ModelState, ModelStatus
from samlabel.gui.save_location import SaveLocation
from samlabel.gui.tools import Tool
from samlabel.gui.window_files import window_title

HOW = "Model ▸ Download model… or Model ▸ Load checkpoint file…"


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    """test_tiny's weights in a file whose name says nothing about the model."""
    import torch

    from samlabel.sam.build import build_sam

    path = tmp_path_factory.mktemp("weights") / "my_weights.pth"
    torch.save(build_sam("test_tiny").state_dict(), path)
    return path


@pytest.fixture
def checkpoint_dir(tmp_path, monkeypatch):
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    monkeypatch.setenv("SAMLABEL_CHECKPOINT_DIR", str(folder))
    return folder


def _menu_action(win, menu_title: str, object_name: str):
    for menu_action in win.menuBar().actions():
        if menu_action.text().replace("&", "") == menu_title:
            for action in menu_action.menu().actions():
                if action.objectName() == object_name:
                    return action
    raise AssertionError(f"no {object_name} in the {menu_title} menu")


# ---------------------------------------------------------------------- plain logic
def test_window_title_names_the_file_once():
    assert window_title("coffee.jpg") == "coffee.jpg — samlabel"
    assert window_title("coffee.jpg", dirty=True) == "coffee.jpg* — samlabel"
    assert window_title(None) == "samlabel"


def test_model_status_messages_say_why_and_how(tmp_path):
    choice = choose_model("vit_b", checkpoint=tmp_path / "x.pth", device="cpu")  # missing file
    off = ModelStatus.off(choice)
    assert off.why_unavailable("Segment everything") == (
        f"Segment everything: no SAM model is loaded (checkpoint {tmp_path / 'x.pth'} does not exist). Get one: {HOW}"
    )
    loading = ModelStatus(ModelState.LOADING, "vit_b")
    assert loading.why_unavailable("The SAM tool") == (
        "The SAM tool: the vit_b model is still loading — try again in a moment.")
    failed = ModelStatus(ModelState.FAILED, "vit_b", "checkpoint x.pth is truncated.")
    assert failed.why_unavailable("Tab") == (
        f"Tab: no model — vit_b failed to load: checkpoint x.pth is truncated. Get one: {HOW}")
    assert ModelStatus(ModelState.READY, "vit_b").why_unavailable("Tab") is None


def test_a_user_file_is_shown_as_such(tmp_path):
    mine = tmp_path / "x.pth"
    mine.write_bytes(b"w")
    choice = choose_model("vit_b", checkpoint=mine, device="cpu")
    assert choice.user_file and choice.weights_text == f"your file: {mine}"
    text, tip = ModelStatus.ready(choice).indicator("cpu")
    assert text == "Model: vit_b (cpu, your file: x.pth)"
    assert f"your file {mine}" in tip
    downloaded = choose_model("vit_b", checkpoint=mine, device="cpu", user_file=False)
    assert not downloaded.user_file and "your file" not in ModelStatus.ready(downloaded).indicator("cpu")[0]


def test_a_wrong_file_at_the_official_location_is_not_chosen(checkpoint_dir):
    wrong = checkpoint_dir / "mobile_sam.pt"
    wrong.write_bytes(b"<html>rate limited</html>")
    choice = choose_model("vit_t", device="cpu")
    assert not choice.available
    problem = f"{wrong} exists but is not the official vit_t checkpoint (size 25 bytes, expected 40728226)"
    assert problem in choice.message
    assert "Load checkpoint file" in choice.message and "Delete it" in choice.message
    mine = choose_model("vit_t", checkpoint=wrong, device="cpu")  # the same file, as the user's own
    assert mine.available and mine.user_file


def test_an_official_sized_file_with_another_hash_is_refused_by_the_loader(qtbot, checkpoint_dir):
    fake = checkpoint_dir / "mobile_sam.pt"
    with open(fake, "wb") as f:
        f.truncate(40728226)  # the official size: passes the free check
    choice = choose_model("vit_t", device="cpu")
    assert choice.available and not choice.user_file
    loader = ModelLoader(choice)
    loaded = []
    loader.loaded.connect(loaded.append)
    with qtbot.waitSignal(loader.failed, timeout=30000) as blocker:
        loader.start()
    loader.wait()
    assert blocker.args[0].startswith(f"Not loading vit_t: {fake} exists but is not the official vit_t checkpoint")
    assert "SHA-256 mismatch" in blocker.args[0] and loaded == []


def test_save_location_words(tmp_path, monkeypatch):
    monkeypatch.setenv("SAMLABEL_CACHE_DIR", str(tmp_path / "cache"))
    sample = tmp_path / "cache" / "sample" / "coffee.jpg"
    where = SaveLocation.of(sample.with_suffix(".json"), sample)
    assert where.sample and where.caption().startswith("Sample image")
    assert str(sample.with_suffix(".json")) in where.status_message()
    own = SaveLocation.of(tmp_path / "a.json", tmp_path / "a.png")
    assert not own.sample and own.caption() == "Annotations of a.png are saved as a.json in:"


# ---------------------------------------------------------------------- the window
def test_ai_keys_without_a_model_say_why_nothing_happened(qtbot, make_window, image_folder):
    win = make_window(image_folder, model_name="vit_b")  # the test checkpoint dir is empty
    bar = win.statusBar()
    qtbot.keyClick(win.canvas, Qt.Key.Key_S)
    assert win.tool is Tool.POLYGON
    assert bar.currentMessage() == (
        f"The SAM tool (S): no SAM model is loaded (no vit_b checkpoint found). Get one: {HOW}")
    bar.clearMessage()
    qtbot.keyClick(win.canvas, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert bar.currentMessage().startswith("Segment everything (Ctrl+Shift+A): no SAM model is loaded")
    bar.clearMessage()
    refine = win.actions_by_id["toggle_refine"].isChecked()
    qtbot.keyClick(win.canvas, Qt.Key.Key_R)
    assert "no SAM model is loaded" in bar.currentMessage()
    assert win.actions_by_id["toggle_refine"].isChecked() == refine


def test_load_checkpoint_file_from_the_model_menu(qtbot, make_window, image_folder, tiny_checkpoint, monkeypatch):
    win = make_window(image_folder, model_name="vit_b")
    action = _menu_action(win, "Model", "action_load_checkpoint")
    assert action.text().replace("&", "") == "Load checkpoint file…"
    asked = []
    monkeypatch.setattr(win, "_choose_checkpoint_file", lambda: str(tiny_checkpoint))
    monkeypatch.setattr(win, "_ask_model_name", lambda path, default: asked.append((path, default)) or "test_tiny")
    with qtbot.waitSignal(win.embeddingReady, timeout=60000):  # loaded through ModelLoader, then used
        action.trigger()
        assert win.model_status.state is ModelState.LOADING
        assert "Loading test_tiny" in win._model_status.text()
    assert asked == [(str(tiny_checkpoint), "vit_b")]  # the file name does not tell: asked, current kind first
    assert win.model is not None and win.model_choice.user_file
    assert win.model_choice.checkpoint == tiny_checkpoint
    assert "your file: my_weights.pth" in win._model_status.text()
    assert f"your file {tiny_checkpoint}" in win._model_status.toolTip()
    assert win.tool is Tool.SAM


def test_the_download_dialog_button_loads_a_file_through_the_window(qtbot, make_window, image_folder,
                                                                   tiny_checkpoint, monkeypatch):
    win = make_window(image_folder, model_name="vit_b")
    dialog = win.show_download_dialog()
    monkeypatch.setattr(dialog, "_choose_file", lambda: str(tiny_checkpoint))
    monkeypatch.setattr(win, "_ask_model_name", lambda path, default: "test_tiny" if default == "vit_b" else None)
    with qtbot.waitSignal(win.embeddingReady, timeout=60000):
        dialog.load_button.click()
    assert not dialog.isVisible()
    assert win.model_choice.user_file and "your file" in win._model_status.text()


def test_a_checkpoint_given_on_the_command_line_is_your_file(qtbot, make_window, image_folder, tiny_checkpoint):
    win = make_window(image_folder, model_name="test_tiny", checkpoint=str(tiny_checkpoint))
    qtbot.waitUntil(lambda: win.model is not None, timeout=60000)
    assert win._model_status.text() == f"Model: test_tiny ({win.model.device}, your file: my_weights.pth)"


def test_a_wrong_file_at_the_official_location_leaves_ai_off_and_says_so(qtbot, make_window, image_folder,
                                                                         checkpoint_dir):
    (checkpoint_dir / "mobile_sam.pt").write_bytes(b"x" * 10)
    win = make_window(image_folder, model_name="vit_t")
    assert win.model is None
    assert win._model_status.text() == "AI off: ⚠ mobile_sam.pt is not the official vit_t file"
    assert "is not the official vit_t checkpoint" in win._model_status.toolTip()
    qtbot.keyClick(win.canvas, Qt.Key.Key_S)
    assert "is not the official vit_t checkpoint (size 10 bytes" in win.statusBar().currentMessage()


def test_an_image_opens_inside_its_folder(qtbot, make_window, image_folder):
    win = make_window(image_folder / "b.png", image_in_folder=True)
    assert win.image_path == image_folder / "b.png"  # the chosen image first
    assert [p.name for p in win.project.images] == ["a.png", "b.png"]
    qtbot.keyClick(win.canvas, Qt.Key.Key_A)
    assert win.image_path == image_folder / "a.png"
    qtbot.keyClick(win.canvas, Qt.Key.Key_D)
    assert win.image_path == image_folder / "b.png"
    assert win.files_dock.current_path() == str(image_folder / "b.png")


def test_samlabel_image_opens_it_inside_its_folder(monkeypatch, qapp, image_folder):
    """run_app (``samlabel IMAGE``) asks for the folder; the window part is tested above."""
    import samlabel.gui.app as gui_app
    import samlabel.gui.main_thread_gc as main_thread_gc
    import samlabel.sam.runtime.cpu as runtime

    seen = {}

    class FakeWindow:
        def show(self):
            pass

        def shutdown(self):
            pass

    class FakeApp:
        def exec(self):
            return 0

    class FakeGC:
        def __init__(self, parent=None):
            pass

        def install(self):
            return self

        def uninstall(self):
            pass

    monkeypatch.setattr(runtime, "configure_runtime", lambda: None)
    monkeypatch.setattr(main_thread_gc, "MainThreadGC", FakeGC)
    monkeypatch.setattr(gui_app, "_ensure_app", lambda: FakeApp())
    monkeypatch.setattr(gui_app, "create_main_window", lambda **kw: seen.update(kw) or FakeWindow())
    assert gui_app.run_app(path=str(image_folder / "b.png")) == 0
    assert seen["path"] == str(image_folder / "b.png") and seen["image_in_folder"] is True


def test_where_the_sample_is_annotated_is_shown(qtbot, make_window):
    from samlabel.gui.app import default_image

    sample = default_image()  # copied into this test's cache folder (make_window sets it)
    win = make_window(sample, model_name="vit_b")
    sidecar = sample.with_suffix(".json")
    dock = win.files_dock
    assert dock.save_caption.isVisible() and dock.save_path.isVisible()
    assert dock.save_caption.text() == "Sample image (a copy): your annotations are saved as coffee.json in:"
    assert dock.save_path.text() == str(sidecar.parent) and dock.save_path.isReadOnly()
    assert dock.save_path.toolTip() == str(sidecar)
    assert str(sidecar) in win.statusBar().currentMessage()
    assert win.windowTitle() == f"{sample.name} — samlabel"


def test_the_file_list_says_where_annotations_go(make_window, image_folder):
    win = make_window(image_folder)
    assert win.files_dock.save_caption.text() == "Annotations of a.png are saved as a.json in:"
    assert win.files_dock.save_path.text() == str(image_folder)
    win.next_image()
    assert win.files_dock.save_caption.text() == "Annotations of b.png are saved as b.json in:"
    assert win.files_dock.save_path.toolTip() == str(image_folder / "b.json")


def test_a_superseded_load_does_not_undo_the_newer_one(qtbot, make_window, image_folder, tiny_checkpoint,
                                                        tmp_path, monkeypatch):
    import threading

    import samlabel.sam.build as build
    from PySide6.QtCore import QCoreApplication

    slow = tmp_path / "slow_vit_b.pth"
    slow.write_bytes(b"not loaded before the gate opens")
    gate = threading.Event()
    real_build = build.build_sam

    def build_sam(name, checkpoint=None, device=None):
        if checkpoint is not None and Path(checkpoint) == slow:
            assert gate.wait(30)
            raise RuntimeError("the slow file failed")
        return real_build(name, checkpoint=checkpoint, device=device)

    monkeypatch.setattr(build, "build_sam", build_sam)
    win = make_window(image_folder, model_name="vit_b")
    assert win.load_checkpoint_file(str(slow))  # vit_b, from its name
    first = win._model_loader
    monkeypatch.setattr(win, "_ask_model_name", lambda path, default: "test_tiny")
    with qtbot.waitSignal(win.embeddingReady, timeout=60000):
        win.load_checkpoint_file(str(tiny_checkpoint))
    gate.set()
    assert first.wait(30000)
    QCoreApplication.sendPostedEvents()  # the old loader's failure, delivered now
    assert win.model is not None and win.model_status.state is ModelState.READY
    assert "the slow file failed" not in win._model_status.toolTip()


def test_a_superseded_load_stops_its_first_export(qtbot, make_window, image_folder, tiny_checkpoint, monkeypatch):
    """Switching models while the first one is still being exported or quantised (a minute or two
    of both cores) interrupts that work: the old loader ends without a result."""
    import threading

    import samlabel.sam.fast.encoder_choice as encoder_choice
    from samlabel.sam.errors import Cancelled

    real = encoder_choice.choose_encoder
    exporting, interrupted, stopped = threading.Event(), threading.Event(), threading.Event()
    real_interrupt = ModelLoader.requestInterruption

    def request_interruption(loader):
        real_interrupt(loader)
        interrupted.set()

    def choose_encoder(model, precision="fp32", engine="auto", device="cpu", progress=None, cancel=None, threads=None):
        if not exporting.is_set():  # the first load: an export that ends when its cancel() says so
            exporting.set()
            assert interrupted.wait(30), "the superseded export was never interrupted"
            assert cancel()  # what the real export asks between its steps
            stopped.set()
            raise Cancelled("the export was cancelled")
        return real(model, precision, engine, device=device, progress=progress, cancel=cancel, threads=threads)

    monkeypatch.setattr(ModelLoader, "requestInterruption", request_interruption)
    monkeypatch.setattr(encoder_choice, "choose_encoder", choose_encoder)
    win = make_window(image_folder, model_name="vit_b")
    monkeypatch.setattr(win, "_ask_model_name", lambda path, default: "test_tiny")
    assert win.load_checkpoint_file(str(tiny_checkpoint))
    first = win._model_loader
    qtbot.waitUntil(exporting.is_set, timeout=60000)
    with qtbot.waitSignal(win.embeddingReady, timeout=60000):
        win.load_checkpoint_file(str(tiny_checkpoint))  # the user picks again: a second load
    assert first.wait(10000) and stopped.is_set()
    assert win.model is not None and win.model_status.state is ModelState.READY
