"""``samlabel propagate`` / ``samlabel expand-video`` and samlabel.video.expand."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from samlabel.annotations.project import Project
from samlabel.cli import main
from samlabel.video.errors import VideoCancelled, VideoError
from samlabel.video.expand import expand_video
from samlabel.video.propagate import propagate

from video_testing import FRAME_HW, NUM_FRAMES, frame_pixels, make_sequence, source_annotation, write_video


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_errors_name_the_file(tmp_path, capsys):
    missing = tmp_path / "nowhere"
    code, _, err = run_cli(capsys, "propagate", str(missing), "--from-frame", "0")
    assert code == 1 and str(missing) in err

    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run_cli(capsys, "propagate", str(empty), "--from-frame", "0")
    assert code == 1 and "no frames" in err and str(empty) in err

    unlabelled = make_sequence(tmp_path / "unlabelled", labelled=None)
    code, _, err = run_cli(capsys, "propagate", str(unlabelled), "--from-frame", "0")
    assert code == 1 and "has no shapes" in err and str(unlabelled / "frame_000000.json") in err

    seq = make_sequence(tmp_path / "seq")
    code, _, err = run_cli(capsys, "propagate", str(seq), "--from-frame", "9")
    assert code == 1 and "no frame 9" in err
    code, _, err = run_cli(capsys, "propagate", str(seq), "--from-frame", "nope.jpg")
    assert code == 1 and "nope.jpg" in err
    code, _, err = run_cli(capsys, "propagate", str(seq), "--from-frame", "0", "--checkpoint", str(tmp_path / "x.pt"))
    assert code == 1 and "x.pt" in err

    (seq / "frame_000002.json").write_text("{broken", encoding="utf-8")
    code, _, err = run_cli(capsys, "propagate", str(seq), "--from-frame", "0")
    assert code == 1 and str(seq / "frame_000002.json") in err
    (seq / "frame_000000.json").write_text("[]", encoding="utf-8")
    code, _, err = run_cli(capsys, "propagate", str(seq), "--from-frame", "0")
    assert code == 1 and str(seq / "frame_000000.json") in err
    assert not (seq / "frame_000001.json").exists()  # nothing written


def test_cli_without_a_checkpoint(sequence, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SAMLABEL_CHECKPOINT_DIR", str(tmp_path / "no_checkpoints"))
    code, _, err = run_cli(capsys, "propagate", str(sequence), "--from-frame", "0", "--model", "sam2.1_hiera_tiny")
    assert code == 1 and "samlabel download sam2.1_hiera_tiny" in err
    assert not (sequence / "frame_000001.json").exists()


def test_cli_rerun_of_a_finished_job_needs_no_model(sequence, small_predictor, capsys):
    propagate(sequence, 0, predictor=small_predictor, model_label="sam2.1_hiera_tiny")
    # --model: the default depends on the device (EdgeTAM on CPU: tests/video/test_edgetam_default.py)
    code, out, _ = run_cli(capsys, "propagate", str(sequence), "--from-frame", "frame_000000.jpg",
                           "--model", "sam2.1_hiera_tiny")
    assert code == 0 and f"{NUM_FRAMES - 1} already done" in out


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    path = write_video(tmp_path_factory.mktemp("video"))
    if path is None:
        pytest.skip("this OpenCV can write neither an mp4 ('mp4v') nor an avi ('MJPG')")
    return path


def test_expand_video(video, tmp_path):
    out = tmp_path / "frames"
    calls = []
    frames = expand_video(video, out, progress=lambda d, t, m="": calls.append((d, t)))
    assert [p.name for p in frames] == [f"frame_{i:06d}.jpg" for i in range(NUM_FRAMES)]
    assert Project(out).images == frames
    assert calls[-1][0] == NUM_FRAMES
    for i, path in enumerate(frames):
        rgb = np.asarray(Image.open(path).convert("RGB"), dtype=np.float64)
        assert rgb.shape[:2] == FRAME_HW
        assert np.abs(rgb - frame_pixels(i)).mean() < 12  # lossy codecs, but the same pictures
    assert [p.name for p in tmp_path.iterdir()] == ["frames"]  # no temporary folder left
    # every other frame, at most 2
    few = expand_video(video, tmp_path / "few", every=2, max_frames=2)
    assert len(few) == 2


def test_expand_video_is_atomic_and_checks_its_inputs(video, tmp_path):
    out = tmp_path / "frames"
    polls = []
    with pytest.raises(VideoCancelled):
        expand_video(video, out, cancel=lambda: polls.append(1) or len(polls) > 2)
    assert not out.exists() and list(tmp_path.iterdir()) == []
    out.mkdir()
    (out / "keep.txt").write_text("x")
    with pytest.raises(VideoError, match="already exists"):
        expand_video(video, out)
    not_video = tmp_path / "notes.txt"
    not_video.write_text("x")
    with pytest.raises(VideoError, match="not a video file"):
        expand_video(not_video, tmp_path / "o")
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video at all")
    with pytest.raises(VideoError, match="broken.mp4"):
        expand_video(broken, tmp_path / "o2")
    assert not (tmp_path / "o2").exists()


def test_expand_then_propagate(video, tmp_path, small_predictor, capsys):
    out = tmp_path / "seq"
    code, stdout, _ = run_cli(capsys, "expand-video", str(video), str(out))
    assert code == 0 and f"wrote {NUM_FRAMES} frame(s)" in stdout
    project = Project(out)
    project.save(source_annotation(project.images[0].name), project.images[0])
    report = propagate(out, 0, predictor=small_predictor, model_label="x")
    assert report.written == NUM_FRAMES - 1
    assert all(project.sidecar_path(p).is_file() for p in project.images)
    code, _, err = run_cli(capsys, "expand-video", str(tmp_path / "missing.mp4"), str(tmp_path / "o"))
    assert code == 1 and "missing.mp4" in err
