"""Faults: a full disk, a read-only folder, and Ctrl-C / SIGTERM / SIGKILL at chosen points.

The disk is a small tmpfs when the tests run as root (a real ENOSPC from the kernel); elsewhere the
same failure is injected at the write call. Read-only is a tmpfs remounted read-only (root ignores
permission bits, so chmod would prove nothing); without root it is a chmod 0555 folder.
Signals go to a real ``earth4d-gis`` process once the file system shows it reached the chosen point.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import stat
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from bad_inputs.battery import (
    BBOX,
    KEEP,
    Inputs,
    Spawned,
    console_script,
    error_line,
    invoke,
    json_error,
    snapshot,
    spawn,
)

from earth4d_gis import checkpoint
from earth4d_gis.raster import cog

NO_SPACE = os.strerror(errno.ENOSPC).lower()


def _mount(path: Path, options: str) -> bool:
    if os.geteuid() != 0:
        return False
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True, check=False
    )
    return result.returncode == 0


class Disk:
    """A folder on a small file system that ``fill()`` makes full (or, without root, pretends to)."""

    def __init__(self, root: Path, real: bool) -> None:
        self.root = root
        self.real = real
        self.out = root / "out"
        self.out.mkdir()
        (self.out / "existing.tif").write_bytes(KEEP)

    def fill(self) -> None:
        """Take every free byte (the next write anywhere on this disk fails with ENOSPC)."""
        if not self.real:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self.out))
        with open(self.root / "filler", "ab", buffering=0) as fh:
            for size in (1 << 20, 1 << 12, 1):
                with contextlib.suppress(OSError):
                    while fh.write(b"\0" * size):
                        pass
        assert os.statvfs(self.root).f_bavail == 0

    def fail_at(self, monkeypatch: pytest.MonkeyPatch, owner: object, name: str) -> None:
        """Make the disk full when ``owner.name`` (a writer or a stage) is called.

        On a real tmpfs the disk is filled first, so the kernel's ENOSPC lands inside that call;
        without root the call itself fails with ENOSPC (injected at the write call).
        """
        func = getattr(owner, name)

        def wrapper(*args: object, **kwargs: object) -> object:
            self.fill()
            return func(*args, **kwargs)

        monkeypatch.setattr(owner, name, wrapper)


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Disk]:
    root = tmp_path / "disk"
    root.mkdir()
    real = _mount(root, "size=64m")
    try:
        yield Disk(root, real)
    finally:
        if real:
            subprocess.run(["umount", "-l", str(root)], check=False)


@pytest.fixture
def read_only(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "ro"
    root.mkdir()
    real = _mount(root, "size=1m")
    (root / "existing.tif").write_bytes(KEEP)
    if real:
        subprocess.run(["mount", "-o", "remount,ro", str(root)], check=True)
    else:
        root.chmod(0o555)
    try:
        yield root
    finally:
        if real:
            subprocess.run(["umount", "-l", str(root)], check=False)
        else:
            root.chmod(0o755)


def _raster(inputs: Inputs, out: Path, *extra: str) -> list[str]:
    return [
        "rasterize", "--model", inputs.model, "--bbox", *BBOX, "--date", "2023-06-01", "--out", out, *extra,
    ]  # fmt: skip


# ----- full disk -----------------------------------------------------------------------------------
@pytest.mark.parametrize("stage", ["open_base", "write_overviews", "translate_to_cog"])
@pytest.mark.parametrize("output", ["embeddings", "int8"])
def test_rasterize_on_a_full_disk(
    inputs: Inputs, disk: Disk, monkeypatch: pytest.MonkeyPatch, stage: str, output: str
) -> None:
    disk.fail_at(monkeypatch, cog, stage)
    before = snapshot(disk.out)
    out = disk.out / "map.tif"
    args = _raster(inputs, out, "--width", "700", "--height", "40", "--output", output, "--progress", "json")
    result = invoke(args)
    line = error_line(result)
    assert f"could not write {out}" in line and NO_SPACE in line, line
    assert NO_SPACE in json_error(result)
    assert snapshot(disk.out) == before


@pytest.mark.parametrize("suffix", [".gpkg", ".geojson", ".parquet", ".fgb"])
def test_sample_to_a_full_disk(
    inputs: Inputs, disk: Disk, monkeypatch: pytest.MonkeyPatch, suffix: str
) -> None:
    import geopandas

    before = snapshot(disk.out)
    out = disk.out / f"points{suffix}"
    disk.fail_at(monkeypatch, geopandas.GeoDataFrame, "to_parquet" if suffix == ".parquet" else "to_file")
    line = error_line(
        invoke(["sample", "--model", inputs.model, "--points", inputs.points, "--date", "2023", "--out", out])
    )
    assert str(out) in line and NO_SPACE in line, line
    assert snapshot(disk.out) == before


def test_video_to_a_full_disk(inputs: Inputs, disk: Disk, monkeypatch: pytest.MonkeyPatch) -> None:
    import imageio_ffmpeg

    before = snapshot(disk.out)
    disk.fail_at(monkeypatch, imageio_ffmpeg, "write_frames")
    out = disk.out / "v.mp4"
    line = error_line(invoke(["video", "--input-dir", inputs.frames, "--output", out]))
    assert str(out) in line and NO_SPACE in line, line
    assert snapshot(disk.out) == before


@pytest.mark.slow
def test_train_with_the_disk_full_at_the_checkpoint(disk: Disk, monkeypatch: pytest.MonkeyPatch) -> None:
    disk.fail_at(monkeypatch, checkpoint.torch, "save")  # the first torch.save: epoch 1's last.pt
    run = disk.out / "run"
    result = invoke([
        "train", "--dataset", "demo", "--max-samples", "300", "--epochs", "1", "--output-dir", run,
        "--no-video", "--visualize-every", "0", "--prediction-samples", "5",
    ])  # fmt: skip
    line = error_line(result)
    assert "could not write" in line and "last.pt" in line and NO_SPACE in line, line
    leftovers = [p.name for p in run.rglob("*") if p.name.startswith(".")]
    assert not leftovers and not (run / "checkpoints" / "last.pt").exists()


# ----- read-only folder ----------------------------------------------------------------------------
def _read_only_cases(inputs: Inputs, ro: Path) -> list[tuple[list[object], str]]:
    return [
        (_raster(inputs, ro / "x.tif", "--width", "8", "--height", "8"), "read-only file system"),
        (
            [
                "sample",
                "--model",
                inputs.model,
                "--points",
                inputs.points,
                "--date",
                "2023",
                "--out",
                ro / "x.gpkg",
            ],
            "read-only file system",
        ),  # fmt: skip
        (["video", "--input-dir", inputs.frames, "--output", ro / "x.mp4"], "read-only file system"),
        (["train", "--dataset", "demo", "--max-samples", "300", "--output-dir", ro / "run"], "not writable"),
        (["train", "--dataset", "demo", "--max-samples", "300", "--output-dir", ro], "not writable"),
    ]


@pytest.mark.parametrize("index", range(5), ids=["rasterize", "sample", "video", "train-new", "train-in"])
def test_read_only_folder(inputs: Inputs, read_only: Path, index: int) -> None:
    before = snapshot(read_only)
    args, reason = _read_only_cases(inputs, read_only)[index]
    line = error_line(invoke([str(a) for a in args]))
    expected = reason if os.geteuid() == 0 else "not writable"
    assert str(read_only) in line and expected in line, line
    assert snapshot(read_only) == before


# ----- signals -------------------------------------------------------------------------------------
def _wait_for(find: Callable[[], object], process: Spawned, timeout: float = 600.0) -> object:
    """Poll until ``find()`` returns something (the chosen point); fail if the process ends first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = find()
        if found:
            return found
        if process.poll() is not None:
            code, _, err = process.finish()
            pytest.fail(f"the process ended (status {code}) before the chosen point: {err[-2000:]}")
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    pytest.fail("the chosen point was never reached")


