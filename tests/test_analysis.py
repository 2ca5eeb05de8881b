"""The analysis API on a piece of the demo world whose classes and changes are known at every pixel."""

from __future__ import annotations

from pathlib import Path

import geopandas
import numpy as np
import pytest
import rasterio
from analysis_world import SIZE, YEARS
from rasterio.windows import Window
from shapely.geometry import box
from sklearn.ensemble import RandomForestClassifier
from threadpoolctl import threadpool_limits

from earth4d_gis.analysis import (
    change,
    change_to_files,
    classify,
    classify_to_files,
    cluster,
    fit_classifier,
    fit_clusters,
    fit_regressor,
    load_fitted,
    model_source,
    open_raster,
    regress,
    similarity,
    zonal_grid,
    zonal_polygons,
)
from earth4d_gis.analysis.source import OFFICIAL
from earth4d_gis.errors import InputError
from earth4d_gis.raster.cog import validate_cog


def _forest() -> RandomForestClassifier:
    """A small forest: these tests check the plumbing and the demo world's separability, not sklearn."""
    return RandomForestClassifier(n_estimators=25, random_state=0)


def _full(source) -> np.ndarray:
    return source.read(Window(0, 0, source.grid.width, source.grid.height))


def _held_out_accuracy(classes, held_out, truth) -> float:
    """Share of held-out points whose pixel in the class map has their true class."""
    names = np.array(classes.attrs["class_names"] + ["nodata"])
    codes = classes.values[0].ravel().astype(np.int64)
    codes[codes == 255] = len(names) - 1
    predicted = names[codes[held_out["pixel"].to_numpy()]]
    return float((predicted == held_out["landcover"].to_numpy()).mean())


def test_official_tile_is_dequantised_and_bottom_up_reads_north_up(official_tiles, analysis_truth) -> None:
    top, bottom = open_raster(official_tiles["2019"]), open_raster(official_tiles["2019-bottom-up"])
    assert top.identity == OFFICIAL and top.grid.transform == bottom.grid.transform
    assert top.grid.transform.e < 0
    values, flipped = _full(top), _full(bottom)
    np.testing.assert_array_equal(np.isnan(values), np.isnan(flipped))
    np.testing.assert_allclose(values[np.isfinite(values)], flipped[np.isfinite(flipped)])
    assert np.isnan(values[:, :3, :3]).all() and np.isfinite(values[:, 3:, 3:]).all()
    with rasterio.open(official_tiles["2019"]) as src:
        q = src.read(5, window=Window(10, 20, 1, 1))[0, 0].astype(np.float64)
    assert values[4, 20, 10] == pytest.approx(np.sign(q) * (q / 127.5) ** 2, rel=1e-6)
    truth = analysis_truth.embeddings[YEARS[0]].T.reshape(64, SIZE, SIZE)
    cos = (values[:, 3:, 3:] * truth[:, 3:, 3:]).sum(axis=0)
    assert cos.min() > 0.99, "de-quantised vectors are the truth's"


@pytest.mark.parametrize(
    ("dtype", "count", "nodata", "message"),
    [
        ("float32", 3, None, "has 3 bands, not the 64"),
        ("int8", 64, 0, "cannot tell its quantisation"),
        ("uint16", 64, 0, "holds uint16 values"),
    ],
)
def test_rasters_that_cannot_be_embeddings_are_refused(tmp_path: Path, dtype, count, nodata, message) -> None:
    path = tmp_path / "bad.tif"
    with rasterio.open(
        path, "w", driver="GTiff", width=4, height=4, count=count, dtype=dtype, nodata=nodata,
        crs="EPSG:32610", transform=rasterio.transform.from_origin(0, 40, 10, 10),
    ) as dst:  # fmt: skip
        dst.write(np.zeros((count, 4, 4), dtype=dtype))
    with pytest.raises(InputError, match=message):
        open_raster(path)


