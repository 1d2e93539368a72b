"""Headless Chromium against the local stack: the page server, the browser, the page and image they use."""

from __future__ import annotations

import json
import os
import queue
import shutil
import struct
import subprocess
import tempfile
import threading
import zlib
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
INSTALL_HINT = (
    "the browser tier needs Chromium at /usr/bin/chromium and it is missing: install it with "
    "`sudo apt-get update && sudo apt-get install -y chromium` (Debian/Ubuntu), or point CHROMIUM at a "
    "Chromium binary. The tier does not skip: CORS is only proven in a browser."
)
# As this machine's probe ran it: no sandbox as root, and no background traffic the closed network refuses.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP *.labellerr.com 127.0.0.1, MAP *.evil.example 127.0.0.1",
)
PAGE_SECONDS = 30.0
# Opaque pixels: a canvas reads them back unchanged (no premultiplied-alpha rounding).
PIXELS = ((200, 30, 60, 255), (10, 220, 90, 255))


def png(pixels: tuple[tuple[int, int, int, int], ...] = PIXELS) -> bytes:
    """A one-row RGBA PNG, so the test knows exactly which pixels the canvas must read."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", len(pixels), 1, 8, 6, 0, 0, 0)
    row = b"\x00" + b"".join(bytes(pixel) for pixel in pixels)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row))
        + chunk(b"IEND", b"")
    )


def chromium_binary(candidates: tuple[str, ...] = CHROMIUM_CANDIDATES) -> str:
    configured = os.environ.get("CHROMIUM", "")
    # A CHROMIUM that names nothing is a mistake to report, not a reason to try another browser.
    for candidate in (configured,) if configured else candidates:
        found = shutil.which(candidate)
        if found:
            return found
    pytest.fail(INSTALL_HINT, pytrace=False)


class PageServer:
    """Serves one page per test on 127.0.0.1 and hands the results the page posts back to the test."""

    def __init__(self) -> None:
        self.pages: dict[str, str] = {}
        self.results: queue.Queue[dict[str, Any]] = queue.Queue()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                page = server.pages.get(self.path.split("?")[0])
                body = (page or "not found").encode()
                self.send_response(200 if page else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                server.results.put(json.loads(self.rfile.read(length) or b"{}"))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self._http.server_address[1])
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    def origin(self, host: str) -> str:
        return f"http://{host}:{self.port}"

    def start(self) -> PageServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()


@dataclass
class Browser:
    binary: str
    pages: PageServer

    def visit(self, origin: str, path: str, html: str) -> dict[str, Any]:
        """Open origin+path in a fresh headless Chromium; what the page posted to /result."""
        self.pages.pages[path] = html
        while not self.pages.results.empty():
            self.pages.results.get_nowait()
        # Chromium may still be writing its profile as it exits: a leftover file is not a failed test.
        with tempfile.TemporaryDirectory(prefix="cors-chromium-", ignore_cleanup_errors=True) as profile:
            log_path = Path(profile) / "chromium.log"
            with log_path.open("wb") as log:
                process = subprocess.Popen(  # noqa: S603 - our own flags and a loopback URL
                    [self.binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}/data", origin + path],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
                try:
                    return self.pages.results.get(timeout=PAGE_SECONDS)
                except queue.Empty:
                    tail = log_path.read_bytes()[-2000:].decode(errors="replace")
                    pytest.fail(
                        f"the page at {origin}{path} posted nothing in {PAGE_SECONDS:g} s; Chromium said:\n{tail}"
                    )
                finally:
                    process.terminate()
                    try:
                        process.wait(timeout=10)
                    except subprocess.TimeoutExpired:
                        process.kill()
                        process.wait()


PAGE = """<!doctype html>
<meta charset="utf-8"><title>Labellerr viewer, CORS</title>
<script>
const url = __URL__;
async function loadImage() {
  return new Promise((resolve) => {
    const image = new Image();
    image.crossOrigin = "anonymous";
    image.onload = () => {
      try {
        const canvas = document.createElement("canvas");
        canvas.width = image.naturalWidth;
        canvas.height = image.naturalHeight;
        const context = canvas.getContext("2d");
        context.drawImage(image, 0, 0);
        const data = context.getImageData(0, 0, canvas.width, canvas.height).data;
        resolve({loaded: true, pixels: Array.from(data)});
      } catch (error) {
        resolve({loaded: true, error: String(error)});
      }
    };
    image.onerror = () => resolve({loaded: false, error: "the image did not load"});
    image.src = url;
  });
}
async function fetchRange() {
  try {
    const response = await fetch(url, {mode: "cors", headers: {"Range": "bytes=0-7", "X-Labellerr-Viewer": "1"}});
    const bytes = new Uint8Array(await response.arrayBuffer());
    return {ok: true, status: response.status, contentRange: response.headers.get("Content-Range"),
            bytes: Array.from(bytes)};
  } catch (error) {
    return {ok: false, error: String(error)};
  }
}
(async () => {
  const result = {origin: location.origin, image: await loadImage(), fetch: await fetchRange()};
  await fetch("/result", {method: "POST", body: JSON.stringify(result)});
})();
</script>
"""


def expected_pixels() -> list[int]:
    return [channel for pixel in PIXELS for channel in pixel]
