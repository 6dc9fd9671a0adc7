"""SAM 2.1 in the app: the Download dialog lists the four SAM 2.1 models with their official
sizes; downloading one from a local HTTP server on 127.0.0.1 (a random-weight checkpoint in
Meta's ``{"model": state_dict}`` format) verifies it; choosing it loads it through
``build_sam``; a picked file's model is recognised from its name; the status bar names the
model ("SAM 2.1 Hiera tiny"); a model without a known official hash says so."""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import threading
from pathlib import Path

import pytest
import torch

from samlabel.gui.dialogs.download_dialog import DEFAULT_MODELS, DownloadModelDialog, model_info
from samlabel.gui.model_manager import ModelLoader, choose_model
from samlabel.gui.model_status import ModelState, ModelStatus
from samlabel.sam.modeling.sam2 import config as sam2_config
from samlabel.sam.modeling.sam2.build import build_sam2_model
from samlabel.sam.modeling.sam2.config import FpnConfig, HieraConfig

NAME = "sam2.1_hiera_tiny"
FILENAME = "sam2.1_hiera_tiny.pt"
SAM21 = ("sam2.1_hiera_tiny", "sam2.1_hiera_small", "sam2.1_hiera_base_plus", "sam2.1_hiera_large")


def _small(**fields):
    trunk = HieraConfig(embed_dim=16, num_heads=2, stages=(1, 2, 3, 1), global_att_blocks=(4,),
                        window_pos_embed_bkg_spatial_size=(7, 7))
    return dataclasses.replace(sam2_config.SAM2_CONFIGS[NAME], trunk=trunk, neck=FpnConfig(d_model=32), **fields)


@pytest.fixture(scope="module")
def payload(tmp_path_factory) -> bytes:
    torch.manual_seed(1)
    path = tmp_path_factory.mktemp("sam2gui") / FILENAME
    torch.save({"model": build_sam2_model(_small()).state_dict()}, path)
    return path.read_bytes()


@pytest.fixture
def registered(monkeypatch, payload):
    """``registered(sha256=...)``: the small config stands for sam2.1_hiera_tiny (its official
    URL and name), with the payload's size and the given SHA-256 (default: the payload's)."""

    def register(sha256: str | None = hashlib.sha256(payload).hexdigest()):
        monkeypatch.setitem(sam2_config.SAM2_CONFIGS, NAME,
                            _small(checkpoint_sha256=sha256, checkpoint_size=len(payload)))

    register()
    return register


@pytest.fixture
def server(payload):
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            if self.path != f"/{FILENAME}":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/{FILENAME}"
    httpd.shutdown()
    httpd.server_close()


def _dialog(qtbot, **kwargs):
    dialog = DownloadModelDialog(**kwargs)
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def _rows(dialog) -> dict[str, str]:
    from PySide6.QtCore import Qt

    items = (dialog.model_list.item(r) for r in range(dialog.model_list.count()))
    return {item.data(Qt.ItemDataRole.UserRole): item.text() for item in items}


# ---------------------------------------------------------------- the dialog lists them


def test_the_dialog_lists_the_four_sam21_models_beside_sam1(qtbot, tmp_path):
    assert DEFAULT_MODELS == ("vit_t", "vit_b", "vit_l", "vit_h", *SAM21)
    dialog = _dialog(qtbot, current="vit_t", directory=tmp_path)
    rows = _rows(dialog)
    assert list(rows) == list(DEFAULT_MODELS)
    assert rows["sam2.1_hiera_tiny"].startswith("SAM 2.1 Hiera tiny (sam2.1_hiera_tiny) · 156.0 MB\n")
    assert rows["sam2.1_hiera_small"].startswith("SAM 2.1 Hiera small (sam2.1_hiera_small) · 184.4 MB\n")
    assert rows["sam2.1_hiera_base_plus"].startswith("SAM 2.1 Hiera base+ (sam2.1_hiera_base_plus) · 323.6 MB\n")
    assert rows["sam2.1_hiera_large"].startswith("SAM 2.1 Hiera large (sam2.1_hiera_large) · 898.1 MB\n")
    assert rows["vit_b"].startswith("vit_b · 375.0 MB\n")  # SAM 1 rows as before
    assert not any("unverified" in text for text in rows.values())  # every official hash is known
    dialog.select_model("sam2.1_hiera_large")
    assert dialog.model_name() == "sam2.1_hiera_large" and dialog.size_label.text() == "898.1 MB"
    description, size, exact = model_info("sam2.1_hiera_base_plus")
    assert exact and size == 323_606_802 and description.startswith("SAM 2.1 with sharper masks")
    model_list = dialog.model_list  # every row shown, none squashed
    shown = sum(model_list.visualItemRect(model_list.item(r)).height() for r in range(model_list.count()))
    assert model_list.viewport().height() >= shown


