"""The bad-input and fault battery's fixtures and checks (tests/bad_inputs/).

Every case of the battery ends with the same promises checked: a non-zero exit, exactly one
``Error: ...`` line naming the bad value, no traceback, an ``error`` event last on stdout under
``--progress json``, nothing new in the output folder (no file under the final name, no temporary
beside it) and every file that was there byte-identical.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner, Result

from earth4d_gis.checkpoint import ModelBundle, save_model_file
from earth4d_gis.encoder import EncoderConfig
from earth4d_gis_cli.main import cli

BBOX = ("11.570", "48.130", "11.585", "48.140")
KEEP = b"an existing file that must survive byte for byte"


@dataclass(frozen=True)
class Inputs:
    """Paths of the session's input files (good and bad ones)."""

    root: Path
    model: Path
    random_model: Path
    nan_model: Path
    edited_model: Path
    points: Path
    aoi: Path
    far_aoi: Path
    dem: Path
    far_dem: Path
    truncated_dem: Path
    frames: Path
    metadata: Path
    embeddings: Path
    evil_embeddings: Path
    junk: Path
    no_latlon: Path
    bad_columns: Path
    wrong_shape: Path
    int8_codes: Path
    corrupt_frames: Path
    labels: Path


def _tiny_bundle(config: EncoderConfig, seed: int = 11) -> ModelBundle:
    from model_files import random_bundle

    return random_bundle(config, seed=seed)


def _write_dem(path: Path, west: float, north: float) -> Path:
    import rasterio
    from rasterio.transform import from_origin

    data = np.linspace(400.0, 600.0, 40 * 40, dtype=np.float32).reshape(40, 40)
    with rasterio.open(
        path, "w", driver="GTiff", width=40, height=40, count=1, dtype="float32", crs="EPSG:4326",
        transform=from_origin(west, north, 0.001, 0.001), nodata=-9999.0,
    ) as dst:  # fmt: skip
        dst.write(data, 1)
    return path


class _Evil:
    """Pickles into a call of os.system: loading it unsafely would run a command."""

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("echo pwned > /dev/null",))


@pytest.fixture(scope="session")
def inputs(tmp_path_factory: pytest.TempPathFactory, tiny_config: EncoderConfig) -> Inputs:
    import geopandas
    from shapely.geometry import Point, box

    from earth4d_gis.data import make_demo_dataset
    from earth4d_gis.data.demo import metadata_frame

    root = tmp_path_factory.mktemp("bad_inputs")
    model = save_model_file(_tiny_bundle(tiny_config), root / "model.pt")
    random_model = root / "random.pt"
    random_model.write_bytes(np.random.default_rng(1).bytes(4096))
    nan_bundle = _tiny_bundle(tiny_config)
    with torch.no_grad():
        next(iter(nan_bundle.model.decoder.parameters())).fill_(float("nan"))
    nan_model = save_model_file(nan_bundle, root / "nan_model.pt")
    payload = torch.load(model, weights_only=True)
    name = next(k for k in payload["state_dict"] if payload["state_dict"][k].is_floating_point())
    payload["state_dict"][name] = payload["state_dict"][name] + 1.0
    edited_model = root / "edited_model.pt"
    torch.save(payload, edited_model)

    points = root / "points.gpkg"
    geopandas.GeoDataFrame(
        {"site": ["a", "b"], "when": ["2020-05-01", "2023"]},
        geometry=[Point(11.575, 48.133), Point(11.58, 48.137)],
        crs="EPSG:4326",
    ).to_file(points)
    aoi = root / "aoi.gpkg"
    geopandas.GeoDataFrame(geometry=[box(11.572, 48.132, 11.583, 48.138)], crs="EPSG:4326").to_file(aoi)
    far_aoi = root / "far_aoi.gpkg"
    geopandas.GeoDataFrame(geometry=[box(2.3, 48.8, 2.4, 48.9)], crs="EPSG:4326").to_file(far_aoi)

    dem = _write_dem(root / "dem.tif", 11.56, 48.15)
    far_dem = _write_dem(root / "far_dem.tif", 2.3, 48.9)
    whole = _write_dem(root / "whole_dem.tif", 11.56, 48.15).read_bytes()
    truncated_dem = root / "truncated_dem.tif"
    truncated_dem.write_bytes(whole[: len(whole) // 2])
    (root / "whole_dem.tif").unlink()

    frames = root / "frames"
    frames.mkdir()
    from PIL import Image

    for epoch in (1, 2):
        Image.new("RGB", (40, 30), (epoch * 60, 90, 120)).save(frames / f"bay_area_epoch_{epoch}_rgb.png")

    demo = make_demo_dataset(40, seed=3)
    metadata = root / "metadata.csv"
    metadata_frame(demo).to_csv(metadata, index=False)
    embeddings = root / "embeddings.npy"
    np.save(embeddings, demo.embeddings.astype(np.float32))
    evil_embeddings = root / "evil.pt"
    evil_embeddings.write_bytes(pickle.dumps(_Evil()))
    junk = root / "junk.txt"
    junk.write_text("neither a vector file nor a raster\n")
    no_latlon = root / "no_latlon.csv"
    no_latlon.write_text("x,y\n1,2\n")
    bad_columns = root / "bad_columns.csv"
    bad_columns.write_text("lat,lon,when\n48.1,11.5,2020-01-01\n")
    wrong_shape = root / "wrong_shape.npy"
    np.save(wrong_shape, np.zeros((40, 63), dtype=np.float32))
    int8_codes = root / "int8_codes.npy"
    np.save(int8_codes, np.zeros((40, 64), dtype=np.int8))
    labels = root / "labels.gpkg"
    spots = [(11.572 + 0.001 * i, 48.132 + 0.0005 * i) for i in range(12)]
    geopandas.GeoDataFrame(
        {"crop": ["wheat", "maize"] * 6, "height": [float(i) for i in range(12)]},
        geometry=[Point(lon, lat) for lon, lat in spots],
        crs="EPSG:4326",
    ).to_file(labels)
    corrupt_frames = root / "corrupt_frames"
    corrupt_frames.mkdir()
    (corrupt_frames / "bay_area_epoch_1_rgb.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    return Inputs(
        root, model, random_model, nan_model, edited_model, points, aoi, far_aoi, dem, far_dem,
        truncated_dem, frames, metadata, embeddings, evil_embeddings, junk, no_latlon, bad_columns,
        wrong_shape, int8_codes, corrupt_frames, labels,
    )  # fmt: skip


def snapshot(*folders: Path) -> dict[str, str]:
    """sha256 of every file under ``folders`` (hidden ones included), keyed by path."""
    found: dict[str, str] = {}
    for folder in folders:
        for dirpath, dirnames, filenames in os.walk(folder):
            for name in dirnames:
                found.setdefault(os.path.join(dirpath, name) + "/", "folder")
            for name in filenames:
                path = os.path.join(dirpath, name)
                found[path] = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return found


@pytest.fixture
def work(tmp_path: Path) -> Iterator[Path]:
    """An output folder holding one existing file, ``existing.tif``, that no failure may touch."""
    (tmp_path / "existing.tif").write_bytes(KEEP)
    yield tmp_path


def invoke(args: list[str]) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args])


