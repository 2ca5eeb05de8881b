"""The rasterize, sample and similarity commands through the CLI: outputs, JSON progress, bad inputs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner

from earth4d_gis.predictor import load_model
from earth4d_gis.raster.cog import validate_cog
from earth4d_gis_cli.main import cli

BBOX = ["11.570", "48.130", "11.585", "48.140"]


@pytest.fixture(scope="module")
def model_file(make_model_file) -> Path:
    return make_model_file("cli.pt", seed=11)


def _run(*args: str) -> object:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def _one_error_line(result: object) -> str:
    assert result.exit_code != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ") and "Traceback" not in result.output
    return lines[0]


def test_rasterize_with_json_progress(model_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.tif"
    result = _run(
        "rasterize", "--model", str(model_file), "--bbox", *BBOX, "--date", "2023-06-01", "--out", str(out),
        "--width", "600", "--height", "60", "--progress", "json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert events[-1] == {"event": "done", "path": str(out)}
    fractions = [e["fraction"] for e in events if e["event"] == "progress"]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(fractions) >= 3
    assert all(isinstance(e["message"], str) for e in events[:-1])
    assert validate_cog(out)[0]
    with rasterio.open(out) as src:
        assert (src.count, src.width, src.height) == (64, 600, 60)
        assert src.crs.to_epsg() == 32632


def test_rasterize_rgb_in_a_chosen_crs_and_resolution(model_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "rgb.tif"
    result = _run(
        "rasterize", "-m", str(model_file), "--bbox", *BBOX, "-d", "2023", "-o", str(out), "--output", "rgb",
        "--crs", "EPSG:3857", "--resolution", "25", "--progress", "none",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    with rasterio.open(out) as src:
        assert src.count == 3 and src.crs.to_epsg() == 3857 and src.res == (25.0, 25.0)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bbox", "11.6", "48.2", "11.5", "48.1"], "south 48.2 is not below north 48.1"),
        (
            ["--bbox", "600000", "5330000", "500000", "5340000", "--bbox-crs", "EPSG:32632"],
            "west 600000.0 is not left",
        ),
        (["--bbox", *BBOX, "--crs", "EPSG:99999"], "unknown CRS 'EPSG:99999'"),
        (["--bbox", *BBOX, "--bbox-crs", "not-a-crs"], "unknown CRS 'not-a-crs'"),
        (["--bbox", *BBOX, "--date", "2023-02-30"], "date '2023-02-30' is not"),
        (["--bbox", *BBOX, "--date", "1850"], "outside the model's time span"),
        (["--bbox", *BBOX, "--width", "30000", "--height", "30000"], "900,000,000 pixels"),
        (["--bbox", *BBOX, "--elevation", "1e9"], "elevation 1000000000.0 m is not between"),
        ([], "give --bbox W S E N or --aoi FILE"),
    ],
)
def test_bad_rasterize_inputs_give_one_line(
    model_file: Path, tmp_path: Path, args: list, message: str
) -> None:
    if "--date" not in args:
        args = [*args, "--date", "2023"]
    result = _run(
        "rasterize", "--model", str(model_file), "--out", str(tmp_path / "x.tif"), "--progress", "none", *args
    )
    assert message in _one_error_line(result)
    assert not list(tmp_path.iterdir())


def test_bad_model_dem_and_existing_output_give_one_line(model_file: Path, tmp_path: Path) -> None:
    base = [
        "rasterize",
        "--bbox",
        *BBOX,
        "--date",
        "2023",
        "--progress",
        "none",
        "--width",
        "8",
        "--height",
        "8",
    ]
    out = str(tmp_path / "x.tif")
    assert "does not exist" in _one_error_line(
        _run(*base, "--model", str(tmp_path / "absent.pt"), "--out", out)
    )
    junk = tmp_path / "junk.pt"
    junk.write_text("junk")
    assert "junk.pt" in _one_error_line(_run(*base, "--model", str(junk), "--out", out))
    bad_dem = tmp_path / "dem.tif"
    bad_dem.write_text("not a raster")
    line = _one_error_line(_run(*base, "--model", str(model_file), "--out", out, "--dem", str(bad_dem)))
    assert "cannot read DEM" in line
    existing = tmp_path / "mine.tif"
    existing.write_bytes(b"keep me")
    line = _one_error_line(_run(*base, "--model", str(model_file), "--out", str(existing)))
    assert "already exists; use --overwrite" in line and existing.read_bytes() == b"keep me"
    assert _run(*base, "--model", str(model_file), "--out", str(existing), "--overwrite").exit_code == 0
    assert existing.read_bytes() != b"keep me"


def test_json_mode_reports_errors_as_an_event(model_file: Path, tmp_path: Path) -> None:
    result = _run(
        "rasterize", "--model", str(model_file), "--bbox", *BBOX, "--date", "2023",
        "--out", str(tmp_path / "x.tif"), "--crs", "EPSG:4326", "--width", "10", "--height", "10",
        "--max-pixels", "50", "--progress", "json",
    )  # fmt: skip
    assert result.exit_code != 0
    event = json.loads(result.stdout.strip().splitlines()[-1])
    assert event["event"] == "error" and "over the limit of 50 pixels" in event["message"]


def test_console_script_prints_no_traceback(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("earth4d-gis")
    result = subprocess.run(
        [str(script), "rasterize", "--model", str(tmp_path / "m.pt"), "--bbox", *BBOX, "--date", "2023",
         "--out", str(tmp_path / "x.tif")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("Error: model file")


def test_sample_adds_embedding_columns(model_file: Path, tmp_path: Path) -> None:
    import geopandas
    from shapely.geometry import Point

    points = tmp_path / "points.gpkg"
    frame = geopandas.GeoDataFrame(
        {"name": ["a", "b", "c"], "when": ["2020-05-01", "2023", "2023-06-01T12:00:00"]},
        geometry=[Point(11.57, 48.13), Point(11.58, 48.14), Point(-122.4, 37.7)],
        crs="EPSG:4326",
    ).to_crs("EPSG:3857")
    frame.to_file(points)
    out = tmp_path / "sampled.gpkg"
    result = _run(
        "sample", "-m", str(model_file), "--points", str(points), "--date-column", "when", "-o", str(out)
    )
    assert result.exit_code == 0, result.output
    sampled = geopandas.read_file(out)
    bands = [f"A{i:02d}" for i in range(64)]
    assert list(sampled["name"]) == ["a", "b", "c"] and all(b in sampled.columns for b in bands)
    model = load_model(model_file)
    expected = model.predict(
        [48.13, 48.14, 37.7], [11.57, 11.58, -122.4], None, ["2020-05-01", "2023", "2023-06-01T12:00"]
    )
    assert np.allclose(sampled[bands].to_numpy(dtype=np.float32), expected, atol=1e-5)


def test_sample_from_csv_with_one_date_and_its_errors(model_file: Path, tmp_path: Path) -> None:
    points = tmp_path / "points.csv"
    points.write_text("latitude,longitude,site\n48.13,11.57,x\n48.14,11.58,y\n")
    out = tmp_path / "s.geojson"
    result = _run("sample", "-m", str(model_file), "--points", str(points), "--date", "2023", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert out.exists()
    bad = _run("sample", "-m", str(model_file), "--points", str(points), "-o", str(tmp_path / "t.gpkg"))
    assert "give either --date or --date-column" in _one_error_line(bad)
    bad = _run(
        "sample",
        "-m",
        str(model_file),
        "--points",
        str(points),
        "--date-column",
        "when",
        "-o",
        str(tmp_path / "t.gpkg"),
    )
    assert "date column 'when' is not in the points file" in _one_error_line(bad)
    bad = _run(
        "sample",
        "-m",
        str(model_file),
        "--points",
        str(points),
        "--date",
        "2023",
        "-o",
        str(tmp_path / "t.txt"),
    )
    assert "must end in one of" in _one_error_line(bad)


def test_similarity_map(model_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "sim.tif"
    result = _run(
        "similarity", "-m", str(model_file), "--point", "48.135", "11.577", "--bbox", *BBOX, "--date", "2023",
        "--crs", "EPSG:4326", "--width", "50", "--height", "40", "-o", str(out), "--progress", "none",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    with rasterio.open(out) as src:
        sim = src.read(1)
        row, col = src.index(11.577, 48.135)
        assert src.tags()["reference_point"] == "48.135 11.577"
    assert sim[row, col] > 0.98 and sim.min() < 0.9


def test_cli_default_size_limit_is_the_cores() -> None:
    from earth4d_gis.raster import DEFAULT_MAX_PIXELS
    from earth4d_gis_cli import options

    assert options.DEFAULT_MAX_PIXELS == DEFAULT_MAX_PIXELS
