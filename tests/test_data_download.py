"""Downloading the AlphaEarth pair from a local HTTP server: resume, verification, errors."""

from __future__ import annotations

import hashlib
import json
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import torch

from earth4d_gis.data import ensure_alphaearth, load_alphaearth, make_demo_dataset, quantize
from earth4d_gis.data.alphaearth import EMBEDDINGS_FILE, METADATA_FILE
from earth4d_gis.data.demo import metadata_frame
from earth4d_gis.errors import DownloadError

PREFIX = "/datasets/alphaearth/"


@dataclass
class ServerState:
    files: dict[str, bytes] = field(default_factory=dict)
    cut_after: dict[str, list[int]] = field(default_factory=dict)
    """Per path: byte counts after which the next requests' connections are cut."""
    status: dict[str, int] = field(default_factory=dict)
    ignore_range: bool = False
    requests: list[tuple[str, str | None]] = field(default_factory=list)

    def requests_for(self, name: str) -> list[str | None]:
        return [rng for path, rng in self.requests if path == PREFIX + name]


class _Handler(BaseHTTPRequestHandler):
    """Serves ``state.files`` with Range support; can cut connections and answer error statuses."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        state: ServerState = self.server.state  # type: ignore[attr-defined]
        state.requests.append((self.path, self.headers.get("Range")))
        if self.path in state.status:
            self.send_error(state.status[self.path])
            return
        body = state.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        start = 0
        match = re.match(r"bytes=(\d+)-$", self.headers.get("Range") or "")
        if match and not state.ignore_range:
            start = int(match.group(1))
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        payload = body[start:]
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        cuts = state.cut_after.get(self.path)
        if cuts:
            self.wfile.write(payload[: cuts.pop(0)])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def server() -> Iterator[tuple[str, ServerState]]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.state = ServerState()  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}{PREFIX}", httpd.state  # type: ignore[attr-defined]
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="module")
def payload(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """A small dataset in the original's formats (CSV + int8 linear127 tensor)."""
    folder = tmp_path_factory.mktemp("payload")
    samples = make_demo_dataset(300, seed=9)
    metadata_frame(samples).to_csv(folder / "m.csv", index=False)
    torch.save(torch.from_numpy(quantize(samples.embeddings, "linear127")), folder / "e.pt")
    return {METADATA_FILE: (folder / "m.csv").read_bytes(), EMBEDDINGS_FILE: (folder / "e.pt").read_bytes()}


def _serve(state: ServerState, payload: dict[str, bytes]) -> None:
    state.files = {PREFIX + name: data for name, data in payload.items()}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_full_download_records_manifest(
    tmp_path: Path, server: tuple[str, ServerState], payload: dict[str, bytes]
) -> None:
    url, state = server
    _serve(state, payload)
    meta, emb = ensure_alphaearth(tmp_path, base_url=url, progress=False)
    assert meta.read_bytes() == payload[METADATA_FILE] and emb.read_bytes() == payload[EMBEDDINGS_FILE]
    manifest = json.loads((tmp_path / "manifest.json").read_text())["files"]
    assert manifest[EMBEDDINGS_FILE]["sha256"] == _sha(payload[EMBEDDINGS_FILE])
    assert manifest[METADATA_FILE]["size"] == len(payload[METADATA_FILE])
    assert not list(tmp_path.glob("*.part"))
    ensure_alphaearth(tmp_path, base_url=url, progress=False)
    assert len(state.requests) == 2, "files in place and verified are not fetched again"


def test_interrupted_download_resumes_with_range(
    tmp_path: Path, server: tuple[str, ServerState], payload: dict[str, bytes]
) -> None:
    url, state = server
    _serve(state, payload)
    state.cut_after[PREFIX + EMBEDDINGS_FILE] = [1000]
    _, emb = ensure_alphaearth(tmp_path, base_url=url, progress=False)
    assert state.requests_for(EMBEDDINGS_FILE) == [None, "bytes=1000-"]
    assert _sha(emb.read_bytes()) == _sha(payload[EMBEDDINGS_FILE])