def test_classifier_from_official_tile_beats_chance_on_held_out_points(
    official_tiles, labelled_points, analysis_truth, tmp_path: Path
) -> None:
    fitted = fit_classifier(
        official_tiles["2019"], labelled_points["train"], "landcover", folds=3, estimator=_forest()
    )
    assert fitted.method == "RandomForestClassifier"
    report = fitted.report
    assert set(report) >= {"overall_accuracy", "per_class", "confusion_matrix", "chance_accuracy"}
    assert report["overall_accuracy"] > report["chance_accuracy"] + 0.4
    classes, confidence = classify(official_tiles["2019"], fitted)
    accuracy = _held_out_accuracy(classes, labelled_points["held_out"], analysis_truth)
    chance = report["chance_accuracy"]
    print(f"held-out accuracy from the official tile: {accuracy:.3f} (majority class {chance:.3f})")
    assert accuracy > 0.85 and accuracy > chance + 0.5
    valid = classes.values[0] != 255
    assert np.all((confidence.values[0][valid] > 0) & (confidence.values[0][valid] <= 1))
    # Saved and reloaded, it maps the bottom-up copy of the tile to the same classes.
    saved = fitted.save(tmp_path / "clf.skops")
    again, _ = classify(official_tiles["2019-bottom-up"], load_fitted(saved))
    np.testing.assert_array_equal(again.values, classes.values)


@pytest.mark.slow  # the trained analysis_model
def test_classifier_from_a_model_beats_chance(
    analysis_model, analysis_truth, labelled_points, official_tiles, tmp_path: Path
) -> None:
    source = model_source(
        analysis_model, bbox=analysis_truth.bbox, date=YEARS[0], crs="EPSG:32610", resolution=20
    )
    fitted = fit_classifier(
        source, labelled_points["train"], "landcover", test_share=0.3, estimator=_forest()
    )
    assert fitted.report["scheme"].startswith("held-out share 0.3")
    held = labelled_points["held_out"]
    x, y = (
        held.to_crs(source.grid.crs).geometry.x.to_numpy(),
        held.to_crs(source.grid.crs).geometry.y.to_numpy(),
    )
    names = np.array(fitted.class_names)
    predicted = names[fitted.estimator.predict(source.at_points(x, y))]
    accuracy = float((predicted == held["landcover"].to_numpy()).mean())
    chance = fitted.report["chance_accuracy"]
    print(f"held-out accuracy from the model: {accuracy:.3f} (majority class {chance:.3f})")
    assert accuracy > chance + 0.3
    classes, confidence = classify_to_files(source, fitted, tmp_path / "classes.tif")
    with rasterio.open(classes) as src:
        assert src.tags()["class_names"].startswith("[") and src.colormap(1)[0][3] == 255
        assert src.tags()["embedding_source"] == source.identity
    assert validate_cog(classes)[0] and validate_cog(confidence)[0]
    with pytest.raises(InputError, match="trained on embeddings from earth4d-model"):
        classify(official_tiles["2019"], fitted)


def test_label_problems_are_one_line_errors(official_tiles, labelled_points, tmp_path: Path) -> None:
    tile = official_tiles["2019"]
    with pytest.raises(InputError, match="label column 'crop' is not in the labels"):
        fit_classifier(tile, labelled_points["train"], "crop")
    single = labelled_points["train_frame"].assign(landcover="grassland")
    with pytest.raises(InputError, match="only one class"):
        fit_classifier(tile, single, "landcover")
    far = single.assign(geometry=geopandas.points_from_xy([0.0] * len(single), [0.0] * len(single)))
    with pytest.raises(InputError, match="none of the 400 labelled features lies inside the area"):
        fit_classifier(tile, far, "landcover")


def test_labels_in_another_crs_are_reprojected(official_tiles, labelled_points) -> None:
    mercator = labelled_points["train_frame"].to_crs("EPSG:3857")
    a = fit_classifier(official_tiles["2019"], mercator, "landcover", folds=2, estimator=_forest())
    b = fit_classifier(
        official_tiles["2019"], labelled_points["train_frame"], "landcover", folds=2, estimator=_forest()
    )
    assert a.report["n_samples"] == b.report["n_samples"] == 400
    assert a.report["overall_accuracy"] == pytest.approx(b.report["overall_accuracy"])


