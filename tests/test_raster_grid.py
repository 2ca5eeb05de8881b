"""Output grids, int8 quantisation and overview reductions: fast tests with no model."""

from __future__ import annotations

import numpy as np
import pytest
from rasterio.windows import Window

from earth4d_gis.errors import InputError
from earth4d_gis.quantization import dequantize_int8, quantize_int8
from earth4d_gis.raster.grid import output_grid, utm_crs
from earth4d_gis.raster.products import EmbeddingsOutput, Int8Output, RGBOutput


def test_default_grid_is_utm_of_the_centre_at_10_m_snapped_to_the_resolution() -> None:
    grid = output_grid([11.50, 48.10, 11.52, 48.12])
    assert grid.crs.to_epsg() == 32632
    assert grid.resolution == (10.0, 10.0)
    left, bottom, right, top = grid.bounds
    assert left % 10 == 0 and top % 10 == 0
    assert 1400 / 10 < grid.width < 1600 / 10 and 2200 / 10 < grid.height < 2300 / 10


def test_utm_zone_by_hemisphere_and_longitude() -> None:
    assert utm_crs(-122.4, 37.7).to_epsg() == 32610
    assert utm_crs(151.2, -33.9).to_epsg() == 32756
    assert utm_crs(180.0, 0.0).to_epsg() == 32601
    assert utm_crs(179.99, 0.0).to_epsg() == 32660


def test_width_height_fit_the_bbox_exactly_and_one_of_them_keeps_pixels_square() -> None:
    grid = output_grid([10.0, 40.0, 11.0, 40.5], crs="EPSG:4326", width=200, height=100)
    assert grid.bounds == pytest.approx((10.0, 40.0, 11.0, 40.5))
    assert (grid.width, grid.height) == (200, 100)
    only_width = output_grid([10.0, 40.0, 11.0, 40.5], crs="EPSG:4326", width=200)
    assert only_width.height == 100


def test_geographic_default_resolution_is_10_m_in_degrees() -> None:
    grid = output_grid([10.0, 40.0, 10.01, 40.01], crs="EPSG:4326")
    assert grid.resolution[0] == pytest.approx(10 / 111_320)


def test_antimeridian_bbox_in_degrees_spans_across_180() -> None:
    geographic = output_grid([179.9, -0.1, -179.9, 0.1], crs="EPSG:4326", resolution=0.01)
    left, _, right, _ = geographic.bounds
    assert left == pytest.approx(179.9) and right == pytest.approx(180.1)
    assert geographic.width == 20
    lat, lon = geographic.pixel_lonlat(Window(0, 0, geographic.width, 1))
    assert np.all(np.diff(lon) > 0)
    utm = output_grid([179.9, -0.1, -179.9, 0.1])
    assert utm.crs.to_epsg() in (32601, 32660)
    assert 2200 <= utm.width <= 2240, (
        "0.2 degrees at the equator is ~22.3 km: not the 359.8 degrees the other way"
    )


@pytest.mark.parametrize(
    ("bbox", "kwargs", "message"),
    [
        ([10.0, 41.0, 11.0, 40.0], {}, "south 41.0 is not below north 40.0"),
        (
            [500_000.0, 0.0, 400_000.0, 1000.0],
            {"bbox_crs": "EPSG:32632"},
            "west 500000.0 is not left of east",
        ),
        ([10.0, 40.0, 11.0, 41.0], {"crs": "EPSG:99999"}, "unknown CRS 'EPSG:99999'"),
        ([10.0, 40.0, 11.0, 95.0], {}, "north 95.0 is outside [-90, 90]"),
        ([10.0, 40.0, 11.0], {}, "is not four numbers"),
        ([10.0, 40.0, 11.0, 41.0], {"resolution": -5.0}, "resolution -5.0 is not a positive number"),
    ],
)
def test_bad_bboxes_and_options_name_the_bad_value(bbox: list, kwargs: dict, message: str) -> None:
    with pytest.raises(InputError, match=message.replace("[", r"\[").replace("]", r"\]")):
        output_grid(bbox, **kwargs)


def test_int8_follows_the_official_alphaearth_quantisation() -> None:
    values = np.array([0.25, -0.25, 0.0, 1.0, -1.0, 0.01, np.nan], dtype=np.float32)
    codes = quantize_int8(values)
    assert codes.tolist() == [64, -64, 0, 127, -127, 13, -128]
    decoded = dequantize_int8(codes)
    assert decoded[0] == pytest.approx((64 / 127.5) ** 2)
    assert decoded[1] == pytest.approx(-((64 / 127.5) ** 2))
    assert np.isnan(decoded[-1])
    rng = np.random.default_rng(0)
    v = rng.uniform(-1, 1, 10_000).astype(np.float32)
    step = 2 * np.sqrt(np.abs(v)) / 127.5 / 2 + (1 / 127.5) ** 2
    assert np.all(np.abs(dequantize_int8(quantize_int8(v)) - v) <= step + 1e-6)


def test_embedding_overview_is_the_renormalised_mean_and_nodata_only_where_all_four_are() -> None:
    rng = np.random.default_rng(1)
    block = rng.standard_normal((64, 4, 4)).astype(np.float32)
    block /= np.linalg.norm(block, axis=0)
    block[:, 0, 0] = np.nan
    block[:, 2:, 2:] = np.nan
    half = EmbeddingsOutput().halve(block)
    assert half.shape == (64, 2, 2)
    expected = np.nanmean(block[:, :2, :2].reshape(64, -1), axis=1)
    assert np.allclose(half[:, 0, 0], expected / np.linalg.norm(expected), atol=1e-6)
    assert np.isnan(half[:, 1, 1]).all()
    assert np.allclose(np.linalg.norm(half[:, :1, :], axis=0), 1.0, atol=1e-5)


def test_int8_and_rgb_overviews_keep_their_nodata() -> None:
    codes = np.full((64, 2, 2), -128, dtype=np.int8)
    codes[:, 0, 0] = quantize_int8(np.full(64, 0.125, dtype=np.float32))
    half = Int8Output().halve(codes)
    assert half.dtype == np.int8
    assert np.array_equal(half[:, 0, 0], codes[:, 0, 0])
    rgb = np.zeros((3, 2, 4), dtype=np.uint8)
    rgb[:, :, :2] = 100
    rgb[:, 0, 0] = 200
    out = RGBOutput(projection=None).halve(rgb)
    assert out[:, 0, 0].tolist() == [125, 125, 125] and out[:, 0, 1].tolist() == [0, 0, 0]
