"""Expand a video file into a sequence folder of JPEG frames (``frame_000000.jpg`` ...).

Each frame then gets its own sidecar, like any image of a project. The frames are decoded
with OpenCV's ``VideoCapture`` and written into a temporary folder beside ``out_dir``
(``.OUT_DIR.expanding-<random>``), renamed to ``out_dir`` only once every frame is written:
a kill or a cancel leaves no half folder (a stale temporary folder of a killed run is
removed by the next expansion into the same place). ``out_dir`` must not exist yet, or be
an empty folder.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Optional, Union

from samlabel.video.errors import VideoCancelled, VideoError

VIDEO_EXTENSIONS = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v")
FRAME_PATTERN = "frame_{:06d}.jpg"
_TEMP_MARK = ".expanding-"


def _temp_prefix(out_dir: Path) -> str:
    return f".{out_dir.name}{_TEMP_MARK}"


def _remove_stale(out_dir: Path) -> None:
    for stale in out_dir.parent.glob(_temp_prefix(out_dir) + "*"):
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)


def expand_video(
    video: Union[str, os.PathLike],
    out_dir: Union[str, os.PathLike],
    quality: int = 95,
    every: int = 1,
    max_frames: Optional[int] = None,
    progress: Optional[Callable[..., None]] = None,
    cancel: Optional[Callable[[], bool]] = None,
) -> list[Path]:
    """Write the frames of ``video`` as JPEGs into the new folder ``out_dir``; returns their paths.

    Args:
        quality: JPEG quality (default 95).
        every: keep one frame in ``every`` (default 1: all).
        max_frames: at most this many frames written.
        progress: ``progress(done, total, message)`` after each frame (``total`` is the
            container's frame count, None when unknown); may raise to stop.
        cancel: polled between frames; True stops, removes the temporary folder and
            raises :class:`VideoCancelled`.

    Raises:
        VideoError: naming the file: not a video file, cannot be opened, no frame decoded,
            ``out_dir`` exists and is not empty, a frame cannot be written.
    """
    import cv2

    video = Path(video)
    out_dir = Path(out_dir)
    if not video.is_file():
        raise VideoError(f"{video}: no such video file")
    if video.suffix.lower() not in VIDEO_EXTENSIONS:
        raise VideoError(f"{video}: not a video file (expected one of {', '.join(VIDEO_EXTENSIONS)})")
    if every < 1:
        raise VideoError(f"every must be 1 or more, got {every}")
    if out_dir.exists() and not (out_dir.is_dir() and not any(out_dir.iterdir())):
        raise VideoError(f"{out_dir}: already exists (give a new folder, or an empty one)")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(out_dir)
    capture = cv2.VideoCapture(str(video))
    if not capture.isOpened():
        capture.release()
        raise VideoError(f"{video}: cannot open the video (not a video, or a codec OpenCV cannot decode)")
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    total = None if count <= 0 else (count + every - 1) // every
    if total is not None and max_frames is not None:
        total = min(total, max_frames)
    temp = Path(tempfile.mkdtemp(prefix=_temp_prefix(out_dir), dir=out_dir.parent))
    written: list[str] = []
    try:
        index = 0
        while max_frames is None or len(written) < max_frames:
            if cancel is not None and cancel():
                raise VideoCancelled(f"{video}: expansion cancelled; nothing was written to {out_dir}")
            ok, frame = capture.read()
            if not ok:
                break
            if index % every == 0:
                name = FRAME_PATTERN.format(len(written))
                if not cv2.imwrite(str(temp / name), frame, [cv2.IMWRITE_JPEG_QUALITY, int(quality)]):
                    raise VideoError(f"{temp / name}: cannot write the frame")
                written.append(name)
                if progress is not None:
                    progress(len(written), total, name)
            index += 1
        if not written:
            raise VideoError(f"{video}: no frame could be decoded")
        if out_dir.is_dir():
            out_dir.rmdir()  # empty (checked above)
        os.replace(temp, out_dir)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    finally:
        capture.release()
    return [out_dir / name for name in written]
