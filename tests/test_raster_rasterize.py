"""rasterize: COG validity, bands, tags, overviews, int8, RGB, AOI, DEM, antimeridian, safety, parallel."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window

from earth4d_gis.api import Model as Earth4D
from earth4d_gis.api import load_model
from earth4d_gis.errors import CancelledError, InputError
from earth4d_gis.raster import dequantize_int8, execution, rasterize
from earth4d_gis.raster.cog import validate_cog
from earth4d_gis.raster.grid import output_grid

BBOX = [11.570, 48.130, 11.585, 48.140]  # ~1.1 x 1.1 km in Munich
DATE = "2023-06-01"
WIDE = {"bbox": BBOX, "date": DATE, "crs": "EPSG:32632", "width": 600, "height": 90}
"""Two windows and one overview level, yet only 54,000 pixels."""


@pytest.fixture(scope="module")
def model_file(make_model_file) -> Path:
    return make_model_file("rasterize.pt", seed=3, rgb_from=500)


@pytest.fixture(scope="module")
def model(model_file: Path) -> Earth4D:
    return load_model(model_file, device="cpu")


@pytest.fixture(scope="module")
def embeddings_tif(model: Earth4D, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("emb") / "emb.tif"
    return rasterize(model, out, **WIDE)


def _leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.startswith(".")]


def test_embeddings_cog_is_valid_with_bands_tags_nodata_and_overviews(
    embeddings_tif: Path, model: Earth4D
) -> None:
    valid, errors, _ = validate_cog(embeddings_tif)
    assert valid, errors
    with rasterio.open(embeddings_tif) as src:
        assert src.count == 64 and src.dtypes[0] == "float32"
        assert src.descriptions == tuple(f"A{i:02d}" for i in range(64))
        assert np.isnan(src.nodata)
        assert src.crs.to_epsg() == 32632
        assert src.block_shapes[0] == (512, 512)
        assert src.compression is not None
        assert src.width > 512 and src.overviews(1) == [2]
        tags = src.tags()
        assert tags["model_fingerprint"] == model.fingerprint
        assert tags["date"].startswith(DATE) and tags["software_version"]
        base = src.read(window=Window(0, 0, 64, 64))
    assert np.allclose(np.linalg.norm(base, axis=0), 1.0, atol=1e-5)
    with rasterio.open(embeddings_tif, overview_level=0) as ovr:
        half = ovr.read(window=Window(0, 0, 32, 32))
    mean = base.reshape(64, 32, 2, 32, 2).mean(axis=(2, 4))
    assert np.allclose(half, mean / np.linalg.norm(mean, axis=0), atol=1e-5)
    assert not np.allclose(half, mean, atol=1e-5), "a plain mean would pass too: the test field is too smooth"


def test_pixels_are_the_model_at_pixel_centres(embeddings_tif: Path, model: Earth4D) -> None:
    with rasterio.open(embeddings_tif) as src:
        rows, cols = np.array([0, 50, src.height - 1]), np.array([3, 530, src.width - 1])
        xs, ys = rasterio.transform.xy(src.transform, rows, cols, offset="center")
        values = np.stack(
            [src.read(window=Window(c, r, 1, 1))[:, 0, 0] for r, c in zip(rows, cols, strict=True)]
        )
    from pyproj import Transformer

    lon, lat = Transformer.from_crs(32632, 4326, always_xy=True).transform(xs, ys)
    expected = model.predict(lat, lon, None, DATE)
    assert np.allclose(values, expected, atol=1e-5)


def test_int8_dequantises_to_the_embeddings(embeddings_tif: Path, model: Earth4D, tmp_path: Path) -> None:
    out = rasterize(model, tmp_path / "q.tif", output="int8", **WIDE)
    assert validate_cog(out)[0]
    with rasterio.open(out) as q, rasterio.open(embeddings_tif) as f:
        assert q.nodata == -128 and q.dtypes[0] == "int8"
        assert q.tags()["dequantization"].startswith("sign(q) * (q / 127.5) ** 2")
        codes, floats = q.read(), f.read()
    decoded = dequantize_int8(codes)
    tolerance = np.sqrt(np.abs(floats)) / 127.5 + (1 / 127.5) ** 2
    assert np.all(np.abs(decoded - floats) <= tolerance + 1e-6)
    assert np.abs(decoded - floats).max() > 1e-4, "int8 must not be a float copy"


def test_rgb_is_the_models_projection(model: Earth4D, tmp_path: Path) -> None:
    out = rasterize(
        model,
        tmp_path / "rgb.tif",
        bbox=BBOX,
        date=DATE,
        crs="EPSG:4326",
        width=40,
        height=30,
        output="rgb",
        refine_tolerance=0,
    )
    with rasterio.open(out) as src:
        assert (src.count, src.dtypes[0], src.nodata) == (3, "uint8", 0)
        assert src.tags()["sampling"] == "every pixel predicted"
        pixels = src.read()
        lon, lat = rasterio.transform.xy(src.transform, [5], [7], offset="center")
    expected = np.maximum(model.predict_rgb(lat, lon, None, DATE)[0], 1)
    assert pixels[:, 5, 7].tolist() == expected.tolist()
    assert pixels.min() >= 1


def test_rgb_by_default_interpolates_where_the_map_is_smooth(model: Earth4D, tmp_path: Path) -> None:
    exact = rasterize(model, tmp_path / "exact.tif", output="rgb", refine_tolerance=0, **WIDE)
    drawn = rasterize(model, tmp_path / "drawn.tif", output="rgb", **WIDE)
    loose = rasterize(model, tmp_path / "loose.tif", output="rgb", refine_tolerance=0.5, **WIDE)
    with rasterio.open(exact) as e, rasterio.open(drawn) as d, rasterio.open(loose) as lo:
        assert "0.005" in d.tags()["sampling"]
        want, got, rough = e.read().astype(int), d.read().astype(int), lo.read().astype(int)
    assert np.array_equal(got[:, ::2, ::2], want[:, ::2, ::2]), "every other pixel is the model's own"
    steps = np.abs(got - want).max(axis=0)
    assert np.mean(steps > 0) > 0.01, "smooth cells are interpolated, not predicted"
    assert np.mean(steps <= 4) > 0.95
    assert np.abs(rough - want).max(axis=0).mean() > steps.mean(), "a looser tolerance interpolates more"
    assert rough.min() >= 1, "interpolated pixels are never nodata"


@pytest.mark.parametrize("bad", [-0.1, 1.0, "fine"])
def test_bad_refine_tolerance_is_refused(model: Earth4D, tmp_path: Path, bad: object) -> None:
    with pytest.raises(InputError, match="refine tolerance"):
        rasterize(model, tmp_path / "x.tif", output="rgb", refine_tolerance=bad, **WIDE)
    assert not (tmp_path / "x.tif").exists()


def test_pixels_outside_the_aoi_are_nodata(model: Earth4D, tmp_path: Path) -> None:
    import geopandas
    from shapely.geometry import box

    aoi_file = tmp_path / "aoi.gpkg"
    west_half = box(BBOX[0], BBOX[1], (BBOX[0] + BBOX[2]) / 2, BBOX[3])
    geopandas.GeoDataFrame(geometry=[west_half], crs="EPSG:4326").to_file(aoi_file)
    out = rasterize(
        model, tmp_path / "aoi.tif", bbox=BBOX, aoi=aoi_file, date=DATE, crs="EPSG:4326", width=60, height=40
    )
    with rasterio.open(out) as src:
        data = src.read(1)
    assert np.isfinite(data[:, :28]).all()
    assert np.isnan(data[:, 32:]).all()


def test_aoi_alone_gives_the_area(model: Earth4D, tmp_path: Path) -> None:
    import geopandas
    from shapely.geometry import box

    aoi_file = tmp_path / "aoi.geojson"
    geopandas.GeoDataFrame(geometry=[box(*BBOX)], crs="EPSG:4326").to_file(aoi_file)
    out = rasterize(model, tmp_path / "a.tif", aoi=aoi_file, date=DATE, crs="EPSG:4326", resolution=0.0005)
    with rasterio.open(out) as src:
        assert src.bounds.left == pytest.approx(BBOX[0]) and src.bounds.top == pytest.approx(BBOX[3])


def test_antimeridian_raster_is_continuous_across_180(model: Earth4D, tmp_path: Path) -> None:
    out = rasterize(
        model,
        tmp_path / "am.tif",
        bbox=[179.99, -0.01, -179.99, 0.01],
        date=DATE,
        crs="EPSG:4326",
        resolution=0.001,
    )
    with rasterio.open(out) as src:
        assert src.bounds.left == pytest.approx(179.99) and src.bounds.right == pytest.approx(180.01)
        data = src.read()
        lon, lat = rasterio.transform.xy(src.transform, [10], [15], offset="center")
    assert lon[0] == pytest.approx(180.0055)
    expected = model.predict(lat, [lon[0] - 360.0], None, DATE)[0]
    assert np.allclose(data[:, 10, 15], expected, atol=1e-5)


def test_dem_gives_the_elevation(model: Earth4D, tmp_path: Path) -> None:
    dem = tmp_path / "dem.tif"
    transform = rasterio.transform.from_bounds(11.5, 48.0, 11.7, 48.2, 50, 50)
    with rasterio.open(dem, "w", driver="GTiff", width=50, height=50, count=1, dtype="float32",
                       crs="EPSG:4326", transform=transform) as dst:  # fmt: skip
        dst.write(np.full((1, 50, 50), 2500.0, dtype=np.float32))
    kwargs = {"bbox": BBOX, "date": DATE, "crs": "EPSG:4326", "width": 20, "height": 20}
    with_dem = rasterize(model, tmp_path / "dem_out.tif", dem=dem, **kwargs)
    constant = rasterize(model, tmp_path / "const_out.tif", elevation=2500.0, **kwargs)
    prior = rasterize(model, tmp_path / "prior_out.tif", **kwargs)
    with rasterio.open(with_dem) as a, rasterio.open(constant) as b, rasterio.open(prior) as c:
        assert np.allclose(a.read(), b.read(), atol=1e-6)
        assert not np.allclose(a.read(), c.read(), atol=1e-3)
        assert "DEM" in a.tags()["elevation_source"]


def test_unreadable_dem_is_a_clear_error(model: Earth4D, tmp_path: Path) -> None:
    bad = tmp_path / "dem.tif"
    bad.write_text("not a raster")
    with pytest.raises(InputError, match="cannot read DEM"):
        rasterize(model, tmp_path / "x.tif", bbox=BBOX, date=DATE, dem=bad)
    assert not (tmp_path / "x.tif").exists()


def test_existing_output_is_kept_without_overwrite(model: Earth4D, tmp_path: Path) -> None:
    out = tmp_path / "keep.tif"
    out.write_bytes(b"user data")
    kwargs = {"bbox": BBOX, "date": DATE, "width": 8, "height": 8}
    with pytest.raises(InputError, match="already exists"):
        rasterize(model, out, **kwargs)
    assert out.read_bytes() == b"user data"
    rasterize(model, out, overwrite=True, **kwargs)
    with rasterio.open(out) as src:
        assert src.width == 8


def test_too_large_a_request_is_refused_with_its_size(model: Earth4D, tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"20,000 x 20,000 = 400,000,000 pixels \(102\.4 GB"):
        rasterize(model, tmp_path / "big.tif", bbox=BBOX, date=DATE, width=20_000, height=20_000)
    with pytest.raises(InputError, match="over the limit of 1,000 pixels"):
        rasterize(model, tmp_path / "big.tif", bbox=BBOX, date=DATE, width=100, height=100, max_pixels=1000)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("stop", ["cancel", "ctrl-c"])
def test_cancel_or_ctrl_c_leaves_no_file(model: Earth4D, tmp_path: Path, stop: str) -> None:
    calls: list[float] = []

    def progress(fraction: float, message: str) -> None:
        calls.append(fraction)
        if stop == "ctrl-c" and len(calls) == 2:
            raise KeyboardInterrupt

    expected = CancelledError if stop == "cancel" else KeyboardInterrupt
    with pytest.raises(expected):
        rasterize(model, tmp_path / "stop.tif", progress=progress, cancel=lambda: len(calls) >= 2, **WIDE)
    assert not list(tmp_path.iterdir())
    assert 0 < calls[-1] < 1


def test_similarity_is_one_at_the_reference_point(model: Earth4D, tmp_path: Path) -> None:
    lat, lon = 48.1352, 11.5771
    out = rasterize(
        model, tmp_path / "sim.tif", bbox=BBOX, date=DATE, crs="EPSG:4326", width=60, height=40,
        output="similarity", point=(lat, lon),
    )  # fmt: skip
    with rasterio.open(out) as src:
        assert src.count == 1 and src.descriptions == ("cosine_similarity",)
        sim = src.read(1)
        row, col = src.index(lon, lat)
    assert sim[row, col] > 0.98
    assert np.nanmin(sim) >= -1.0001 and np.nanmax(sim) <= 1.0001 and np.nanmin(sim) < 0.9


@pytest.mark.slow  # a dask LocalCluster and worker processes
def test_dask_cluster_and_worker_processes_equal_the_serial_output(
    model: Earth4D, embeddings_tif: Path, tmp_path: Path
) -> None:
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster:
        on_dask = rasterize(model, tmp_path / "dask.tif", scheduler=cluster.scheduler_address, **WIDE)
    in_processes = rasterize(model, tmp_path / "procs.tif", workers=2, **WIDE)
    for path in (on_dask, in_processes):
        with rasterio.open(path) as a, rasterio.open(embeddings_tif) as b:
            assert np.array_equal(a.read(), b.read(), equal_nan=True)


def test_unreachable_scheduler_is_a_clear_error(
    model: Earth4D, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(execution, "CONNECT_TIMEOUT", "1s")
    with pytest.raises(InputError, match="cannot reach the dask scheduler"):
        rasterize(
            model, tmp_path / "x.tif", bbox=BBOX, date=DATE, width=8, height=8, scheduler="tcp://127.0.0.1:9"
        )
    assert not list(tmp_path.iterdir())


def test_predict_grid_is_a_georeferenced_data_array(model: Earth4D) -> None:
    grid = model.predict_grid(BBOX, DATE, crs="EPSG:32632", resolution=20.0)
    expected_grid = output_grid(BBOX, crs="EPSG:32632", resolution=20.0)
    assert grid.dims == ("band", "y", "x")
    assert list(grid.band.values) == [f"A{i:02d}" for i in range(64)]
    assert grid.rio.crs.to_epsg() == 32632
    assert tuple(grid.rio.transform()) == pytest.approx(tuple(expected_grid.transform))
    assert grid.shape == (64, expected_grid.height, expected_grid.width)
    from pyproj import Transformer

    x, y = float(grid.x[4]), float(grid.y[7])
    lon, lat = Transformer.from_crs(32632, 4326, always_xy=True).transform(x, y)
    assert np.allclose(grid.values[:, 7, 4], model.predict([lat], [lon], None, DATE)[0], atol=1e-5)
    with pytest.raises(InputError, match="over the limit"):
        model.predict_grid(BBOX, DATE, resolution=0.1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"compress": "JPEG"}, "compression 'JPEG' is not one of ZSTD, DEFLATE"),
        ({"workers": 0}, "workers 0 is not a positive number"),
        ({"output": "png"}, "output 'png' is not one of"),
        ({"output": "similarity"}, "needs a reference point"),
        ({"bbox": None}, "give a bbox"),
        ({"date": "2024-02-30"}, "date '2024-02-30' is not"),
    ],
)
def test_bad_options_are_refused_before_any_work(
    model: Earth4D, tmp_path: Path, kwargs: dict, message: str
) -> None:
    with pytest.raises(InputError, match=message):
        rasterize(
            model, tmp_path / "x.tif", **{"bbox": BBOX, "date": DATE, "width": 8, "height": 8, **kwargs}
        )
    assert not list(tmp_path.iterdir())
