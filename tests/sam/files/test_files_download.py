"""Checkpoint download against a local HTTP server on 127.0.0.1 (no internet needed)."""

from __future__ import annotations

import hashlib
import http.server
import os
import socket
import threading

import pytest

from samlabel.sam.files.download import DownloadError, download_checkpoint, find_checkpoint

PAYLOAD = os.urandom(300_000)
MD5 = hashlib.md5(PAYLOAD).hexdigest()
SHA256 = hashlib.sha256(PAYLOAD).hexdigest()
FILENAME = "sam_vit_b_01ec64.pth"


class _Server:
    """Serves ``payload`` at any path; can cut the first ``drops`` responses after ``cut`` bytes,
    ignore Range requests, or answer 404. Records the Range header of every request."""

    def __init__(self, payload: bytes):
        self.payload = payload
        self.drops = 0
        self.cut = len(payload) // 3
        self.ignore_range = False
        self.status = 200
        self.ranges: list[str | None] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):
                server.ranges.append(self.headers.get("Range"))
                if server.status != 200:
                    self.send_error(server.status)
                    return
                start = 0
                rng = self.headers.get("Range")
                if rng and not server.ignore_range:
                    start = int(rng.split("=")[1].split("-")[0])
                body = server.payload[start:]
                self.send_response(206 if start else 200)
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(server.payload) - 1}/{len(server.payload)}")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if server.drops > 0:
                    server.drops -= 1
                    self.wfile.write(body[: server.cut])
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/{FILENAME}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def _shared_server():
    s = _Server(PAYLOAD)
    yield s
    s.close()


@pytest.fixture
def server(_shared_server):
    s = _shared_server
    s.drops, s.ignore_range, s.status = 0, False, 200
    s.ranges.clear()
    return s


def _download(server, tmp_path, **kwargs):
    kwargs.setdefault("md5", MD5)
    kwargs.setdefault("sha256", SHA256)
    return download_checkpoint("vit_b", directory=tmp_path, url=server.url, timeout=5, **kwargs)


def test_full_download_with_progress(server, tmp_path):
    calls = []
    path = _download(server, tmp_path, progress=lambda done, total, message="": calls.append((done, total)))
    assert path == tmp_path / FILENAME and path.read_bytes() == PAYLOAD
    assert not (tmp_path / (FILENAME + ".part")).exists()
    assert calls[-1] == (len(PAYLOAD), len(PAYLOAD))
    assert server.ranges == [None]
    assert find_checkpoint("vit_b", tmp_path) == path


def test_existing_verified_file_is_not_downloaded_again(server, tmp_path):
    (tmp_path / FILENAME).write_bytes(PAYLOAD)
    assert _download(server, tmp_path) == tmp_path / FILENAME
    assert server.ranges == []


def test_existing_damaged_file_is_replaced(server, tmp_path):
    (tmp_path / FILENAME).write_bytes(PAYLOAD[:1000])
    assert _download(server, tmp_path).read_bytes() == PAYLOAD
    assert server.ranges == [None]


def test_dropped_connection_resumes_within_the_call(server, tmp_path):
    server.drops = 1
    path = _download(server, tmp_path)
    assert path.read_bytes() == PAYLOAD
    assert server.ranges == [None, f"bytes={server.cut}-"]


def test_interrupted_download_keeps_part_and_resumes_next_time(server, tmp_path):
    server.drops = 1
    with pytest.raises(DownloadError, match=r"partial file .*\.part is kept"):
        _download(server, tmp_path, retries=1)
    part = tmp_path / (FILENAME + ".part")
    assert part.stat().st_size == server.cut and not (tmp_path / FILENAME).exists()
    path = _download(server, tmp_path)
    assert path.read_bytes() == PAYLOAD and not part.exists()
    assert server.ranges[-1] == f"bytes={server.cut}-"


def test_server_ignoring_range_restarts_cleanly(server, tmp_path):
    (tmp_path / (FILENAME + ".part")).write_bytes(b"stale bytes")
    server.ignore_range = True
    assert _download(server, tmp_path).read_bytes() == PAYLOAD


def test_corrupted_payload_is_rejected_and_not_promoted(server, tmp_path):
    """The real vit_b hashes from the config: random bytes must fail verification."""
    with pytest.raises(DownloadError, match="MD5 .* does not match the expected 01ec64d29a2fca3f0661936605ae66f8"):
        download_checkpoint("vit_b", directory=tmp_path, url=server.url, timeout=5)
    assert not (tmp_path / FILENAME).exists()
    assert not (tmp_path / (FILENAME + ".part")).exists()


def test_sha256_mismatch_is_rejected(server, tmp_path):
    with pytest.raises(DownloadError, match="SHA-256"):
        _download(server, tmp_path, sha256="0" * 64)
    assert not (tmp_path / FILENAME).exists()


def test_offline_message_names_url_and_destination(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/{FILENAME}"
    with pytest.raises(DownloadError) as info:
        download_checkpoint("vit_b", directory=tmp_path, url=url, timeout=5)
    message = str(info.value)
    assert url in message and str(tmp_path / FILENAME) in message and "save it as" in message


def test_http_error_message(server, tmp_path):
    server.status = 404
    with pytest.raises(DownloadError, match=r"HTTP 404.*save it as .*sam_vit_b_01ec64\.pth"):
        _download(server, tmp_path)


def test_default_directory_comes_from_the_environment(server, tmp_path, monkeypatch):
    monkeypatch.setenv("SAMLABEL_CHECKPOINT_DIR", str(tmp_path / "env_dir"))
    path = download_checkpoint("vit_b", url=server.url, timeout=5, md5=MD5, sha256=SHA256)
    assert path == tmp_path / "env_dir" / FILENAME
    assert find_checkpoint("vit_b") == path
    assert find_checkpoint("vit_l") is None