def error_line(result: Result) -> str:
    """The one ``Error:`` line of a failed run (asserting there is exactly one and no traceback)."""
    assert result.exit_code not in (0, None), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    lines = [line for line in result.stderr.splitlines() if line.startswith("Error")]
    assert len(lines) == 1, result.stderr
    assert "\n" not in lines[0]
    return lines[0]


def json_error(result: Result) -> str:
    """The message of the ``error`` event that must end stdout under ``--progress json``."""
    lines = result.stdout.strip().splitlines()
    assert lines, "no JSON events on stdout"
    event = json.loads(lines[-1])
    assert event["event"] == "error", event
    return str(event["message"])


def console_script() -> str:
    """The installed ``earth4d-gis`` of this interpreter's environment (what users run)."""
    return str(Path(sys.executable).with_name("earth4d-gis"))


def _as_from_a_terminal() -> None:
    # A shell starts background jobs (and so, maybe, this test run) with SIGINT ignored, which a child
    # inherits; a user's Ctrl-C reaches a process whose SIGINT is at its default.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Spawned:
    """A running ``earth4d-gis``; its output goes to temporary files (a full pipe would stall it)."""

    def __init__(self, args: list[str], cwd: Path) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.stdout = tempfile.NamedTemporaryFile(mode="w+", prefix="earth4d-out-")  # noqa: SIM115
        self.stderr = tempfile.NamedTemporaryFile(mode="w+", prefix="earth4d-err-")  # noqa: SIM115
        self.process = subprocess.Popen(
            [console_script(), *[str(a) for a in args]], cwd=cwd, env=env, text=True,
            stdout=self.stdout, stderr=self.stderr, preexec_fn=_as_from_a_terminal,
        )  # fmt: skip

    def stderr_so_far(self) -> str:
        """What the process has written to stderr until now (to choose the point to signal it)."""
        return Path(self.stderr.name).read_text(errors="replace")

    def poll(self) -> int | None:
        return self.process.poll()

    def send_signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def finish(self, timeout: float = 900.0) -> tuple[int, str, str]:
        """Wait for the end: (status, stdout, stderr)."""
        code = self.process.wait(timeout=timeout)
        texts = []
        for handle in (self.stdout, self.stderr):
            handle.seek(0)
            texts.append(handle.read())
            handle.close()
        return code, texts[0], texts[1]


def spawn(args: list[str], cwd: Path) -> Spawned:
    """Start the installed ``earth4d-gis`` as a user's shell would."""
    return Spawned(args, cwd)
