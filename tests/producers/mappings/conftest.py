"""Fixtures for the help-desk mapping tests: settings, a private blob store and a real HTTP server on 127.0.0.1 that serves attachments and records every request."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from mapping_samples import PNG
from worker.blobs import BlobStore
from worker.settings import Settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings with no host allowed, a 4 KiB attachment limit and a one-second fetch limit."""
    return Settings(
        blob_dir=tmp_path / "blobs",
        max_attachment_bytes=4096,
        attachment_fetch_timeout_s=1.0,
        attachment_hosts="",
    )


@pytest.fixture
def blobs(settings: Settings) -> BlobStore:
    """The blob store the settings name."""
    return BlobStore(settings.blob_dir)


class _Handler(BaseHTTPRequestHandler):
    """Routes: /screen.png, /voice.ogg, /page.html, /big.png (declared too large),
    /endless.png (no length, more than the limit), /slow.png (no answer for 3 s),
    /dribble.png (a byte every 0.2 s), /hop (redirect to /screen.png), /away (redirect off-list)."""

    server: _Server

    def log_message(self, *args: Any) -> None:  # keep pytest output clean
        pass

    def _send(self, status: int, body: bytes = b"", content_type: str = "image/png", length: bool = True,
              headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if length:
            self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if body:
            self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.server.requests.append(self.path)
        path = self.path.split("?")[0]
        if path == "/screen.png":
            self._send(200, PNG)
        elif path == "/voice.ogg":
            self._send(200, b"OggS" + b"\x00" * 60, content_type="audio/ogg")
        elif path == "/page.html":
            self._send(200, b"<html>login</html>", content_type="text/html; charset=utf-8")
        elif path == "/big.png":
            self._send(200, b"\x89PNG" + b"\x00" * 10_000)
        elif path == "/endless.png":
            self._send(200, length=False)
            try:
                for _ in range(64):
                    self.wfile.write(b"\x00" * 1024)
            except OSError:
                pass
        elif path == "/slow.png":
            time.sleep(3)
            self._send(200, PNG)
        elif path == "/dribble.png":
            self._send(200, length=False)
            try:
                for _ in range(30):
                    self.wfile.write(b"\x00")
                    self.wfile.flush()
                    time.sleep(0.2)
            except OSError:
                pass
        elif path == "/hop":
            self._send(302, headers={"Location": "/screen.png"}, content_type="text/plain")
        elif path == "/away":
            self._send(302, headers={"Location": "https://elsewhere.invalid/screen.png"}, content_type="text/plain")
        else:
            self._send(404, b"not found", content_type="text/plain")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    requests: list[str]


@pytest.fixture
def media_server() -> Iterator[_Server]:
    """A real HTTP server on 127.0.0.1 (a free port); ``.requests`` lists the paths asked for."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def url_of(server: _Server, path: str) -> str:
    """The server's URL for ``path``."""
    host, port = server.server_address[:2]
    return f"http://{host}:{port}{path}"


@pytest.fixture
def url() -> Any:
    """``url(server, path)``: the test server's URL for a path."""
    return url_of
