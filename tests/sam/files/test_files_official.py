"""Is a file the official checkpoint? Which model is a file for? And what `samlabel download`
says when a wrong file sits where the download would go (offline: a closed port on 127.0.0.1)."""

from __future__ import annotations

import hashlib
import socket

import pytest

from samlabel.cli import main
from samlabel.sam.files.download import DownloadError, download_checkpoint
from samlabel.sam.files.official import check_file, check_official_file, model_name_for_file

WRONG = b"<html>rate limited</html>"  # 25 bytes: what a proxy or a rate limit saves


def _closed_port_url(name: str) -> str:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/{name}"


def test_a_wrong_file_is_described_by_size_and_hash(tmp_path):
    path = tmp_path / "mobile_sam.pt"
    path.write_bytes(WRONG)
    check = check_file("vit_t", path)
    assert not check.official and check.hashed
    assert check.problems == ("size 25 bytes, expected 40728226", "SHA-256 mismatch")
    assert check.describe() == (
        f"{path} exists but is not the official vit_t checkpoint (size 25 bytes, expected 40728226; SHA-256 mismatch)"
    )
    assert "Delete it" in check.advice() and f"--checkpoint {path}" in check.advice()
    quick = check_file("vit_t", path, hashes=False)  # the size alone: no reading
    assert quick.problems == ("size 25 bytes, expected 40728226",) and not quick.hashed


def test_a_matching_file_is_official_and_a_known_digest_is_used(tmp_path):
    path = tmp_path / "x.pth"
    path.write_bytes(WRONG)
    sha = hashlib.sha256(WRONG).hexdigest()
    assert check_file("vit_t", path, md5="", sha256=sha, check_size=False).official
    assert check_file("vit_t", path, check_size=False, known_sha256=sha).problems == ("SHA-256 mismatch",)
    official = "6dbb90523a35330fedd7f1d3dfc66f995213d81b29a5ca8108dbcdd4e37d6c2f"
    assert check_file("vit_t", path, check_size=False, known_sha256=official).official  # the file is not read


def test_check_official_file_looks_at_the_download_location(tmp_path):
    assert check_official_file("vit_b", tmp_path) is None
    (tmp_path / "sam_vit_b_01ec64.pth").write_bytes(b"x")
    check = check_official_file("vit_b", tmp_path, hashes=False)
    assert check.path == tmp_path / "sam_vit_b_01ec64.pth" and not check.official


@pytest.mark.parametrize(
    ("name", "model"),
    [
        ("sam_vit_b_01ec64.pth", "vit_b"),
        ("mobile_sam.pt", "vit_t"),
        ("MobileSAM-finetuned.pt", "vit_t"),
        ("my-sam-vit-h.pth", "vit_h"),
        ("sam_vit_l_cells.pth", "vit_l"),
        ("facebook_sam-vit-base.safetensors", "vit_b"),
        ("weights.pth", None),
    ],
)
def test_model_name_from_the_file_name(tmp_path, name, model):
    path = tmp_path / name
    path.write_bytes(b"x")
    assert model_name_for_file(path) == model


def test_model_name_from_an_official_size(tmp_path):
    path = tmp_path / "weights.pth"
    with open(path, "wb") as f:
        f.truncate(40728226)  # sparse: MobileSAM's size
    assert model_name_for_file(path) == "vit_t"


def test_offline_download_names_the_wrong_file_instead_of_asking_to_save_it_there(tmp_path):
    wrong = tmp_path / "mobile_sam.pt"
    wrong.write_bytes(WRONG)
    with pytest.raises(DownloadError) as info:
        download_checkpoint("vit_t", directory=tmp_path, url=_closed_port_url("mobile_sam.pt"), timeout=5)
    message = str(info.value)
    assert "could not download" in message
    assert f"{wrong} exists but is not the official vit_t checkpoint (size 25 bytes, expected 40728226; " \
           "SHA-256 mismatch)" in message
    assert "save it as" not in message
    assert "Delete it" in message and "your own file" in message
    assert wrong.read_bytes() == WRONG  # nothing replaced it


def test_cli_download_says_what_the_file_in_the_way_is(tmp_path, capsys):
    wrong = tmp_path / "mobile_sam.pt"
    wrong.write_bytes(WRONG)
    url = _closed_port_url("mobile_sam.pt")
    assert main(["download", "vit_t", "--dir", str(tmp_path), "--url", url]) == 1
    err = capsys.readouterr().err
    first, *rest = err.strip().splitlines()
    assert first == (f"samlabel download: {wrong} exists but is not the official vit_t checkpoint "
                     "(size 25 bytes, expected 40728226); a verified download will replace it")
    failure = rest[-1]
    assert failure.startswith(f"samlabel download: could not download {url}")
    assert f"{wrong} exists but is not the official vit_t checkpoint (size 25 bytes, expected 40728226; " \
           "SHA-256 mismatch)" in failure
    assert "Delete it" in failure and f"samlabel --checkpoint {wrong}" in failure
    assert "save it as" not in failure


def test_cli_download_without_a_file_in_the_way_still_says_where_to_save(tmp_path, capsys):
    url = _closed_port_url("mobile_sam.pt")
    assert main(["download", "vit_t", "--dir", str(tmp_path), "--url", url]) == 1
    err = capsys.readouterr().err
    assert f"save it as {tmp_path / 'mobile_sam.pt'}" in err and "exists but" not in err
