"""The large-image policy (``annotations.image_limits``) as ``load_image`` applies it."""

from __future__ import annotations

import os
import struct
import threading
import tracemalloc
import zlib

import numpy as np
import pytest
from PIL import Image

from samlabel.annotations.image_limits import MAX_PIXELS, ImageTooLargeError, check_pixels
from samlabel.annotations.image_source import ImageLoadError, load_image


def png_header_claiming(path, width, height):
    """A PNG whose header claims ``width`` x ``height`` (a few bytes of pixel data follow)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit grayscale
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))
    return path


def test_an_image_over_the_limit_is_refused_from_its_header(tmp_path):
    path = png_header_claiming(tmp_path / "bomb.png", 65535, 65535)
    with pytest.raises(ImageLoadError) as raised:
        load_image(path)
    text = str(raised.value)
    assert str(path) in text and "4,295 MP" in text and "up to 400 MP" in text and "tiles" in text
    # just past the limit, Pillow opens the header and our own check names the size
    with pytest.raises(ImageLoadError, match=r"20001 x 20000 pixels \(400 MP\)"):
        load_image(png_header_claiming(tmp_path / "just_over.png", 20001, 20000))


def test_the_limit_is_ours_not_pillows(tmp_path):
    # 210 MP is past Pillow's default bomb limit (179 MP) but within samlabel's policy
    path = png_header_claiming(tmp_path / "big.png", 15000, 14000)
    with Image.open(path) as img:  # no DecompressionBombError at open
        assert img.size == (15000, 14000)
    check_pixels(path, 15000, 14000)
    with pytest.raises(ImageTooLargeError):
        check_pixels(path, 20001, 20000)
    assert 20000 * 20000 == MAX_PIXELS


def test_loading_never_changes_pillows_process_wide_limit(tmp_path):
    before = Image.MAX_IMAGE_PIXELS
    assert before is None or before >= MAX_PIXELS
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "ok.png")
    seen = []

    def watch():
        for _ in range(2000):
            seen.append(Image.MAX_IMAGE_PIXELS)

    watcher = threading.Thread(target=watch)
    watcher.start()
    for _ in range(50):
        load_image(tmp_path / "ok.png")
    watcher.join()
    assert set(seen) == {before} and Image.MAX_IMAGE_PIXELS == before


def test_a_huge_file_that_is_not_an_image_is_not_read_whole(tmp_path):
    path = tmp_path / "sparse.png"
    with open(path, "wb") as f:
        f.truncate(1 << 30)  # 1 GiB, sparse: costs no disk
    tracemalloc.start()
    try:
        with pytest.raises(ImageLoadError, match="not an image"):
            load_image(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20, peak


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are a POSIX thing")
def test_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    with pytest.raises(ImageLoadError, match="not a regular file"):
        load_image(fifo)


def test_a_normal_image_still_loads_with_the_same_hash_as_its_bytes(tmp_path):
    from samlabel.annotations.image_source import hash_bytes

    Image.fromarray(np.arange(48, dtype=np.uint8).reshape(4, 4, 3)).save(tmp_path / "a.png")
    source = load_image(tmp_path / "a.png")
    assert source.size == (4, 4)
    assert source.content_hash == hash_bytes((tmp_path / "a.png").read_bytes())
