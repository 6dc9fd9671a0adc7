"""Download dialog against a local HTTP server: progress, success, 404 error, cancel."""

from __future__ import annotations

import importlib.util
import sys
import urllib.request
from pathlib import Path

import pytest

from samlabel.gui.dialogs.download_dialog import DownloadModelDialog, format_bytes, model_info

sys.path.insert(0, str(Path(__file__).parent))
from http_fixture import LocalServer  # noqa: E402

PAYLOAD = bytes(range(256)) * 800  # 204800 bytes: several progress reports


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
def server():
    with LocalServer({"/model.pth": PAYLOAD}) as srv:
        yield srv


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
                     download_fn=urllib_download)
    assert "375.0 MB" in dialog.size_label.text()
    seen = []
    dialog.progress_bar.valueChanged.connect(seen.append)
    with qtbot.waitSignal(dialog.downloaded, timeout=10000) as blocker:
        dialog.download_button.click()
        assert not dialog.download_button.isEnabled() and dialog.cancel_button.isEnabled()
    path = Path(blocker.args[0])
    assert path.read_bytes() == PAYLOAD
    assert dialog.progress_bar.value() == dialog.progress_bar.maximum() == 1000
    assert seen and seen[-1] == 1000
    assert str(path) in dialog.status_label.text()
    assert dialog.download_button.isEnabled() and not dialog.cancel_button.isEnabled()


def test_http_404_shows_the_error(qtbot, tmp_path, server):
    dialog = _dialog(qtbot, directory=tmp_path, url=server.base + "/missing.pth", download_fn=urllib_download)
    with qtbot.waitSignal(dialog.failed, timeout=10000) as blocker:
        dialog.start()
    assert "404" in blocker.args[0]
    assert "404" in dialog.status_label.text() and "failed" in dialog.status_label.text()
    assert dialog.download_button.isEnabled() and dialog.download_button.text() == "Retry"


def test_cancel_stops_a_running_download(qtbot, tmp_path, server):
    dialog = _dialog(qtbot, directory=tmp_path, url=server.base + "/slow", download_fn=urllib_download)
    task = dialog.start()
    qtbot.waitUntil(lambda: "of" in dialog.status_label.text(), timeout=10000)
    with qtbot.waitSignal(task.cancelled, timeout=10000):
        dialog.cancel_button.click()
        server.release.set()
    assert "cancelled" in dialog.status_label.text()
    assert dialog.download_button.isEnabled()
