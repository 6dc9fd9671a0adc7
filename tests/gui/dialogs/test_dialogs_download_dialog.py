"""Download dialog against a local HTTP server: progress, success, 404 error, cancel; the
whole offline error shown; a wrong file at the download location named; Load checkpoint file…"""

from __future__ import annotations

import functools
import hashlib
import socket
import urllib.request
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from samlabel.gui.dialogs.download_dialog import DownloadModelDialog, format_bytes, model_info
from samlabel.sam.files.download import download_checkpoint

PAYLOAD = bytes(range(256)) * 12000  # ~3 MB: several 1 MiB chunks, so several progress reports
# The real download with the expected hashes of our payload instead of Meta's.
real_download = functools.partial(
    download_checkpoint, md5=hashlib.md5(PAYLOAD).hexdigest(), sha256=hashlib.sha256(PAYLOAD).hexdigest()
)


def urllib_download(name, directory=None, url=None, progress=None):
    """A stand-in with download_checkpoint's signature (for the dialog's own behaviour)."""
    target = Path(directory) / f"{name}.pth"
    with urllib.request.urlopen(url, timeout=10) as response:
        total = int(response.headers["Content-Length"])
        done = 0
        with open(target, "wb") as out:
            while chunk := response.read(8192):
                out.write(chunk)
                done += len(chunk)
                progress(done, total, name)
    return target


@pytest.fixture
def server(local_server):
    return local_server({"/model.pth": PAYLOAD})


def _dialog(qtbot, **kwargs):
    dialog = DownloadModelDialog(**kwargs)
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def test_model_sizes_are_shown():
    description, size, exact = model_info("vit_b")
    assert exact and size == 375042383 and description
    assert format_bytes(375042383) == "375.0 MB"
    assert format_bytes(512) == "512 B"
    assert format_bytes(None) == "unknown size"


def test_download_shows_progress_and_finishes(qtbot, tmp_path, server):
    dialog = _dialog(qtbot, current="vit_b", directory=tmp_path, url=server.base + "/model.pth",
                     download_fn=real_download)
    assert "375.0 MB" in dialog.size_label.text()
    reports = []
    with qtbot.waitSignal(dialog.downloaded, timeout=20000) as blocker:
        dialog.download_button.click()
        assert not dialog.download_button.isEnabled() and dialog.cancel_button.isEnabled()
        dialog.task.progress.connect(lambda done, total, message: reports.append((done, total)))
    path = Path(blocker.args[0])
    assert path == tmp_path / "sam_vit_b_01ec64.pth" and path.read_bytes() == PAYLOAD
    assert len(reports) >= 2 and reports[-1] == (len(PAYLOAD), len(PAYLOAD))
    assert dialog.progress_bar.value() == dialog.progress_bar.maximum() == 1000
    assert str(path) in dialog.status_label.text()
    assert dialog.download_button.isEnabled() and not dialog.cancel_button.isEnabled()


def test_http_404_shows_the_error(qtbot, tmp_path, server):
    dialog = _dialog(qtbot, current="vit_b", directory=tmp_path, url=server.base + "/missing.pth",
                     download_fn=real_download)
    with qtbot.waitSignal(dialog.failed, timeout=20000) as blocker:
        dialog.start()
    assert "404" in blocker.args[0] and "/missing.pth" in blocker.args[0]
    assert "404" in dialog.status_label.text() and "failed" in dialog.status_label.text()
    assert dialog.download_button.isEnabled() and dialog.download_button.text() == "Retry"


def test_existing_checkpoint_is_mentioned(qtbot, tmp_path):
    with open(tmp_path / "sam_vit_b_01ec64.pth", "wb") as f:
        f.truncate(375042383)  # sparse: the official size, nothing written
    dialog = _dialog(qtbot, current="vit_b", directory=tmp_path)
    assert "Already downloaded" in dialog.status_label.text()
    assert "downloaded" in dialog.model_list.currentItem().text()
    dialog.select_model("vit_l")
    assert dialog.model_name() == "vit_l" and dialog.status_label.text() == ""


def _closed_port_url(name: str) -> str:
    with socket.socket() as s:  # a port nobody listens on: "offline"
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/{name}"


def _label_has_room(label) -> bool:
    return label.isVisible() and label.height() >= label.heightForWidth(label.width())


