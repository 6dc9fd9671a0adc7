"""Batch export with broken image files: each is skipped and named with its problem; a
truncated image (whose header looks fine) never goes into the dataset."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from samlabel.annotations import AnnotationFileError
from samlabel.annotations.project import check_image_decodes, image_size
from samlabel.cli import main


def _jpeg_bytes(progressive: bool = False) -> bytes:
    img = (np.random.default_rng(2).random((120, 160, 3)) * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", progressive=progressive)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["coco", "labelme", "yolo", "voc", "masks", "cvat", "sa1b"])
def test_export_skips_broken_images_by_name(fmt, sample_project, tmp_path, capsys):
    root = sample_project.root
    data = _jpeg_bytes()
    (root / "bad_trunc.jpg").write_bytes(data[: len(data) * 2 // 3])
    (root / "bad_zero.png").write_bytes(b"")
    (root / "bad_text.jpg").write_text("not an image at all")
    out = tmp_path / "out"
    code = main(["export", "--format", fmt, str(root), str(out)])
    captured = capsys.readouterr()
    assert code == 2
    assert "bad_trunc.jpg: the image is truncated or corrupt" in captured.err
    assert "bad_zero.png: cannot read the image (the file is empty (0 bytes))" in captured.err
    assert "bad_text.jpg: cannot read the image (not an image in a format samlabel can read)" in captured.err
    assert "exported 3 image(s)" in captured.out
    written = {p.stem for p in out.rglob("*") if p.is_file()}
    assert not any(stem.startswith("bad_") for stem in written)
    assert {"img0", "img1", "img2"} <= written


@pytest.mark.parametrize("progressive", [False, True])
@pytest.mark.parametrize("keep", [0.5, 0.97])
def test_truncated_jpeg_passes_the_header_but_not_the_check(tmp_path, progressive, keep):
    data = _jpeg_bytes(progressive)
    path = tmp_path / "t.jpg"
    path.write_bytes(data[: int(len(data) * keep)])
    assert image_size(path) == (120, 160)  # the header is intact
    with pytest.raises(AnnotationFileError, match=r"t\.jpg: the image is truncated or corrupt"):
        check_image_decodes(path)
    path.write_bytes(data)
    check_image_decodes(path)  # the whole file is fine
