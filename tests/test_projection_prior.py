"""RGB projection and elevation prior: the two small pieces of state a model file carries besides weights."""

from __future__ import annotations

import numpy as np
import pytest

from earth4d_gis.elevation_prior import ElevationPrior
from earth4d_gis.projection import RGBProjection


def _clustered_embeddings(rng: np.random.Generator, n: int = 3000) -> np.ndarray:
    centres = rng.normal(size=(5, 64))
    emb = centres[rng.integers(0, 5, n)] + 0.05 * rng.normal(size=(n, 64))
    return (emb / np.linalg.norm(emb, axis=1, keepdims=True)).astype(np.float32)


def test_projection_separates_clusters_and_round_trips() -> None:
    rng = np.random.default_rng(0)
    emb = _clustered_embeddings(rng)
    proj = RGBProjection.fit(emb)
    rgb = proj.to_rgb(emb)
    assert rgb.dtype == np.uint8 and rgb.shape == (emb.shape[0], 3)
    # The stretch uses the 2..98 percentiles, so both ends of each channel are reached.
    assert (rgb.min(axis=0) == 0).all() and (rgb.max(axis=0) == 255).all()
    # Two very different embeddings get clearly different colours.
    far = np.argmax(np.linalg.norm(emb - emb[0], axis=1))
    assert np.abs(rgb[0].astype(int) - rgb[far].astype(int)).sum() > 60
    again = RGBProjection.from_dict(proj.to_dict())
    np.testing.assert_array_equal(again.to_rgb(emb), rgb)


def test_projection_is_deterministic_in_sign() -> None:
    rng = np.random.default_rng(1)
    emb = _clustered_embeddings(rng)
    a = RGBProjection.fit(emb)
    b = RGBProjection.fit(emb[::-1].copy())  # same data, another row order: same colours
    np.testing.assert_allclose(a.components, b.components, atol=1e-5)
    assert (a.components[np.arange(3), np.abs(a.components).argmax(axis=1)] > 0).all()


def test_projection_nan_rows_become_black() -> None:
    rng = np.random.default_rng(2)
    emb = _clustered_embeddings(rng, 200)
    proj = RGBProjection.fit(emb)
    emb[3] = np.nan
    rgb = proj.to_rgb(emb)
    assert (rgb[3] == 0).all()


def test_elevation_prior_uses_finest_occupied_cell_then_coarse_then_zero() -> None:
    lat = np.array([37.01, 37.02, 37.55, 10.0])
    lon = np.array([-122.01, -122.02, -122.55, 20.0])
    elev = np.array([100.0, 300.0, 1000.0, 50.0])
    prior = ElevationPrior.fit(lat, lon, elev)
    got = prior.lookup(np.array([37.05, 37.55, -45.0, 10.05]), np.array([-122.05, -122.55, 170.0, 20.05]))
    assert got[0] == pytest.approx(200.0)  # the centre of the 0.1-degree cell of the first two samples
    assert got[1] == pytest.approx(1000.0)  # the centre of the third sample's own fine cell
    assert got[2] == 0.0  # no samples anywhere near
    assert got[3] == pytest.approx(50.0)
    # Between cell centres the value moves continuously: no step where a map crosses a cell edge.
    path = np.linspace(36.8, 37.3, 5001)
    along = prior.lookup(path, np.full_like(path, -122.05))
    assert np.abs(np.diff(along)).max() < 1.0
    assert along.min() >= 0.0 and along.max() <= 1000.0
    assert prior.coverage(np.array([37.015, -45.0]), np.array([-122.015, 170.0])) == 0.5


def test_elevation_prior_wraps_longitude_and_round_trips() -> None:
    prior = ElevationPrior.fit(np.array([0.05]), np.array([179.95]), np.array([42.0]))
    assert prior.lookup(np.array([0.05]), np.array([-180.05]))[0] == pytest.approx(42.0)
    again = ElevationPrior.from_dict(prior.to_dict())
    np.testing.assert_array_equal(
        again.lookup([0.05, 5.0], [179.95, 5.0]), prior.lookup([0.05, 5.0], [179.95, 5.0])
    )