def test_offline_failure_shows_the_whole_message_and_the_list_keeps_its_rows(qtbot, tmp_path):
    dialog = _dialog(qtbot, current="vit_t", directory=tmp_path, url=_closed_port_url("mobile_sam.pt"))
    list_height = dialog.model_list.height()
    with qtbot.waitSignal(dialog.failed, timeout=20000) as blocker:
        dialog.download_button.click()
    message = blocker.args[0]
    assert f"save it as {tmp_path / 'mobile_sam.pt'}" in message
    label = dialog.status_label
    assert label.text() == f"Download failed: {message}"
    assert label.wordWrap() and label.textInteractionFlags() & Qt.TextInteractionFlag.TextSelectableByMouse
    qtbot.waitUntil(lambda: _label_has_room(label), timeout=5000)  # every wrapped line fits
    assert label.heightForWidth(label.width()) > 3 * label.fontMetrics().lineSpacing()  # it is long
    assert dialog.height() >= dialog.needed_height() and dialog.minimumHeight() >= dialog.needed_height()
    model_list = dialog.model_list  # not squashed: every row shown
    assert model_list.height() == list_height
    rows = sum(model_list.visualItemRect(model_list.item(r)).height() for r in range(model_list.count()))
    assert model_list.viewport().height() >= rows
    dialog.resize(dialog.width(), 100)  # the user cannot squash it either
    assert dialog.height() >= dialog.needed_height() and _label_has_room(label)


def test_a_wrong_file_at_the_download_location_is_named_not_overwritten_advice(qtbot, tmp_path):
    wrong = tmp_path / "mobile_sam.pt"
    wrong.write_bytes(b"<html>rate limited</html>")
    dialog = _dialog(qtbot, current="vit_t", directory=tmp_path, url=_closed_port_url("mobile_sam.pt"))
    status = dialog.status_label.text()
    assert f"{wrong} exists but is not the official vit_t checkpoint (size 25 bytes, expected 40728226)" in status
    assert "Load checkpoint file…" in status
    assert "different file" in dialog.model_list.currentItem().text()
    with qtbot.waitSignal(dialog.failed, timeout=20000) as blocker:
        dialog.start()
    message = blocker.args[0]
    assert f"{wrong} exists but is not the official vit_t checkpoint (size 25 bytes, expected 40728226; " \
           "SHA-256 mismatch)" in message
    assert "save it as" not in message and "Delete it" in message and "your own file" in message
    assert message in dialog.status_label.text()
    qtbot.waitUntil(lambda: _label_has_room(dialog.status_label), timeout=5000)
    assert wrong.read_bytes() == b"<html>rate limited</html>"  # left alone when nothing replaced it


def test_load_checkpoint_file_button_hands_over_the_file_and_closes(qtbot, tmp_path, monkeypatch):
    mine = tmp_path / "my_weights.pth"
    mine.write_bytes(b"weights")
    dialog = _dialog(qtbot, current="vit_b", directory=tmp_path)
    monkeypatch.setattr(dialog, "_choose_file", lambda: str(mine))
    assert dialog.load_button.text() == "Load checkpoint file…" and dialog.load_button.isVisible()
    with qtbot.waitSignal(dialog.checkpointChosen, timeout=5000) as blocker:
        dialog.load_button.click()
    assert blocker.args == [str(mine), "vit_b"]
    assert not dialog.isVisible()


def test_cancelling_the_file_choice_keeps_the_dialog(qtbot, tmp_path, monkeypatch):
    dialog = _dialog(qtbot, directory=tmp_path)
    monkeypatch.setattr(dialog, "_choose_file", lambda: "")
    chosen = []
    dialog.checkpointChosen.connect(lambda *args: chosen.append(args))
    dialog.load_button.click()
    assert chosen == [] and dialog.isVisible()


def test_cancel_stops_a_running_download(qtbot, tmp_path, server):
    dialog = _dialog(qtbot, directory=tmp_path, url=server.base + "/slow", download_fn=urllib_download)
    task = dialog.start()
    qtbot.waitUntil(lambda: "of" in dialog.status_label.text(), timeout=10000)
    with qtbot.waitSignal(task.cancelled, timeout=10000):
        dialog.cancel_button.click()
        server.release.set()
    assert "cancelled" in dialog.status_label.text()
    assert dialog.download_button.isEnabled()