def test_server_ignoring_range_restarts_cleanly(
    tmp_path: Path, server: tuple[str, ServerState], payload: dict[str, bytes]
) -> None:
    url, state = server
    _serve(state, payload)
    state.ignore_range = True
    state.cut_after[PREFIX + EMBEDDINGS_FILE] = [777]
    _, emb = ensure_alphaearth(tmp_path, base_url=url, progress=False)
    assert state.requests_for(EMBEDDINGS_FILE) == [None, "bytes=777-"]
    assert emb.read_bytes() == payload[EMBEDDINGS_FILE]


def test_partial_file_survives_a_failed_run_and_is_resumed(
    tmp_path: Path, server: tuple[str, ServerState], payload: dict[str, bytes]
) -> None:
    url, state = server
    _serve(state, payload)
    state.cut_after[PREFIX + EMBEDDINGS_FILE] = [100] * 5
    with pytest.raises(DownloadError, match="interrupted.*run again to resume"):
        ensure_alphaearth(tmp_path, base_url=url, progress=False)
    part = tmp_path / (EMBEDDINGS_FILE + ".part")
    assert part.stat().st_size == 500 and not (tmp_path / EMBEDDINGS_FILE).exists()
    _, emb = ensure_alphaearth(tmp_path, base_url=url, progress=False)
    assert state.requests_for(EMBEDDINGS_FILE)[-1] == "bytes=500-"
    assert emb.read_bytes() == payload[EMBEDDINGS_FILE]


def test_corrupted_file_is_detected_and_force_download_repairs(
    tmp_path: Path, server: tuple[str, ServerState], payload: dict[str, bytes]
) -> None:
    url, state = server
    _serve(state, payload)
    _, emb = ensure_alphaearth(tmp_path, base_url=url, progress=False)
    data = bytearray(emb.read_bytes())
    data[len(data) // 2] ^= 0xFF
    emb.write_bytes(bytes(data))
    with pytest.raises(
        DownloadError, match=f"{EMBEDDINGS_FILE} does not match its manifest.*force_download=True"
    ):
        ensure_alphaearth(tmp_path, base_url=url, progress=False)
    _, emb = ensure_alphaearth(tmp_path, base_url=url, progress=False, force_download=True)
    assert emb.read_bytes() == payload[EMBEDDINGS_FILE]


def test_changed_remote_file_is_refused(
    tmp_path: Path, server: tuple[str, ServerState], payload: dict[str, bytes]
) -> None:
    url, state = server
    _serve(state, payload)
    _, emb = ensure_alphaearth(tmp_path, base_url=url, progress=False)
    emb.unlink()
    state.files[PREFIX + EMBEDDINGS_FILE] = payload[EMBEDDINGS_FILE][:-10] + b"0123456789"
    with pytest.raises(DownloadError, match="does not match the size and sha256 recorded"):
        ensure_alphaearth(tmp_path, base_url=url, progress=False)
    assert not emb.exists() and not list(tmp_path.glob("*.part"))


@pytest.mark.parametrize("code", [404, 500])
def test_http_errors_name_url_and_status(
    tmp_path: Path, server: tuple[str, ServerState], payload: dict[str, bytes], code: int
) -> None:
    url, state = server
    _serve(state, payload)
    state.status[PREFIX + METADATA_FILE] = code
    with pytest.raises(
        DownloadError, match=rf"download of {re.escape(url + METADATA_FILE)} failed: HTTP {code}"
    ):
        ensure_alphaearth(tmp_path, base_url=url, progress=False)


def test_unreachable_host_suggests_demo(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(DownloadError, match=rf"could not reach 127.0.0.1:{port} .*dataset='demo'") as info:
        ensure_alphaearth(tmp_path, base_url=f"http://127.0.0.1:{port}/x/", progress=False)
    assert "\n" not in str(info.value)


def test_env_variable_and_load_alphaearth(
    tmp_path: Path,
    server: tuple[str, ServerState],
    payload: dict[str, bytes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, state = server
    _serve(state, payload)
    monkeypatch.setenv("EARTH4D_ALPHAEARTH_URL", url.rstrip("/"))
    samples = load_alphaearth(tmp_path, progress=False, max_samples=100)
    assert len(samples) == 100 and samples.source == "alphaearth"
    np.testing.assert_allclose(np.linalg.norm(samples.embeddings, axis=1), 1.0, atol=0.05)
    assert len(state.requests) == 2
