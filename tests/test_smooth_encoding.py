"""The smooth global encoding: geography from encoder coordinates, gradients, determinism, bad inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from earth4d_gis.encoder.smooth import SmoothConfig, SmoothEncoding, geography
from earth4d_gis.errors import InputError
from earth4d_gis.geodesy import normalized_coordinates


def _coords(lat: list[float], lon: list[float], elev: list[float]) -> torch.Tensor:
    return torch.from_numpy(normalized_coordinates(lat, lon, elev, "2020-06-01"))


def test_geography_recovers_height_and_latitude() -> None:
    lat = [0.0, 45.0, -33.9, 89.9, 27.99]
    elev = [0.0, 1200.0, 15.0, 2800.0, 8848.0]
    _, height, sin_lat = geography(_coords(lat, [0.0, 7.0, 18.4, -40.0, 86.9], elev))
    np.testing.assert_allclose(height.numpy(), elev, atol=1.0)
    # Geocentric latitude: within 0.2 degrees of the geodetic one.
    np.testing.assert_allclose(np.degrees(np.arcsin(sin_lat.numpy())), lat, atol=0.2)


def test_features_separate_heights_at_one_place() -> None:
    enc = SmoothEncoding()
    low, high = enc(_coords([46.5], [7.5], [500.0])), enc(_coords([46.5], [7.5], [2500.0]))
    assert low.shape == (1, SmoothConfig().output_dim) and low.dtype == torch.float32
    assert float(high[0, -3] - low[0, -3]) == pytest.approx(2.0, abs=1e-3)


def test_frequencies_are_fixed_by_the_seed() -> None:
    coords = _coords([10.0, -20.0], [30.0, 170.0], [0.0, 100.0])
    assert torch.equal(SmoothEncoding()(coords), SmoothEncoding()(coords))
    assert not torch.equal(SmoothEncoding()(coords), SmoothEncoding(SmoothConfig(seed=1))(coords))


def test_gradcheck_with_respect_to_the_coordinates() -> None:
    enc = SmoothEncoding(SmoothConfig(n_per_scale=4, scales=(2.0, 8.0)))
    coords = _coords([10.0, -20.0, 60.0], [30.0, 170.0, -100.0], [0.0, 100.0, 900.0]).requires_grad_(True)

    def f(c: torch.Tensor) -> torch.Tensor:
        unit, height, sin_lat = geography(c)
        return torch.cat([unit @ enc.frequencies.T, height[:, None] / 1000.0, sin_lat[:, None]], dim=1)

    assert torch.autograd.gradcheck(f, (coords,), eps=1e-7, atol=1e-4)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (torch.zeros(3, 3, dtype=torch.float64), "shape"),
        (torch.zeros(3, 4, dtype=torch.float32), "float64"),
        (torch.full((2, 4), 1.5, dtype=torch.float64), "outside"),
    ],
)
def test_bad_coordinates_are_refused(bad: torch.Tensor, message: str) -> None:
    with pytest.raises(InputError, match=message):
        SmoothEncoding()(bad)


def test_bad_configuration_is_refused() -> None:
    with pytest.raises(InputError, match="scales"):
        SmoothConfig(scales=(2.0, -1.0))
    with pytest.raises(InputError, match="n_per_scale"):
        SmoothConfig(n_per_scale=-1)
