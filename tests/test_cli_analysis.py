"""The analysis commands through the CLI: outputs next to --out, JSON progress, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas
import numpy as np
import pytest
import rasterio
from click.testing import CliRunner

from earth4d_gis.raster.cog import validate_cog
from earth4d_gis_cli.main import cli


def _run(*args: str) -> object:
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def _one_error_line(result: object) -> str:
    assert result.exit_code != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ") and "Traceback" not in result.output
    return lines[0]


def test_classify_trains_reports_saves_and_reuses(official_tiles, labelled_points, tmp_path: Path) -> None:
    out = tmp_path / "classes.tif"
    result = _run(
        "classify", "--input", official_tiles["2019"], "--labels", labelled_points["train"],
        "--label-column", "landcover", "--folds", "3", "--out", out, "--progress", "json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert events[-1] == {"event": "done", "path": str(out)}
    fractions = [e["fraction"] for e in events if e["event"] == "progress"]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    report = json.loads((tmp_path / "classes.report.json").read_text())
    assert (
        report["overall_accuracy"] > 0.8 and report["scheme"] == "3-fold cross-validation grouped by feature"
    )
    assert (tmp_path / "classes.report.png").stat().st_size > 1000
    assert validate_cog(out)[0] and validate_cog(tmp_path / "classes.confidence.tif")[0]
    again = tmp_path / "again.tif"
    saved = tmp_path / "classes.classifier.skops"
    reuse = _run(
        "classify", "--input", official_tiles["2019-bottom-up"], "--classifier", saved, "--out", again,
        "--progress", "none",
    )  # fmt: skip
    assert reuse.exit_code == 0, reuse.output
    with rasterio.open(out) as a, rasterio.open(again) as b:
        np.testing.assert_array_equal(a.read(1), b.read(1))
        assert json.loads(a.tags()["class_names"]) == report["class_names"]
    existing = _run(
        "classify", "--input", official_tiles["2019"], "--classifier", tmp_path / "classes.classifier.skops",
        "--out", out,
    )  # fmt: skip
    assert "already exists" in _one_error_line(existing)


def test_bad_inputs_are_one_line_errors(official_tiles, labelled_points, tmp_path: Path) -> None:
    three_bands = tmp_path / "rgb.tif"
    with rasterio.open(
        three_bands, "w", driver="GTiff", width=4, height=4, count=3, dtype="uint8", crs="EPSG:32610",
        transform=rasterio.transform.from_origin(0, 40, 10, 10),
    ) as dst:  # fmt: skip
        dst.write(np.zeros((3, 4, 4), dtype=np.uint8))
    line = _one_error_line(_run("cluster", "--input", three_bands, "--out", tmp_path / "c.tif"))
    assert "has 3 bands, not the 64" in line
    line = _one_error_line(
        _run(
            "classify",
            "--input",
            official_tiles["2019"],
            "--labels",
            labelled_points["train"],
            "--label-column",
            "crop",
            "--out",
            tmp_path / "x.tif",
        )  # fmt: skip
    )
    assert "label column 'crop' is not in the labels" in line
    single = labelled_points["train_frame"].assign(landcover="grassland")
    single.to_file(tmp_path / "single.gpkg")
    line = _one_error_line(
        _run(
            "classify",
            "--input",
            official_tiles["2019"],
            "--labels",
            tmp_path / "single.gpkg",
            "--label-column",
            "landcover",
            "--out",
            tmp_path / "x.tif",
        )  # fmt: skip
    )
    assert "only one class" in line
    line = _one_error_line(_run("change", "--input", official_tiles["2019"], "--out", tmp_path / "ch.tif"))
    assert "two or more" in line
    line = _one_error_line(_run("zonal", "--input", official_tiles["2019"], "--out", tmp_path / "z.gpkg"))
    assert "--zones FILE or --grid-size" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rgb.tif", "single.gpkg"], "nothing half-written"


@pytest.mark.slow  # the trained analysis_model
def test_saved_classifier_from_another_source_is_refused(
    official_tiles, labelled_points, analysis_model, analysis_truth, tmp_path: Path
) -> None:
    trained = _run(
        "classify", "--input", official_tiles["2019"], "--labels", labelled_points["train"], "--label-column",
        "landcover", "--folds", "2", "--out", tmp_path / "a.tif", "--progress", "none",
    )  # fmt: skip
    assert trained.exit_code == 0, trained.output
    result = _run(
        "classify", "--model", analysis_model, "--bbox", *analysis_truth.bbox, "--date", "2019-06-01",
        "--resolution", "40", "--classifier", tmp_path / "a.classifier.skops", "--out", tmp_path / "b.tif",
    )  # fmt: skip
    assert "was trained on embeddings from alphaearth-v1, not earth4d-model:" in _one_error_line(result)


def test_cluster_change_similarity_zonal_commands(official_tiles, analysis_truth, tmp_path: Path) -> None:
    result = _run(
        "cluster",
        "--input",
        official_tiles["2019"],
        "--k",
        "6",
        "--out",
        tmp_path / "k.tif",
        "--progress",
        "none",
    )
    assert result.exit_code == 0, result.output
    centroids = (tmp_path / "k.centroids.csv").read_text().splitlines()
    assert len(centroids) == 7 and centroids[0].startswith("cluster,sample_share,A00")
    result = _run(
        "change", "--input", official_tiles["2019"], "--input", official_tiles["2023"], "--out",
        tmp_path / "ch.tif", "--workers", "2", "--progress", "none",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    with rasterio.open(tmp_path / "ch.tif") as src:
        assert src.descriptions == ("change_1_minus_cos", "change_visual")
    shares = (tmp_path / "ch.report.csv").read_text().splitlines()[1:]
    assert 0.2 < float(shares[0].split(",")[1]) < 0.8
    lat, lon = analysis_truth.lat[5050], analysis_truth.lon[5050]
    result = _run(
        "similarity", "--input", official_tiles["2019"], "--point", lat, lon, "--point", lat, lon,
        "--threshold", "0.9", "--out", tmp_path / "sim.tif", "--progress", "none",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    with rasterio.open(tmp_path / "sim.tif") as sim, rasterio.open(tmp_path / "sim.mask.tif") as mask:
        values, flags = sim.read(1), mask.read(1)
        row, col = sim.index(*analysis_truth.transform * (50.5, 50.5))
        assert values[row, col] > 0.99 and flags[row, col] == 1
        assert ((values >= 0.9) == (flags == 1))[np.isfinite(values)].all()
    zones = geopandas.GeoDataFrame(
        {"id": [7]}, geometry=geopandas.points_from_xy([lon], [lat]).buffer(0.002), crs="EPSG:4326"
    )
    zones.to_file(tmp_path / "zones.gpkg")
    result = _run(
        "zonal",
        "--input",
        official_tiles["2019"],
        "--zones",
        tmp_path / "zones.gpkg",
        "--out",
        tmp_path / "z.gpkg",
        "--workers",
        "2",
    )
    assert result.exit_code == 0, result.output
    table = geopandas.read_file(tmp_path / "z.gpkg")
    assert list(table["id"]) == [7] and table["pixel_count"][0] > 100
    vector = table[[f"A{i:02d}" for i in range(64)]].to_numpy()[0]
    assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)
