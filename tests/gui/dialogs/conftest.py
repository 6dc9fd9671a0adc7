"""Fixtures of the dialog tests: a tiny local HTTP server (127.0.0.1 only) for the download dialog."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class LocalServer:
    """Serves ``files`` (path -> bytes); ``/slow`` sends a little, then waits for ``release``."""

    def __init__(self, files: dict[str, bytes]):
        self.files = files
        self.release = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):
                if self.path == "/slow":
                    self.send_response(200)
                    self.send_header("Content-Length", str(1 << 20))
                    self.end_headers()
                    self.wfile.write(b"x" * 65536)  # several client reads' worth
                    self.wfile.flush()
                    server.release.wait(10)
                    try:
                        self.wfile.write(b"x" * 4096)
                        self.wfile.flush()
                    except OSError:
                        pass
                    return
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404, "File not found")
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                for start in range(0, len(body), 8192):
                    self.wfile.write(body[start : start + 8192])

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def base(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> "LocalServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def local_server():
    """``local_server(files)`` starts a :class:`LocalServer`; it is shut down after the test."""
    servers = []

    def start(files: dict[str, bytes]) -> LocalServer:
        server = LocalServer(files).__enter__()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.__exit__(None, None, None)
