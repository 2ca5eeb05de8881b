"""Helpers for the ``earth4d-gis serve`` tests: a tiny model near Innsbruck and a real server process."""

from __future__ import annotations

import io
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

AREA = (11.30, 47.20, 11.50, 47.32)
"""West, south, east, north of the area the tiny model's samples and RGB projection come from."""
DATE = "2024-06-01"
URL_LINE = re.compile(r"(http://\S+/)")


def make_model(path: Path, config) -> Path:  # noqa: ANN001 - an EncoderConfig
    """A randomly initialised small model with an RGB projection fitted to its own output over AREA."""
    from model_files import write_random_model

    return write_random_model(
        path, config, seed=3, smooth=None,
        rgb_from=(AREA, DATE, lambda rng: rng.uniform(500.0, 2500.0, 2000)),
        metrics={"model": {"cosine": 0.8123, "mape": 2.5}, "n_train": 2000, "verdict": "test model"},
    )  # fmt: skip


def png_pixels(data: bytes) -> np.ndarray:
    """A PNG's pixels as uint8 ``[height, width, channels]`` (asserts it is a valid PNG)."""
    from PIL import Image

    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    with Image.open(io.BytesIO(data)) as image:
        image.verify()
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGBA"))


def serve_command() -> list[str]:
    exe = Path(sys.executable).parent / "earth4d-gis"
    assert exe.is_file(), f"{exe} is missing: install the project into this environment"
    return [str(exe)]


@contextmanager
def running_server(model: Path, *extra: str, timeout: float = 120.0) -> Iterator[tuple[str, str]]:
    """``earth4d-gis serve`` as a real process on 127.0.0.1 and a free port; yields (url, first line).

    The server is stopped (SIGINT, then killed) when the block ends, and also stops by itself should this
    process die (``--stop-with-parent``).
    """
    argv = [*serve_command(), "serve", "--model", str(model), "--port", "0", "--stop-with-parent", *extra]
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        deadline = time.monotonic() + timeout
        line = ""
        while time.monotonic() < deadline:
            line = proc.stdout.readline()  # type: ignore[union-attr]
            if line or proc.poll() is not None:
                break
        match = URL_LINE.search(line)
        if match is None:
            proc.kill()
            raise AssertionError(f"the server did not start: {line!r} {proc.stderr.read()!r}")  # type: ignore[union-attr]
        yield match.group(1), line
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def fetch(url: str, timeout: float = 60.0) -> tuple[int, dict[str, str], bytes]:
    """GET ``url``: status, headers and body (4xx/5xx included, no exception)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()