def _staging(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.startswith(".")]


def _one_error(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.startswith("Error")]
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.mark.slow
@pytest.mark.parametrize(("signum", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_rasterize_interrupted_leaves_nothing(inputs: Inputs, work: Path, signum: int, status: int) -> None:
    before = snapshot(work)
    out = work / "big.tif"
    args = _raster(
        inputs, out, "--width", "2048", "--height", "2048", "--output", "rgb", "--progress", "json"
    )
    process = spawn(args, work)
    _wait_for(lambda: _staging(work), process)
    process.send_signal(signum)
    code, stdout, stderr = process.finish()
    assert code == status, stderr
    _one_error(stderr)
    assert json.loads(stdout.strip().splitlines()[-1])["event"] == "error"
    assert snapshot(work) == before


@pytest.mark.slow
def test_rasterize_killed_then_rerun_cleans_up(inputs: Inputs, work: Path) -> None:
    out = work / "big.tif"
    args = _raster(
        inputs, out, "--width", "2048", "--height", "2048", "--output", "rgb", "--progress", "none"
    )
    process = spawn(args, work)
    _wait_for(lambda: _staging(work), process)
    process.send_signal(signal.SIGKILL)
    process.finish()
    assert _staging(work), "SIGKILL cannot be caught: its staging folder is expected to remain"
    rerun = subprocess.run(
        [console_script(), *[str(a) for a in args]], cwd=work, capture_output=True, text=True, timeout=900
    )
    assert rerun.returncode == 0, rerun.stderr
    assert sorted(p.name for p in work.iterdir()) == ["big.tif", "existing.tif"]
    assert (work / "existing.tif").read_bytes() == KEEP


TRAIN = [
    "train", "--dataset", "demo", "--max-samples", "3000", "--batch-size", "100", "--epochs", "2",
    "--no-video", "--visualize-every", "0", "--prediction-samples", "5",
]  # fmt: skip


def _train(run: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [console_script(), *TRAIN, "--output-dir", str(run), *extra],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip


@pytest.mark.slow
def test_ctrl_c_in_the_first_epoch_then_a_plain_rerun(tmp_path: Path) -> None:
    run = tmp_path / "run"
    process = spawn([*TRAIN, "--output-dir", run], tmp_path)
    _wait_for(lambda: (run / "predictions" / "ground_truth.csv").exists(), process)
    process.send_signal(signal.SIGINT)
    code, _, stderr = process.finish()
    assert code == 130, stderr
    line = _one_error(stderr)
    assert "--resume" not in line or "without --resume" in line, line
    assert not (run / "checkpoints" / "last.pt").exists()
    resumed = _train(run, "--resume")
    assert resumed.returncode == 1 and "without --resume" in _one_error(resumed.stderr)
    rerun = _train(run, "--visualize-every", "1")
    assert rerun.returncode == 0, rerun.stderr
    assert json.loads((run / "metrics.json").read_text())["epochs_run"] == 2
    # Every output got the mode a plain write gives (metrics.json, PNGs and CSVs were 0600).
    umask = os.umask(0o022)
    os.umask(umask)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in run.rglob("*") if p.is_file()}
    assert "metrics.json" in modes and set(modes.values()) == {0o666 & ~umask}, modes


@pytest.mark.slow
@pytest.mark.parametrize(("signum", "status"), [(signal.SIGKILL, -9), (signal.SIGTERM, 143)])
def test_stopped_while_writing_a_checkpoint_then_resume(tmp_path: Path, signum: int, status: int) -> None:
    run = tmp_path / "run"
    checkpoints = run / "checkpoints"

    def writing_last() -> list[Path]:
        return list(checkpoints.glob(".last.pt.*.tmp")) if checkpoints.is_dir() else []

    process = spawn([*TRAIN, "--output-dir", run], tmp_path)
    _wait_for(writing_last, process)
    process.send_signal(signum)
    code, _, stderr = process.finish()
    assert code == status, stderr
    if signum == signal.SIGKILL:
        assert writing_last(), "SIGKILL cannot be caught: the half-written temporary is expected to remain"
    else:
        line = _one_error(stderr)
        assert "continue with --resume" in line or "run the same command again" in line, line
        assert not writing_last()
    # The first last.pt was being written: a plain rerun starts over; a later one: --resume goes on.
    resumed = _train(run, *(["--resume"] if (checkpoints / "last.pt").exists() else []))
    assert resumed.returncode == 0, resumed.stderr
    assert not writing_last() and not [p for p in run.rglob(".*")]
    assert json.loads((run / "metrics.json").read_text())["epochs_run"] == 2