def test_regression_of_elevation(official_tiles, labelled_points) -> None:
    with threadpool_limits(1):  # OpenMP threads of gradient boosting crawl on a loaded 2-core machine
        fitted, true, predicted = fit_regressor(
            official_tiles["2019"], labelled_points["train"], "elevation", method="gradient-boosting", folds=3
        )
    assert fitted.method == "gradient-boosting"
    print(f"elevation from embeddings: R^2 {fitted.report['r2']:.3f}, RMSE {fitted.report['rmse']:.1f} m")
    assert fitted.report["r2"] > 0.3 and len(true) == len(predicted) == 400
    with threadpool_limits(1):
        values = regress(official_tiles["2019"], fitted).values[0]
    assert np.isnan(values[:3, :3]).all() and np.isfinite(values[3:, 3:]).all()
    with pytest.raises(InputError, match="not numeric"):
        fit_regressor(official_tiles["2019"], labelled_points["train"], "landcover")


def test_clusters_recover_the_classes(official_tiles, analysis_truth) -> None:
    from sklearn.metrics import adjusted_rand_score

    clustering = fit_clusters(official_tiles["2019"], k_range=(4, 9), sample_size=3000)
    assert len(clustering.silhouettes) == 6 and clustering.k == max(
        clustering.silhouettes, key=clustering.silhouettes.get
    )
    labels = cluster(official_tiles["2019"], clustering).values[0].ravel()
    valid = labels != 255
    ari = adjusted_rand_score(analysis_truth.classes[YEARS[0]][valid], labels[valid])
    print(f"adjusted Rand index of k={clustering.k} clusters against the classes: {ari:.3f}")
    assert ari > 0.7


def test_change_is_high_where_the_class_changed(official_tiles, analysis_truth, tmp_path: Path) -> None:
    changed = analysis_truth.classes[YEARS[0]] != analysis_truth.classes[YEARS[1]]
    bands = change([official_tiles["2019"], official_tiles["2023"]]).values
    one_minus_cos = bands[0].ravel()
    np.testing.assert_allclose(bands[1].ravel(), one_minus_cos / 2, atol=1e-6, equal_nan=True)
    high, low = np.nanmean(one_minus_cos[changed]), np.nanmean(one_minus_cos[~changed])
    print(f"mean 1 - cos: {high:.3f} where the class changed, {low:.3f} elsewhere")
    assert high > 0.3 and low < 0.05
    # A series 2019, 2019 (the bottom-up copy), 2023: all the change is in its second step.
    series = [official_tiles["2019"], official_tiles["2019-bottom-up"], official_tiles["2023"]]
    out, csv, png = change_to_files(series, tmp_path / "series.tif")
    with rasterio.open(out) as src:
        cumulative, step = src.read(1).ravel(), src.read(2).ravel()
    np.testing.assert_allclose(cumulative, one_minus_cos, atol=1e-5, equal_nan=True)
    assert (step[changed & np.isfinite(step)] == 2.0).all()
    rows = csv.read_text().splitlines()
    assert rows[0] == "threshold,changed_share,changed_pixels" and len(rows) == 21
    assert png.stat().st_size > 1000


@pytest.mark.slow  # the trained analysis_model
def test_change_between_any_two_dates_of_a_model(analysis_model, analysis_truth) -> None:
    sources = [
        model_source(analysis_model, bbox=analysis_truth.bbox, date=d, crs="EPSG:32610", resolution=20)
        for d in ("2019-03-01", "2023-09-30")
    ]
    values = change(sources).values[0]
    grid = sources[0].grid
    x, y = analysis_truth.x, analysis_truth.y
    inside = (grid.transform.c < x) & (x < grid.bounds[2]) & (grid.bounds[1] < y) & (y < grid.transform.f)
    r, c = (~grid.transform * (x[inside], y[inside]))[::-1]
    sampled = values[np.floor(r).astype(int), np.floor(c).astype(int)]
    changed = (analysis_truth.classes[YEARS[0]] != analysis_truth.classes[YEARS[1]])[inside]
    high, low = np.nanmean(sampled[changed]), np.nanmean(sampled[~changed])
    print(f"model change: {high:.3f} where the class changed, {low:.3f} elsewhere")
    assert np.nanmean(sampled[changed]) > 2 * np.nanmean(sampled[~changed])


