"""SAM 2 / 2.1 checkpoints: what is known of the official files, recognising a file's model,
and the download + verification path against a local HTTP server on 127.0.0.1 serving a
random-weight checkpoint in Meta's ``{"model": state_dict}`` format (no internet needed).

The random checkpoint is of a small SAM 2 config registered (for the test) under the name
``sam2.1_hiera_tiny``, so the real download, check and ``build_sam`` code paths run on it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import re
import subprocess
import sys
import threading

import pytest
import torch

from samlabel.sam.build import build_sam
from samlabel.sam.files.download import DownloadError, download_checkpoint, find_checkpoint
from samlabel.sam.files.official import (
    APP_MODELS,
    SAM2_APP_MODELS,
    check_file,
    check_official_file,
    display_name,
    model_name_for_file,
    official_file,
)
from samlabel.sam.modeling.sam2 import config as sam2_config
from samlabel.sam.modeling.sam2.build import build_sam2_model
from samlabel.sam.modeling.sam2.config import FpnConfig, HieraConfig

NAME = "sam2.1_hiera_tiny"
FILENAME = "sam2.1_hiera_tiny.pt"


def small_config(name: str = NAME, **fields):
    """A small SAM 2 model (Hiera width 16, FPN 32; as tests/sam/modeling/sam2's) under ``name``,
    with the official URL of ``name`` and the given checkpoint fields."""
    real = sam2_config.SAM2_CONFIGS[name]
    trunk = HieraConfig(embed_dim=16, num_heads=2, stages=(1, 2, 3, 1), global_att_blocks=(4,),
                        window_pos_embed_bkg_spatial_size=(7, 7))
    return dataclasses.replace(real, trunk=trunk, neck=FpnConfig(d_model=32), **fields)


@pytest.fixture(scope="module")
def payload(tmp_path_factory) -> bytes:
    """A random-weight checkpoint of the small config, saved as Meta saves theirs."""
    torch.manual_seed(0)
    model = build_sam2_model(small_config())
    path = tmp_path_factory.mktemp("sam2ckpt") / FILENAME
    torch.save({"model": model.state_dict()}, path)
    return path.read_bytes()


class Server:
    """Serves ``files`` (path -> bytes) on 127.0.0.1; 404 for anything else."""

    def __init__(self, files: dict[str, bytes]):
        self.files = files
        served = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                body = served.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(payload):
    s = Server({f"/{FILENAME}": payload, "/garbage.pt": b"\0" * len(payload), "/short.pt": payload[:1000]})
    yield s
    s.close()


def _register(monkeypatch, **fields):
    """Register the small config as ``sam2.1_hiera_tiny`` with the given hash / size fields."""
    monkeypatch.setitem(sam2_config.SAM2_CONFIGS, NAME, small_config(**fields))


# ---------------------------------------------------------------- what is known


def test_the_four_sam21_files_are_known_with_hash_and_size():
    assert APP_MODELS[:4] == ("vit_t", "vit_b", "vit_l", "vit_h") and APP_MODELS[4:] == SAM2_APP_MODELS
    sizes = {}
    for name in SAM2_APP_MODELS:
        spec = official_file(name)
        assert spec.family == "sam2" and spec.filename == f"{name}.pt"
        assert spec.url == f"https://dl.fbaipublicfiles.com/segment_anything_2/092824/{name}.pt"
        assert re.fullmatch(r"[0-9a-f]{64}", spec.sha256) and spec.hash_known
        sizes[name] = spec.size
    assert sizes == {"sam2.1_hiera_tiny": 156_008_466, "sam2.1_hiera_small": 184_416_285,
                     "sam2.1_hiera_base_plus": 323_606_802, "sam2.1_hiera_large": 898_083_611}
    assert official_file("sam2_hiera_large").url.endswith("/072824/sam2_hiera_large.pt")
    assert official_file("sam2.1_hiera_b+").model == "sam2.1_hiera_base_plus"  # Meta's config name
    with pytest.raises(ValueError):
        official_file("sam2.1_hiera_huge")


@pytest.mark.parametrize(("name", "text"), [
    ("sam2.1_hiera_tiny", "SAM 2.1 Hiera tiny"), ("sam2.1_hiera_base_plus", "SAM 2.1 Hiera base+"),
    ("sam2_hiera_large", "SAM 2 Hiera large"), ("vit_b", "vit_b"), ("my model", "my model"),
])
def test_display_names(name, text):
    assert display_name(name) == text


@pytest.mark.parametrize(("filename", "model"), [
    ("sam2.1_hiera_tiny.pt", "sam2.1_hiera_tiny"),
    ("sam2.1_hiera_small.pt", "sam2.1_hiera_small"),
    ("sam2.1_hiera_base_plus.pt", "sam2.1_hiera_base_plus"),
    ("sam2.1_hiera_large.pt", "sam2.1_hiera_large"),
    ("sam2_hiera_tiny.pt", "sam2_hiera_tiny"),
    ("sam2_hiera_base_plus.pt", "sam2_hiera_base_plus"),
    ("sam2.1_hiera_b+.pt", "sam2.1_hiera_base_plus"),  # Meta's config names
    ("sam2_hiera_l.pt", "sam2_hiera_large"),
    ("facebook-sam2.1-hiera-small.safetensors", "sam2.1_hiera_small"),  # Hugging Face ids
    ("SAM2.1_Hiera_Large_finetuned.pt", "sam2.1_hiera_large"),
    ("sam2.1_hiera_tinyx.pt", None),
    ("sam_vit_b_01ec64.pth", "vit_b"),  # SAM 1 names unchanged
])
def test_model_name_from_a_sam2_file_name(tmp_path, filename, model):
    path = tmp_path / filename
    path.write_bytes(b"x")
    assert model_name_for_file(path) == model


@pytest.mark.parametrize(("size", "model"), [(156_008_466, "sam2.1_hiera_tiny"), (898_083_611, "sam2.1_hiera_large"),
                                             (155_906_050, "sam2_hiera_tiny")])
def test_model_name_from_an_official_sam2_size(tmp_path, size, model):
    path = tmp_path / "weights.pt"
    with open(path, "wb") as f:
        f.truncate(size)  # sparse
    assert model_name_for_file(path) == model


def test_a_wrong_file_at_the_sam2_location_is_named(tmp_path):
    assert check_official_file(NAME, tmp_path) is None and find_checkpoint(NAME, tmp_path) is None
    (tmp_path / FILENAME).write_bytes(b"<html>rate limited</html>")
    check = check_official_file(NAME, tmp_path, hashes=False)
    assert not check.official and check.problems == ("size 25 bytes, expected 156008466",)
    assert check.describe().endswith("is not the official sam2.1_hiera_tiny checkpoint (size 25 bytes, expected 156008466)")
    assert "'samlabel download sam2.1_hiera_tiny'" in check.advice()
    assert check_file(NAME, tmp_path / FILENAME).problems == ("size 25 bytes, expected 156008466", "SHA-256 mismatch")
    assert find_checkpoint(NAME, tmp_path) == tmp_path / FILENAME


def test_official_file_imports_no_torch():
    code = ("import sys; from samlabel.sam.files.official import official_file, model_name_for_file\n"
            "print(official_file('sam2.1_hiera_large').size, model_name_for_file('w.pt'), 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["898083611", "None", "False"]


# ---------------------------------------------------------------- download and verify


def test_download_verified_by_sha256_and_size_then_builds(monkeypatch, tmp_path, server, payload):
    _register(monkeypatch, checkpoint_sha256=hashlib.sha256(payload).hexdigest(), checkpoint_size=len(payload))
    reports = []
    path = download_checkpoint(NAME, directory=tmp_path, url=f"{server.base}/{FILENAME}",
                               progress=lambda done, total, message="": reports.append((done, total)))
    assert path == tmp_path / FILENAME and path.read_bytes() == payload
    assert path.hash_verified and path.size_checked and not path.load_checked
    assert path.verification == "verified by its hash"
    assert reports[-1] == (len(payload), len(payload)) and not (tmp_path / f"{FILENAME}.part").exists()
    assert check_official_file(NAME, tmp_path).official
    model = build_sam(NAME, checkpoint=path)  # choosing the model loads it through build_sam
    assert model.model_id.startswith(f"{NAME}:") and not model.training
    again = download_checkpoint(NAME, directory=tmp_path, url=f"{server.base}/missing.pt")  # already there
    assert again == path and again.hash_verified


def test_the_real_official_hash_rejects_a_random_checkpoint(tmp_path, server):
    with pytest.raises(DownloadError, match="SHA-256 .* does not match the expected 7402e0d8") as info:
        download_checkpoint(NAME, directory=tmp_path, url=f"{server.base}/{FILENAME}")
    assert "failed verification and was deleted" in str(info.value)
    assert list(tmp_path.iterdir()) == []  # neither the file nor the .part is left


def test_without_a_known_hash_the_download_is_checked_by_size_and_loading(monkeypatch, tmp_path, server, payload):
    _register(monkeypatch, checkpoint_sha256=None, checkpoint_size=len(payload))
    assert not official_file(NAME).hash_known
    path = download_checkpoint(NAME, directory=tmp_path, url=f"{server.base}/{FILENAME}")
    assert path.read_bytes() == payload
    assert not path.hash_verified and path.size_checked and path.load_checked
    assert path.verification == "SHA-256 unverified, no official hash is known; checked its size and that it loads"


def test_without_a_known_hash_a_wrong_size_is_rejected(monkeypatch, tmp_path, server, payload):
    _register(monkeypatch, checkpoint_sha256=None, checkpoint_size=len(payload))
    with pytest.raises(DownloadError, match=f"size 1000 bytes, expected {len(payload)}"):
        download_checkpoint(NAME, directory=tmp_path, url=f"{server.base}/short.pt")
    assert list(tmp_path.iterdir()) == []


def test_without_a_known_hash_a_file_that_does_not_load_is_rejected(monkeypatch, tmp_path, server, payload):
    _register(monkeypatch, checkpoint_sha256=None, checkpoint_size=len(payload))  # the right size, zeros
    with pytest.raises(DownloadError, match="is not a checkpoint of sam2.1_hiera_tiny") as info:
        download_checkpoint(NAME, directory=tmp_path, url=f"{server.base}/garbage.pt")
    assert "failed verification and was deleted" in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_without_a_known_hash_an_existing_file_is_kept_only_if_it_loads(monkeypatch, tmp_path, server, payload):
    _register(monkeypatch, checkpoint_sha256=None, checkpoint_size=len(payload))
    target = tmp_path / FILENAME
    target.write_bytes(payload)
    kept = download_checkpoint(NAME, directory=tmp_path, url=f"{server.base}/missing.pt")  # nothing fetched
    assert kept == target and kept.load_checked and not kept.hash_verified
    target.write_bytes(b"\0" * len(payload))  # the right size, but no checkpoint: downloaded again
    again = download_checkpoint(NAME, directory=tmp_path, url=f"{server.base}/{FILENAME}")
    assert again == target and target.read_bytes() == payload and again.load_checked


def test_the_download_command_accepts_the_sam21_models(monkeypatch, tmp_path, server, payload, capsys):
    """``samlabel download sam2.1_hiera_tiny`` runs the same verified download."""
    from samlabel import cli

    assert set(SAM2_APP_MODELS) <= set(cli.MODEL_CHOICES)
    _register(monkeypatch, checkpoint_sha256=hashlib.sha256(payload).hexdigest(), checkpoint_size=len(payload))
    rc = cli._download([NAME, "--dir", str(tmp_path), "--url", f"{server.base}/{FILENAME}"])
    assert rc == 0 and (tmp_path / FILENAME).read_bytes() == payload
    assert capsys.readouterr().out.strip() == str(tmp_path / FILENAME)
    with pytest.raises(SystemExit):
        cli._download(["sam2.1_hiera_huge"])
