"""The defects issue 14 found, one test each (all failed on the code before the fix)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
from bad_inputs.battery import BBOX, KEEP, Inputs, console_script, error_line, invoke, snapshot
from click.testing import CliRunner

from earth4d_gis.data.loading import build_samples
from earth4d_gis.errors import InputError
from earth4d_gis.geodesy import TimeSpan
from earth4d_gis.raster import rasterize
from earth4d_gis.raster.cog import validate_cog
from earth4d_gis_cli.main import cli


def _rasterize_args(inputs: Inputs, out: Path, *extra: str) -> list[str]:
    return [
        "rasterize", "--model", inputs.model, "--bbox", *BBOX, "--date", "2023-06-01",
        "--progress", "none", "--out", out, *extra,
    ]  # fmt: skip


# 1. dates outside 1677-2262 ------------------------------------------------------------------------
def test_far_dates_keep_their_day_whatever_unit_pandas_reads_them_in() -> None:
    """Parquet (and pandas >= 3) hand over second-resolution dates: 1650 must not wrap to 2234."""
    when = np.array(["1650-06-01", "2020-01-01", "2300-02-03"], dtype="datetime64[s]")
    frame = pd.DataFrame(
        {
            "latitude": [10.0, 10.0, 10.0],
            "longitude": [5.0, 5.0, 5.0],
            "elevation_m": [0.0, 0.0, 0.0],
            "event_date": pd.Series(when),
        }
    )
    embeddings = np.full((3, 64), 0.125, dtype=np.float32)
    with pytest.raises(Exception) as caught:
        build_samples(
            frame, embeddings, names=("m", "e"), quantization=None, drop_invalid=False, max_samples=None,
            time_span=TimeSpan(),
        )  # fmt: skip
    message = str(caught.value)
    assert "row 0: 1650-06-01" in message and "row 2: 2300-02-03" in message
    assert "2234" not in message
    wide = TimeSpan("1600-01-01", "2400-01-01")
    kept = build_samples(
        frame, embeddings, names=("m", "e"), quantization=None, drop_invalid=False, max_samples=None,
        time_span=wide,
    )  # fmt: skip
    assert list(kept.time) == list(when)


# 2. internal names never collide with the output's ----------------------------------------------
@pytest.mark.parametrize("name", ["base.tif", "base.ovr1.tif", "stack.vrt", "result.tif"])
def test_output_named_like_an_internal_file(inputs: Inputs, tmp_path: Path, name: str) -> None:
    out = tmp_path / name
    result = invoke(_rasterize_args(inputs, out, "--width", "600", "--height", "6", "--output", "rgb"))
    assert result.exit_code == 0, result.output
    assert validate_cog(out)[0]
    with rasterio.open(out) as src:
        assert src.overviews(1) == [2]
        assert (src.read(1) > 0).all(), "the output is nodata"
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


# 3 and 6. write failures are one line; files get the mode a plain write gives ----------------------
def test_video_to_a_non_mp4_name_is_one_line(inputs: Inputs, tmp_path: Path) -> None:
    line = error_line(invoke(["video", "--input-dir", inputs.frames, "--output", tmp_path / "x.txt"]))
    assert "x.txt" in line and ".mp4" in line
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_outputs_get_the_mode_of_a_plain_write(inputs: Inputs, tmp_path: Path, umask: int) -> None:
    previous = os.umask(umask)
    try:
        video = tmp_path / "v.mp4"
        assert invoke(["video", "--input-dir", inputs.frames, "--output", video]).exit_code == 0
        sampled = tmp_path / "s.gpkg"
        assert (
            invoke(
                [
                    "sample",
                    "--model",
                    inputs.model,
                    "--points",
                    inputs.points,
                    "--date",
                    "2023",
                    "--out",
                    sampled,
                ]
            ).exit_code
            == 0
        )
        from earth4d_gis.train.predictions import write_csv_atomic
        from earth4d_gis.train.visualize import render_training_curves

        csv = write_csv_atomic(pd.DataFrame({"a": [1]}), tmp_path / "predictions" / "epoch_1.csv")
        history = {"epoch": [1.0], "train_loss": [1.0], "val_loss": [1.0], "val_mape": [1.0],
                   "val_cosine": [0.5], "lr": [1e-3], "samples_per_s": [1.0], "seconds": [1.0]}  # fmt: skip
        png = render_training_curves(history, tmp_path / "curves.png", {})
    finally:
        os.umask(previous)
    for path in (video, sampled, csv, png):
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask, path


# 5. --force-download keeps the data it has until the new copy is complete ---------------------------
def test_offline_force_download_keeps_the_data(tmp_path: Path) -> None:
    from earth4d_gis.data.alphaearth import EMBEDDINGS_FILE, METADATA_FILE

    data = tmp_path / "data"
    data.mkdir()
    (data / METADATA_FILE).write_text("latitude,longitude,elevation_m,event_date\n")
    (data / EMBEDDINGS_FILE).write_bytes(b"tensor bytes")
    before = snapshot(data)
    result = CliRunner().invoke(
        cli,
        ["train", "--data-dir", str(data), "--output-dir", str(tmp_path / "out"), "--force-download"],
        env={"EARTH4D_ALPHAEARTH_URL": "http://127.0.0.1:9/alphaearth/"},
    )
    assert "could not reach" in error_line(result)
    assert snapshot(data) == before


# 7. useless output is an error -------------------------------------------------------------------
def test_nan_weights_are_refused_before_any_raster(inputs: Inputs, tmp_path: Path) -> None:
    out = tmp_path / "x.tif"
    line = error_line(invoke([
        "rasterize", "--model", inputs.nan_model, "--bbox", *BBOX, "--date", "2023", "--width", "8",
        "--height", "8", "--out", out,
    ]))  # fmt: skip
    assert "non-finite" in line and "nan_model.pt" in line
    assert not out.exists()


# 8. a file that appears at the output path during the run is not replaced ---------------------------
def test_output_created_during_the_run_is_left_alone(inputs: Inputs, tmp_path: Path) -> None:
    out = tmp_path / "race.tif"

    def someone_else_writes(fraction: float, message: str) -> None:
        if not out.exists():
            out.write_bytes(KEEP)

    with pytest.raises(InputError, match="appeared while it was being written"):
        rasterize(
            inputs.model, out, bbox=[float(v) for v in BBOX], date="2023", width=8, height=8,
            progress=someone_else_writes,
        )  # fmt: skip
    assert out.read_bytes() == KEEP
    assert sorted(p.name for p in tmp_path.iterdir()) == ["race.tif"]


def test_stale_staging_folder_of_a_killed_run_is_removed(inputs: Inputs, tmp_path: Path) -> None:
    dead_pid = 2**22 + 1  # above the default pid_max: no process can have it
    stale = tmp_path / f".x.tif.{dead_pid}.abcd1234.tmp"
    stale.mkdir()
    (stale / "base.tif").write_bytes(b"half")
    live = tmp_path / f".x.tif.{os.getpid()}.efgh5678.tmp"
    live.mkdir()
    assert invoke(_rasterize_args(inputs, tmp_path / "x.tif", "--width", "8", "--height", "8")).exit_code == 0
    assert not stale.exists() and live.exists()


# 9. messages ---------------------------------------------------------------------------------------
def test_malicious_embeddings_message_is_whole_and_gives_no_unsafe_advice(
    inputs: Inputs, tmp_path: Path
) -> None:
    line = error_line(invoke([
        "train", "--metadata", inputs.metadata, "--embeddings", inputs.evil_embeddings,
        "--output-dir", tmp_path / "run",
    ]))  # fmt: skip
    assert "not a trusted tensor file and was not loaded" in line
    assert "False" not in line and "weights_only" not in line
    assert line.rstrip().endswith(")")


def test_random_bytes_model_gives_no_unsafe_advice(inputs: Inputs, tmp_path: Path) -> None:
    line = error_line(invoke([
        "rasterize", "--model", inputs.random_model, "--bbox", *BBOX, "--date", "2023",
        "--out", tmp_path / "x.tif",
    ]))  # fmt: skip
    assert "random.pt is not a trusted earth4d-gis file" in line and "was not loaded" in line
    assert "weights_only" not in line and "False" not in line


def test_truncated_dem_is_blamed_on_the_dem(inputs: Inputs, tmp_path: Path) -> None:
    line = error_line(invoke(_rasterize_args(inputs, tmp_path / "x.tif", "--dem", inputs.truncated_dem,
                                             "--width", "8", "--height", "8")))  # fmt: skip
    assert "DEM" in line and "truncated_dem.tif" in line and "could not write" not in line


def test_file_geodatabase_folder_is_a_vector_file(inputs: Inputs, tmp_path: Path) -> None:
    import geopandas

    gdb = tmp_path / "aoi.gdb"
    geopandas.read_file(inputs.aoi).to_file(gdb, driver="OpenFileGDB", layer="aoi")
    out = tmp_path / "x.tif"
    result = invoke(_rasterize_args(inputs, out, "--aoi", gdb, "--width", "8", "--height", "8"))
    assert result.exit_code == 0, result.output
    points = tmp_path / "points.gdb"
    geopandas.read_file(inputs.points).to_file(points, driver="OpenFileGDB", layer="points")
    result = invoke([
        "sample", "--model", inputs.model, "--points", points, "--date", "2023", "--out", tmp_path / "s.gpkg"
    ])  # fmt: skip
    assert result.exit_code == 0, result.output


def test_one_date_out_of_span_has_no_row_number(inputs: Inputs, tmp_path: Path) -> None:
    line = error_line(invoke([
        "rasterize", "--model", inputs.model, "--bbox", *BBOX, "--date", "1650-06-01",
        "--out", tmp_path / "x.tif",
    ]))  # fmt: skip
    assert "1650-06-01" in line and "row" not in line


def test_success_prints_the_path_on_stdout(inputs: Inputs, tmp_path: Path) -> None:
    out = tmp_path / "x.tif"
    result = invoke(_rasterize_args(inputs, out, "--width", "8", "--height", "8"))
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(out)
    sampled = tmp_path / "s.geojson"
    result = invoke(
        ["sample", "--model", inputs.model, "--points", inputs.points, "--date", "2023", "--out", sampled]
    )
    assert result.exit_code == 0 and result.stdout.strip() == str(sampled)
    assert json.loads(sampled.read_text())["features"]


@pytest.mark.slow
def test_info_logs_only_with_verbose(inputs: Inputs, tmp_path: Path) -> None:
    """As --help says: warnings by default, -v adds what is being done (a real process: real stderr)."""
    args = [str(a) for a in _rasterize_args(inputs, tmp_path / "x.tif", "--width", "8", "--height", "8")]
    quiet = subprocess.run([console_script(), *args], capture_output=True, text=True, timeout=300)
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == "" and quiet.stdout.strip() == str(tmp_path / "x.tif")
    args[args.index(str(tmp_path / "x.tif"))] = str(tmp_path / "y.tif")
    verbose = subprocess.run([console_script(), "-v", *args], capture_output=True, text=True, timeout=300)
    assert verbose.returncode == 0 and "INFO earth4d_gis.raster" in verbose.stderr


@pytest.mark.slow
def test_no_axes3d_warning_from_a_mixed_matplotlib(tmp_path: Path) -> None:
    """A venv whose matplotlib and the system's mpl_toolkits differ warns "Unable to import Axes3D"
    when matplotlib's projections load; drawing the training maps must not pass that on to the user."""
    fake = tmp_path / "site" / "mpl_toolkits" / "mplot3d"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text(
        "import warnings\n"
        "from matplotlib.axes import Axes\n"
        "warnings.warn('Unable to import Axes3D. This may be due to multiple versions of Matplotlib "
        "being installed (e.g. as a system package and as a pip package).', UserWarning)\n"
        "class Axes3D(Axes):\n    name = '3d'\n"
    )
    # Debian's matplotlib pre-imports the mpl_toolkits namespace at start-up (a .pth file), so the fake
    # mplot3d is put first on that package's path, as a second matplotlib's would be.
    code = (
        f"import mpl_toolkits; mpl_toolkits.__path__.insert(0, {str(fake.parent)!r}); "
        "import earth4d_gis.train.visualize; import mpl_toolkits.mplot3d as m; print(m.__file__)"
    )
    env = dict(os.environ)
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert str(fake) in result.stdout, "the fake mplot3d was not the one imported"
    assert "Axes3D" not in result.stderr, result.stderr