def test_a_model_without_a_known_hash_says_so(qtbot, tmp_path, registered, server):
    registered(sha256=None)
    dialog = _dialog(qtbot, current=NAME, directory=tmp_path, url=server)
    assert "SHA-256 unverified" in _rows(dialog)[NAME]
    assert "SHA-256 unverified" in dialog.size_label.text()
    assert "SHA-256 unverified" not in _rows(dialog)["sam2.1_hiera_small"]
    with qtbot.waitSignal(dialog.downloaded, timeout=60000) as blocker:  # checked by size and loading
        dialog.start()
    assert dialog.status_label.text() == (f"Saved to {blocker.args[0]} (SHA-256 unverified, no official hash is "
                                          "known; checked its size and that it loads)")


# ---------------------------------------------------------------- download, verify, load


def test_download_verifies_then_the_model_loads_through_build_sam(qtbot, tmp_path, registered, server, payload):
    dialog = _dialog(qtbot, current=NAME, directory=tmp_path, url=server)
    with qtbot.waitSignal(dialog.downloaded, timeout=60000) as blocker:
        dialog.download_button.click()
    path = Path(blocker.args[0])
    assert path == tmp_path / FILENAME and path.read_bytes() == payload
    assert dialog.status_label.text() == f"Saved to {path} (verified by its hash)"
    assert "· downloaded" in _rows(dialog)[NAME]

    choice = choose_model(NAME, checkpoint=path, device="cpu", user_file=False)  # as on_checkpoint_downloaded
    assert choice.available and choice.message == f"Model SAM 2.1 Hiera tiny ({FILENAME}) on cpu"
    loader = ModelLoader(choice)
    results = []
    loader.loaded.connect(results.append)
    loader.failed.connect(results.append)
    with qtbot.waitSignal(loader.finished, timeout=60000):
        loader.start()
    qtbot.waitUntil(lambda: len(results) == 1, timeout=10000)
    model = results[0]
    assert not isinstance(model, str), model
    assert model.model_id == f"{NAME}:{hashlib.sha256(payload).hexdigest()[:16]}"

    text, tip = ModelStatus.ready(choice).indicator("cpu")
    assert text == "Model: SAM 2.1 Hiera tiny (cpu)"
    assert tip.endswith(f"Weights: {path} (official checkpoint, verified)")


def test_a_downloaded_file_that_is_not_the_official_one_is_not_loaded(qtbot, tmp_path, registered, payload):
    registered(sha256="0" * 64)  # the official hash differs from the file's
    path = tmp_path / FILENAME
    path.write_bytes(payload)
    loader = ModelLoader(choose_model(NAME, checkpoint=path, device="cpu", user_file=False))
    with qtbot.waitSignal(loader.failed, timeout=60000) as blocker:
        loader.start()
    loader.wait()
    assert blocker.args[0].startswith("Not loading SAM 2.1 Hiera tiny: ")
    assert "is not the official sam2.1_hiera_tiny checkpoint (SHA-256 mismatch)" in blocker.args[0]


def test_status_texts_name_the_model(tmp_path, registered):
    choice = choose_model(NAME, checkpoint=tmp_path / FILENAME, device="cpu", user_file=True)
    loading = ModelStatus.loading(choice)
    assert loading.indicator()[0] == "Loading SAM 2.1 Hiera tiny…"
    assert loading.why_unavailable("Segment everything") == (
        "Segment everything: the SAM 2.1 Hiera tiny model is still loading — try again in a moment.")
    failed = ModelStatus.failed(choice, "bad file")
    assert failed.indicator()[0] == "AI off: SAM 2.1 Hiera tiny did not load"
    ready = ModelStatus(ModelState.READY, NAME, "", tmp_path / FILENAME, user_file=True)
    assert ready.indicator("cpu")[0] == f"Model: SAM 2.1 Hiera tiny (cpu, your file: {FILENAME})"
    assert ModelStatus(ModelState.READY, "vit_b").indicator("cpu")[0] == "Model: vit_b (cpu)"  # unchanged


