"""EdgeTAM as the CPU default for propagation, and ``samlabel download edgetam``.

No GPU and no internet are needed: ``torch.cuda.is_available`` and the checkpoint folder
(``$SAMLABEL_CHECKPOINT_DIR``) are monkeypatched, the download is served by a local HTTP
server on 127.0.0.1 (as tests/sam/files' download tests do), and the "downloaded" EdgeTAM is a
random full-size model saved in Meta's ``edgetam.pt`` layout.
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import importlib
import json
import re
import threading

import pytest
import torch

from samlabel.video.errors import VideoError
from video_testing import NUM_FRAMES, make_sequence

engine = importlib.import_module("samlabel.video.propagate")  # the module (samlabel.video.propagate is also its function)


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


@pytest.fixture
def gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)


@pytest.fixture
def checkpoints(monkeypatch, tmp_path):
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    monkeypatch.setenv("SAMLABEL_CHECKPOINT_DIR", str(folder))
    return folder


def meta_file(path):
    """A random full-size EdgeTAM (Meta's released config) saved as Meta saves ``edgetam.pt``."""
    from samlabel.sam.modeling.edgetam.build import build_edgetam_video_model
    from samlabel.sam.modeling.edgetam.meta_mapping import released_config, samlabel_key_to_meta

    torch.manual_seed(0)
    sd = build_edgetam_video_model(released_config()).state_dict()
    meta: dict[str, list] = {}
    for k, v in sd.items():  # k_proj then v_proj: Meta's to_kv stacks them in that order
        meta.setdefault(samlabel_key_to_meta(k), []).append(v)
    torch.save({"model": {k: torch.cat(v) if len(v) > 1 else v[0] for k, v in meta.items()}}, path)
    return path


# --- the default ------------------------------------------------------------------------------------


def test_default_model_is_edgetam_on_cpu_and_sam21_tiny_on_cuda(no_gpu, monkeypatch):
    assert engine.default_model() == engine.CPU_DEFAULT_MODEL == "edgetam"
    assert engine.default_model("cuda") == engine.DEFAULT_MODEL == "sam2.1_hiera_tiny"
    assert engine.default_model("cuda:1") == "sam2.1_hiera_tiny" and engine.default_model("cpu") == "edgetam"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert engine.default_model() == "sam2.1_hiera_tiny" and engine.default_model("cpu") == "edgetam"


def test_model_told_by_an_explicit_checkpoint(no_gpu, tmp_path):
    for name, model in (("sam2.1_hiera_small.pt", "sam2.1_hiera_small"), ("my_edgetam_ft.pt", "edgetam"),
                        ("weights.pt", "edgetam")):
        (tmp_path / name).write_bytes(b"x")
        assert engine.resolve_model(None, str(tmp_path / name)) == model, name
    assert engine.resolve_model("sam2.1_hiera_large", str(tmp_path / "my_edgetam_ft.pt")) == "sam2.1_hiera_large"


def test_missing_edgetam_names_the_download_command(no_gpu, checkpoints):
    with pytest.raises(VideoError) as info:
        engine.load_predictor()
    text = str(info.value)
    assert "no edgetam checkpoint: run 'samlabel download edgetam' or pass --checkpoint FILE" in text
    assert "--model sam2.1_hiera_tiny chooses SAM 2.1 instead" in text


def test_with_cuda_the_default_stays_sam21_tiny(gpu, checkpoints):
    with pytest.raises(VideoError, match=r"no sam2\.1_hiera_tiny checkpoint: run 'samlabel download sam2\.1_hiera_tiny'"):
        engine.load_predictor()


def test_sam21_chosen_on_cpu(no_gpu, checkpoints):
    with pytest.raises(VideoError, match=r"^no sam2\.1_hiera_small checkpoint: run 'samlabel download sam2\.1_hiera_small' "
                                         r"or pass --checkpoint FILE$"):
        engine.load_predictor("sam2.1_hiera_small")


def test_downloaded_edgetam_is_loaded_by_default_on_cpu(no_gpu, checkpoints):
    from samlabel.sam.video.edgetam_video_predictor import EdgeTamVideoPredictor

    meta_file(checkpoints / "edgetam.pt")
    predictor = engine.load_predictor()
    assert isinstance(predictor, EdgeTamVideoPredictor) and not predictor.training
    assert predictor.device.type == "cpu" and predictor.model_id.startswith("edgetam:")
    assert predictor.no_obj_embed_spatial is None  # Meta's release: told by the file
    explicit = engine.load_predictor("edgetam", checkpoint=str(checkpoints / "edgetam.pt"))
    assert explicit.model_id == predictor.model_id


def test_a_broken_edgetam_file_names_the_file(no_gpu, checkpoints):
    (checkpoints / "edgetam.pt").write_bytes(b"<html>rate limited</html>")
    with pytest.raises(VideoError, match=r"edgetam\.pt: cannot load edgetam from it \(checkpoint .*edgetam\.pt is truncated"):
        engine.load_predictor()


# --- runs of different models do not mix -------------------------------------------------------------------


def test_run_ids_of_different_models_do_not_mix(tmp_path, small_predictor, monkeypatch):
    """The default model is part of the run id: a CPU run (EdgeTAM) after a SAM 2.1 tiny run of
    the same frames is a new job that writes every frame; a job counts as done only the frames
    it wrote itself, so rerunning the SAM 2.1 job afterwards redoes them."""
    seq = make_sequence(tmp_path / "seq")
    loaded = []
    monkeypatch.setattr(engine, "load_predictor", lambda *args: loaded.append(args) or small_predictor)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    gpu_run = engine.propagate(seq, 0)
    assert gpu_run.written == NUM_FRAMES - 1
    assert engine.propagate(seq, 0).written == 0 and len(loaded) == 1  # done: no model loaded
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    cpu_run = engine.propagate(seq, 0)
    assert cpu_run.run != gpu_run.run and cpu_run.written == NUM_FRAMES - 1
    report = json.loads((seq / engine.REPORT_NAME).read_text())
    assert {"edgetam", "sam2.1_hiera_tiny"} <= set(re.findall(r'"model": "([^"]+)"', json.dumps(report)))
    assert engine.propagate(seq, 0).written == 0  # the EdgeTAM job is done
    assert engine.propagate(seq, 0, model="edgetam").run == cpu_run.run
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    again = engine.propagate(seq, 0)
    assert again.run == gpu_run.run and again.written == NUM_FRAMES - 1  # the frames hold EdgeTAM's masks now
    assert len(loaded) == 3


# --- the command line -------------------------------------------------------------------------------------


def test_cli_model_choices():
    from samlabel import cli

    assert cli.VIDEO_MODEL_CHOICES[0] == "edgetam"
    assert set(cli.VIDEO_MODEL_CHOICES[1:]) == {"sam2.1_hiera_tiny", "sam2.1_hiera_small", "sam2.1_hiera_base_plus",
                                                "sam2.1_hiera_large"}
    assert "edgetam" not in cli.MODEL_CHOICES  # the image models (the app's --model) stay SAM's


def test_cli_propagate_passes_edgetam(tmp_path, monkeypatch):
    from samlabel import cli

    seen = {}

    def fake(*args, **kwargs):
        seen.update(kwargs)
        raise VideoError("stop here")

    monkeypatch.setattr(engine, "propagate", fake)
    seq = make_sequence(tmp_path / "seq")
    assert cli._propagate([str(seq), "--from-frame", "0", "--model", "edgetam"]) == 1
    assert seen["model"] == "edgetam"
    with pytest.raises(SystemExit):
        cli._propagate([str(seq), "--from-frame", "0", "--model", "vit_b"])


# --- the registry and the download ----------------------------------------------------------------------


def test_edgetam_is_registered_with_its_official_file():
    from samlabel.sam.files.official import CLI_MODELS, display_name, official_file

    spec = official_file("edgetam")
    assert spec.url == "https://huggingface.co/facebook/EdgeTAM/resolve/main/edgetam.pt"
    assert spec.filename == "edgetam.pt" and spec.family == "edgetam" and spec.hash_known
    assert spec.sha256 == "ed2d4850b8792c239689b043c47046ec239b6e808a3d9b6ae676c803fd8780df"
    assert spec.size == 56_116_523
    assert display_name("edgetam") == "EdgeTAM" and "edgetam" in CLI_MODELS


class Server:
    """Serves ``files`` (path -> bytes) on 127.0.0.1; 404 for anything else."""

    def __init__(self, files: dict[str, bytes]):
        served = self
        self.files = files

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


@pytest.fixture(scope="module")
def payload(tmp_path_factory) -> bytes:
    return meta_file(tmp_path_factory.mktemp("edgetam_payload") / "edgetam.pt").read_bytes()


@pytest.fixture
def server(payload):
    s = Server({"/edgetam.pt": payload})
    yield s
    s.close()


def test_download_command_fetches_edgetam_verified(monkeypatch, tmp_path, server, payload, capsys, no_gpu):
    """``samlabel download edgetam`` (the official URL, hash and size replaced by the local
    server's file and its own), then propagation finds and loads it by default on CPU."""
    from samlabel import cli
    from samlabel.sam.files import official

    monkeypatch.setattr(official, "EDGETAM_FILE", dataclasses.replace(
        official.EDGETAM_FILE, url=f"{server.base}/edgetam.pt", sha256=hashlib.sha256(payload).hexdigest(),
        size=len(payload)))
    monkeypatch.setenv("SAMLABEL_CHECKPOINT_DIR", str(tmp_path))
    assert cli._download(["edgetam"]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "edgetam.pt")
    assert (tmp_path / "edgetam.pt").read_bytes() == payload and not (tmp_path / "edgetam.pt.part").exists()
    assert engine.load_predictor().model_id.startswith("edgetam:")


def test_the_real_hash_rejects_another_file(tmp_path, server, capsys):
    """Against the registered SHA-256, the random file is refused and deleted."""
    from samlabel import cli

    assert cli._download(["edgetam", "--dir", str(tmp_path), "--url", f"{server.base}/edgetam.pt"]) == 1
    err = capsys.readouterr().err
    assert "does not match the expected ed2d4850" in err and "failed verification and was deleted" in err
    assert list(tmp_path.iterdir()) == []
