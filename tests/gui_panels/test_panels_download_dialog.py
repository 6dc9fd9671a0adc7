"""Download dialog against a local HTTP server: progress, success, 404 error, cancel."""

from __future__ import annotations

import functools
import hashlib
import urllib.request
from pathlib import Path

import pytest

from samlabel.gui.dialogs.download_dialog import DownloadModelDialog, format_bytes, model_info
from samlabel.sam.download import download_checkpoint

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
    (tmp_path / "sam_vit_b_01ec64.pth").write_bytes(b"x")
    dialog = _dialog(qtbot, current="vit_b", directory=tmp_path)
    assert "Already downloaded" in dialog.status_label.text()
    dialog.model_combo.setCurrentIndex(dialog.model_combo.findData("vit_l"))
    assert dialog.status_label.text() == ""


def test_cancel_stops_a_running_download(qtbot, tmp_path, server):
    dialog = _dialog(qtbot, directory=tmp_path, url=server.base + "/slow", download_fn=urllib_download)
    task = dialog.start()
    qtbot.waitUntil(lambda: "of" in dialog.status_label.text(), timeout=10000)
    with qtbot.waitSignal(task.cancelled, timeout=10000):
        dialog.cancel_button.click()
        server.release.set()
    assert "cancelled" in dialog.status_label.text()
    assert dialog.download_button.isEnabled()
