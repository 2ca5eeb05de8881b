"""How the tile server samples the model: the corner lattice, its refinement, interpolation, the pool."""

from __future__ import annotations

import morecantile
import numpy as np
import pytest

from earth4d_gis.serve.sampling import (
    CHUNK_POINTS,
    Lattice,
    PredictionPool,
    lattice_step,
    predict_points,
    sample_lattice,
    to_pixels,
)
from earth4d_gis.serve.tiles import TMS, WEB_MERCATOR, TilePlan


def _unit_rows(values: np.ndarray) -> np.ndarray:
    return (values / np.linalg.norm(values, axis=-1, keepdims=True)).astype(np.float32)


def field(lat: np.ndarray, lon: np.ndarray, feature: tuple[float, float] | None = None) -> np.ndarray:
    """A smooth synthetic embedding field, plus (optionally) a sharp blob ~40 m across at ``feature``."""
    values = np.zeros((lat.size, 64))
    values[:, 0] = 1.0
    values[:, 1] = np.sin(lat * 50.0)
    values[:, 2] = np.cos(lon * 50.0)
    if feature is not None:
        d = np.hypot((lat - feature[0]) * 111_000, (lon - feature[1]) * 75_000)
        values[:, 3] = 3.0 * np.exp(-((d / 20.0) ** 2))
    return _unit_rows(values)


def test_each_pixel_is_the_bilinear_value_at_its_centre() -> None:
    rng = np.random.default_rng(1)
    for step in (1, 2, 4):
        n = 256 // step
        lattice = rng.standard_normal((n + 1, n + 1, 64)).astype(np.float32)
        pixels = to_pixels(lattice.copy(), step)
        position = (np.arange(256) + 0.5) / step
        low = np.minimum(np.floor(position).astype(int), n - 1)
        f = (position - low)[:, None, None]
        g = (position - low)[None, :, None]
        rows = lattice[low]
        expected = (
            rows[:, low] * (1 - f) * (1 - g)
            + rows[:, low + 1] * (1 - f) * g
            + lattice[low + 1][:, low] * f * (1 - g)
            + lattice[low + 1][:, low + 1] * f * g
        )
        expected /= np.linalg.norm(expected, axis=-1, keepdims=True)
        assert pixels.shape == (256, 256, 64)
        np.testing.assert_allclose(pixels, expected, atol=1e-5)
    corners = rng.standard_normal((257, 257, 64)).astype(np.float32)
    mean = corners[:1, :1] + corners[:1, 1:2] + corners[1:2, :1] + corners[1:2, 1:2]
    np.testing.assert_allclose(to_pixels(corners, 1)[0, 0], mean[0, 0] / np.linalg.norm(mean), atol=1e-6)


def test_the_lattice_keeps_ten_metres_when_zoomed_in() -> None:
    assert lattice_step(30.0) == 1 and lattice_step(9.9) == 1
    assert lattice_step(5.0) == 2 and lattice_step(1.9) == 4 and lattice_step(0.01) == 64
    tile = TMS.tile(-122.25, 37.75, 18)  # ~0.5 m pixels: 17 x 17 lattice points every 16 pixels (~7.6 m)
    plan = TilePlan.for_tile(tile, 1)
    assert plan == TilePlan(0, 16)
    lattice = Lattice.of(TMS.xy_bounds(tile), WEB_MERCATOR, plan.step)
    assert lattice.size == 17
    lat, lon = lattice.lonlat()
    bounds = TMS.bounds(tile)
    assert lat.max() == pytest.approx(bounds.top) and lat.min() == pytest.approx(bounds.bottom)
    assert lon.min() == pytest.approx(bounds.left) and lon.max() == pytest.approx(bounds.right)


def _tile_lattice(step: int = 1) -> Lattice:
    return Lattice.of(TMS.xy_bounds(morecantile.Tile(2620, 6330, 14)), WEB_MERCATOR, step)


def test_refinement_predicts_only_where_the_corners_disagree() -> None:
    lattice = _tile_lattice()
    lat, lon = lattice.lonlat()
    blob = (float(np.median(lat)), float(np.median(lon)))
    calls: list[int] = []

    def predict(la: np.ndarray, lo: np.ndarray) -> np.ndarray:
        calls.append(la.size)
        return field(la, lo, blob)

    full, full_count = sample_lattice(lattice, predict, None, None)
    assert full_count == 257 * 257 == sum(calls)
    calls.clear()
    refined, count = sample_lattice(lattice, predict, None, 0.005)
    assert count == sum(calls) and 129 * 129 < count < 257 * 257 / 3, "refines the blob, not the rest"
    truth = field(lat, lon, blob).reshape(257, 257, 64)
    cosine = np.einsum("ijb,ijb->ij", to_pixels(refined, 1), to_pixels(truth, 1))
    assert cosine.min() > 0.995, "the refined map lost the blob"
    np.testing.assert_allclose(full, truth, atol=1e-6)
    coarse_only = sample_lattice(lattice, lambda la, lo: field(la, lo), None, 0.005)[1]
    assert coarse_only == 129 * 129, "a smooth field needs no refinement"


def test_points_outside_the_map_are_nodata_and_never_predicted() -> None:
    asked: list[np.ndarray] = []

    def predict(la: np.ndarray, lo: np.ndarray) -> np.ndarray:
        asked.append(la)
        return field(la, lo)

    lat = np.array([10.0, np.inf, 95.0, -20.0])
    lon = np.array([5.0, 0.0, 1.0, np.nan])
    out = predict_points(predict, lat, lon, None)
    assert np.isfinite(out[0]).all() and np.isnan(out[1:]).all()
    assert np.concatenate(asked).tolist() == [10.0]


def test_the_pool_computes_the_same_lattice_in_chunks() -> None:
    lattice = _tile_lattice(2)
    threads: set[str] = set()

    def predict(la: np.ndarray, lo: np.ndarray) -> np.ndarray:
        import threading

        threads.add(threading.current_thread().name)
        return field(la, lo)

    alone = sample_lattice(lattice, predict, None, None)[0]
    with PredictionPool(2) as pool:
        pooled = sample_lattice(lattice, predict, pool, None)[0]
    np.testing.assert_array_equal(alone, pooled)
    assert any(name.startswith("earth4d-predict") for name in threads), "the pool was not used"


@pytest.mark.parametrize("points", [3, 2 * CHUNK_POINTS + 1, 9 * CHUNK_POINTS])
def test_a_tiles_points_split_into_equal_chunks_for_every_thread(points: int) -> None:
    sizes: list[int] = []

    def predict(la: np.ndarray, lo: np.ndarray) -> np.ndarray:
        sizes.append(la.size)
        return field(la, lo)

    lat, lon = np.linspace(10.0, 11.0, points), np.linspace(5.0, 6.0, points)
    with PredictionPool(2) as pool:
        out = predict_points(predict, lat, lon, pool)
    assert np.isfinite(out).all() and sum(sizes) == points
    assert len(sizes) % 2 == 0 and max(sizes) <= CHUNK_POINTS, "both threads get as many chunks"
    assert max(sizes) - min(sizes) <= 1
