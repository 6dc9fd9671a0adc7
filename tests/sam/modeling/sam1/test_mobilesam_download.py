"""``samlabel download vit_t`` goes through the shared download code to the official file."""

from __future__ import annotations

import hashlib

import pytest

from samlabel.cli import main
from samlabel.sam.config import get_config
from samlabel.sam.files.download import download_checkpoint, find_checkpoint
from samlabel.sam.errors import DownloadError

OFFICIAL_URL = (
    "https://github.com/ChaoningZhang/MobileSAM/raw/f706ad9c4eb7f219c00d9050e46328518ffb65d2/weights/mobile_sam.pt"
)
# Recorded by many independent projects that verify the official file.
OFFICIAL_SHA256 = "6dbb90523a35330fedd7f1d3dfc66f995213d81b29a5ca8108dbcdd4e37d6c2f"


def test_vit_t_resolves_to_the_official_checkpoint():
    cfg = get_config("vit_t")
    assert cfg.checkpoint_url == OFFICIAL_URL
    assert cfg.checkpoint_filename == "mobile_sam.pt"
    assert cfg.checkpoint_sha256 == OFFICIAL_SHA256
    assert cfg.checkpoint_size == 40728226


@pytest.fixture()
def served_file(tmp_path):
    """A stand-in for the official file, reachable as a ``file://`` URL (no network in tests)."""
    src = tmp_path / "served" / "mobile_sam.pt"
    src.parent.mkdir()
    src.write_bytes(b"not really a checkpoint " * 1000)
    return src


def test_cli_download_vit_t_refuses_a_file_that_is_not_the_official_one(tmp_path, served_file, capsys):
    """A mirror (--url) must still serve the official bytes: the stand-in fails the SHA-256 check."""
    dest = tmp_path / "checkpoints"
    assert main(["download", "vit_t", "--dir", str(dest), "--url", served_file.as_uri()]) == 1
    err = capsys.readouterr().err
    assert "mobile_sam.pt" in err or served_file.as_uri() in err
    assert not (dest / "mobile_sam.pt").exists()
    assert not (dest / "mobile_sam.pt.part").exists()
    assert find_checkpoint("vit_t", dest) is None


def test_vit_t_download_goes_through_the_shared_code(tmp_path, served_file):
    dest = tmp_path / "checkpoints"
    good = hashlib.sha256(served_file.read_bytes()).hexdigest()
    target = download_checkpoint("vit_t", directory=dest, url=served_file.as_uri(), sha256=good)
    assert target == dest / "mobile_sam.pt"
    assert target.read_bytes() == served_file.read_bytes()
    assert find_checkpoint("vit_t", dest) == target
    assert not (dest / "mobile_sam.pt.part").exists()


def test_vit_t_download_is_verified(tmp_path, served_file):
    good = hashlib.sha256(served_file.read_bytes()).hexdigest()
    path = download_checkpoint("vit_t", directory=tmp_path / "ok", url=served_file.as_uri(), sha256=good)
    assert path.name == "mobile_sam.pt"
    with pytest.raises(DownloadError, match="SHA-256"):
        download_checkpoint("vit_t", directory=tmp_path / "bad", url=served_file.as_uri(), sha256="0" * 64)
    assert not (tmp_path / "bad" / "mobile_sam.pt").exists()