def test_an_official_file_without_a_known_hash_is_shown_as_unverified(tmp_path, registered, payload):
    registered(sha256=None)
    path = tmp_path / FILENAME
    path.write_bytes(payload)
    _, tip = ModelStatus(ModelState.READY, NAME, "", path).indicator("cpu")
    assert tip.endswith("(official download; size checked, SHA-256 unverified: no official hash is known)")


def test_choosing_a_sam21_model_without_a_download(tmp_path, monkeypatch, registered, payload):
    monkeypatch.setenv("SAMLABEL_CHECKPOINT_DIR", str(tmp_path))
    none = choose_model(NAME, device="cpu")
    assert not none.available and none.reason == "no SAM 2.1 Hiera tiny checkpoint found"
    assert "Model ▸ Download model…" in none.message and "'samlabel download sam2.1_hiera_tiny'" in none.message
    (tmp_path / FILENAME).write_bytes(b"short")
    wrong = choose_model(NAME, device="cpu")
    assert not wrong.available and wrong.wrong_file == tmp_path / FILENAME
    assert ModelStatus.off(wrong).indicator()[0] == f"AI off: ⚠ {FILENAME} is not the official SAM 2.1 Hiera tiny file"
    (tmp_path / FILENAME).write_bytes(payload)
    found = choose_model(NAME, device="cpu", saved_model="vit_t")
    assert found.available and found.checkpoint == tmp_path / FILENAME and not found.user_file
    saved = choose_model(device="cpu", saved_model=NAME)  # the saved setting names it
    assert saved.name == NAME and saved.available


# ---------------------------------------------------------------- the window


def test_the_window_recognises_a_picked_sam21_file_and_loads_it(make_window, qtbot, tmp_path, registered, payload):
    win = make_window()
    path = tmp_path / "picked" / "sam2.1_hiera_tiny_finetuned.pt"
    path.parent.mkdir()
    path.write_bytes(payload)
    asked = []
    win._ask_model_name = lambda *args: asked.append(args) or None
    loaded = []
    win.set_model = loaded.append  # the model reaches the window (the AI side is tested elsewhere)
    assert win.load_checkpoint_file(str(path))
    assert not asked  # the name said which model it is
    assert win.model_choice.name == NAME and win.model_choice.user_file
    qtbot.waitUntil(lambda: bool(loaded), timeout=60000)
    assert loaded[0].model_id.startswith(f"{NAME}:")
    win.model_status = win._status_for_model(loaded[0])
    win._show_model_status(loaded[0])
    assert win._model_status.text().startswith("Model: SAM 2.1 Hiera tiny (")
    assert "your file: sam2.1_hiera_tiny_finetuned.pt" in win._model_status.text()


def test_a_downloaded_sam21_model_is_chosen_and_remembered(make_window, qtbot, tmp_path, registered, payload):
    win = make_window()
    path = tmp_path / "dl" / FILENAME  # where the dialog saved it
    path.parent.mkdir()
    path.write_bytes(payload)
    loaded = []
    win.set_model = loaded.append
    win.on_checkpoint_downloaded(str(path))  # the dialog's downloaded(path) signal
    assert win.model_choice.name == NAME and not win.model_choice.user_file
    assert win._model_status.text() == "Loading SAM 2.1 Hiera tiny…"
    qtbot.waitUntil(lambda: bool(loaded), timeout=60000)
    assert loaded[0].model_id.startswith(f"{NAME}:")
    assert win.settings.model_name == NAME  # the next start chooses it


def test_opening_the_dialog_imports_no_torch(tmp_path):
    """Listing the SAM 2.1 models reads their registry without the SAM 2 model package (torch)."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent(f"""
        import os, sys
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        from PySide6.QtWidgets import QApplication
        app = QApplication([])
        from samlabel.gui.dialogs.download_dialog import DownloadModelDialog
        dialog = DownloadModelDialog(current="sam2.1_hiera_large", directory={str(tmp_path)!r})
        dialog.show()
        app.processEvents()
        print(dialog.model_list.count(), dialog.size_label.text().replace(" ", "_"), "torch" in sys.modules)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[-3:] == ["8", "898.1_MB", "False"]