def test_similarity_to_several_seeds_with_a_threshold_mask(official_tiles, analysis_truth) -> None:
    cls = analysis_truth.classes[YEARS[0]].reshape(SIZE, SIZE)
    target = np.bincount(cls[3:, 3:].ravel()).argmax()
    rows, cols = np.nonzero(cls == target)
    keep = (rows > 5) & (cols > 5)
    seeds = [
        (analysis_truth.lat[r * SIZE + c], analysis_truth.lon[r * SIZE + c])
        for r, c in zip(rows[keep][:5], cols[keep][:5], strict=True)
    ]
    for reduce in ("mean", "medoid"):
        sim, mask = similarity(official_tiles["2019"], points=seeds, reduce=reduce, threshold=0.8)
        values, flags = sim.values[0], mask.values[0]
        np.testing.assert_array_equal(flags[3:, 3:], (values[3:, 3:] >= 0.8).astype(np.uint8))
        assert (flags[:3, :3] == 255).all()
        same = flags[cls == target]
        other = flags[cls != target]
        assert same[same != 255].mean() > 0.8 and other[other != 255].mean() < 0.2
    polygon = geopandas.GeoDataFrame(
        geometry=[box(*_pixel_box(analysis_truth, rows[keep][0], cols[keep][0]))], crs="EPSG:32610"
    )
    (sim,) = similarity(official_tiles["2019"], seeds=polygon)
    assert sim.values[0][rows[keep][0], cols[keep][0]] > 0.9
    with pytest.raises(InputError, match="threshold 1.5"):
        similarity(official_tiles["2019"], points=seeds, threshold=1.5)


def _pixel_box(truth, row: int, col: int) -> tuple[float, float, float, float]:
    left, top = truth.transform * (col, row)
    return left, top - 20.0, left + 20.0, top


def test_zonal_means_equal_a_hand_computation(official_tiles, analysis_truth) -> None:
    source = open_raster(official_tiles["2019"])
    values = _full(source)
    t = analysis_truth.transform
    zones = geopandas.GeoDataFrame(
        {"name": ["a", "b"]},
        geometry=[
            box(t.c + 200, t.f - 600, t.c + 600, t.f - 200),
            box(t.c + 1000, t.f - 1900, t.c + 1500, t.f - 1400),
        ],
        crs="EPSG:32610",
    ).to_crs("EPSG:4326")
    result = zonal_polygons(source, zones)
    assert list(result["name"]) == ["a", "b"] and list(result["pixel_count"]) == [400, 625]
    by_hand = values[:, 10:30, 10:30].reshape(64, -1).sum(axis=1)
    by_hand /= np.linalg.norm(by_hand)
    got = result.iloc[0][[f"A{i:02d}" for i in range(64)]].to_numpy(dtype=np.float64)
    np.testing.assert_allclose(got, by_hand, atol=1e-5)
    cells = zonal_grid(source, 200.0)
    assert cells["pixel_count"].sum() == SIZE * SIZE - 9
    first = cells.sort_values(["cell_y", "cell_x"], ascending=[False, True]).iloc[0]
    assert first.geometry.bounds[3] >= t.f
    with pytest.raises(InputError, match="finer than the pixels"):
        zonal_grid(source, 5.0)


def test_zonal_in_worker_processes_and_on_dask_equals_this_process(official_tiles, analysis_truth) -> None:
    from distributed import LocalCluster

    source = open_raster(official_tiles["2019"])
    t = analysis_truth.transform
    zones = geopandas.GeoDataFrame(
        {"name": ["a", "b"]},
        geometry=[
            box(t.c + 200, t.f - 600, t.c + 600, t.f - 200),
            box(t.c, t.f - 2000, t.c + 900, t.f - 900),
        ],
        crs="EPSG:32610",
    )
    bands = [f"A{i:02d}" for i in range(64)]
    here = zonal_polygons(source, zones)
    in_processes = zonal_polygons(source, zones, workers=2)
    assert list(in_processes["pixel_count"]) == list(here["pixel_count"])
    np.testing.assert_allclose(in_processes[bands].to_numpy(), here[bands].to_numpy(), atol=1e-6)
    cells = zonal_grid(source, 300.0)
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster:
        on_dask = zonal_grid(source, 300.0, scheduler=cluster.scheduler_address)
    assert list(on_dask["pixel_count"]) == list(cells["pixel_count"])
    np.testing.assert_allclose(on_dask[bands].to_numpy(), cells[bands].to_numpy(), atol=1e-6)
    with pytest.raises(InputError, match="not a dask scheduler address"):
        zonal_grid(source, 300.0, scheduler="not an address")
