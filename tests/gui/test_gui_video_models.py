"""Which video model the app propagates with, and Video > Download video model….

EdgeTAM on a CPU (about four times faster there than SAM 2.1 tiny) when it is downloaded,
SAM 2.1 tiny with CUDA; else the window's own SAM 2.1 model; else whichever video model is
downloaded; none: an error naming the download."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from samlabel.gui.video_controller import video_model_for
from samlabel.video.errors import VideoError


def finder(*present):
    return lambda name: Path(f"/ckpt/{name}.pt") if name in present else None


CPU = SimpleNamespace(name="vit_t", checkpoint=None, device="cpu")
SAM2_WINDOW = SimpleNamespace(name="sam2.1_hiera_small", checkpoint="/mine/small.pt", device="cpu")


@pytest.mark.parametrize("choice, present, expected", [
    (CPU, ("edgetam", "sam2.1_hiera_tiny"), ("edgetam", None, "cpu")),  # the CPU default
    (SAM2_WINDOW, ("edgetam",), ("edgetam", None, "cpu")),  # faster than the window's SAM 2.1 on a CPU
    (SAM2_WINDOW, (), ("sam2.1_hiera_small", "/mine/small.pt", "cpu")),  # else the window's SAM 2.1
    (CPU, ("sam2.1_hiera_tiny",), ("sam2.1_hiera_tiny", None, "cpu")),  # else what is downloaded
    (SimpleNamespace(name="vit_b", checkpoint=None, device="cuda"), ("edgetam", "sam2.1_hiera_tiny"),
     ("sam2.1_hiera_tiny", None, "cuda")),  # with CUDA, SAM 2.1 tiny
    (SimpleNamespace(name="vit_b", checkpoint=None, device="cuda"), ("edgetam",), ("edgetam", None, "cuda")),
])
def test_the_video_model_is_chosen_by_device_then_window_then_what_is_downloaded(choice, present, expected):
    assert video_model_for(choice, find=finder(*present)) == expected


def test_no_video_model_names_the_download():
    with pytest.raises(VideoError) as err:
        video_model_for(CPU, find=finder())
    assert "Video ▸ Download video model…" in str(err.value) and "samlabel download edgetam" in str(err.value)


def test_the_video_menu_downloads_edgetam_or_sam21_tiny(qtbot, make_window, tmp_path, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    win = make_window()
    action = win.findChild(type(win.video.download_action), "action_download_video_model")
    assert action is win.video.download_action and action in win._video_menu.actions()
    action.trigger()
    dialog = win.video.download_dialog
    qtbot.waitUntil(dialog.isVisible, timeout=5000)
    names = [dialog.model_list.item(i).data(256) for i in range(dialog.model_list.count())]
    assert names == ["edgetam", "sam2.1_hiera_tiny"]
    assert dialog.model_name() == "edgetam"
    assert "EdgeTAM" in dialog.model_list.item(0).text() and not dialog.load_button.isVisible()
    dialog.close()
