"""The training-progression video: frames in numeric epoch order, atomic output, clear errors."""

from __future__ import annotations

from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from earth4d_gis.errors import InputError
from earth4d_gis.train.video import find_frames, make_video
from earth4d_gis_cli.main import cli

EPOCHS = [1, 2, 3, 9, 10, 11]


def _grey(epoch: int) -> int:
    return 20 * EPOCHS.index(epoch) + 10


@pytest.fixture()
def frames(tmp_path: Path) -> Path:
    folder = tmp_path / "visualizations"
    folder.mkdir()
    for epoch in EPOCHS:
        Image.new("RGB", (64, 48), (_grey(epoch),) * 3).save(folder / f"bay_area_epoch_{epoch}_rgb.png")
        Image.new("RGB", (64, 48), (255, 0, 0)).save(folder / f"bay_area_epoch_{epoch}_error.png")
    return folder


def test_frames_sort_numerically(frames: Path) -> None:
    names = [p.name for p in find_frames(frames)]
    assert names == [f"bay_area_epoch_{e}_rgb.png" for e in EPOCHS]


def test_video_holds_the_frames_in_epoch_order(frames: Path, tmp_path: Path) -> None:
    out = make_video(frames, tmp_path / "progress.mp4", fps=2)
    reader = imageio_ffmpeg.read_frames(str(out))
    meta = reader.__next__()
    width, height = meta["size"]
    greys = [float(np.frombuffer(f, np.uint8).reshape(height, width, 3)[:48, :64].mean()) for f in reader]
    assert len(greys) == len(EPOCHS)
    assert greys == sorted(greys)
    assert greys == pytest.approx([_grey(e) for e in EPOCHS], abs=4)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_existing_output_needs_overwrite(frames: Path, tmp_path: Path) -> None:
    target = tmp_path / "x.mp4"
    target.write_bytes(b"mine")
    with pytest.raises(InputError, match="already exists"):
        make_video(frames, target)
    assert target.read_bytes() == b"mine"


def test_cli_video_errors_are_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["video", "--input-dir", str(tmp_path / "nope"), "--output", str(tmp_path / "a.mp4")]
    )
    assert result.exit_code != 0
    assert "does not exist" in result.output and "Traceback" not in result.output
    empty = tmp_path / "empty"
    empty.mkdir()
    result = CliRunner().invoke(
        cli, ["video", "--input-dir", str(empty), "--output", str(tmp_path / "a.mp4")]
    )
    assert result.exit_code != 0 and "no frames" in result.output


def test_cli_video_writes_the_file(frames: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["video", "--input-dir", str(frames), "--output", str(tmp_path / "v.mp4")]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "v.mp4").stat().st_size > 0
