"""Georeferencing: a model trained on a demo world with a distinctive patch puts it on the right pixels.

The check is independent of the raster code: each pixel centre comes from the file's own transform and
CRS through pyproj, and the patch's truth is the demo world's disc (ECEF distance to its centre).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from encoder_specs import small_spec
from pyproj import Transformer

from earth4d_gis.checkpoint import ModelBundle, save_model_file
from earth4d_gis.data import DemoWorld, Patch
from earth4d_gis.encoder import EncoderConfig
from earth4d_gis.encoder.smooth import SmoothConfig
from earth4d_gis.geodesy import TimeSpan, geodetic_to_ecef, normalized_coordinates
from earth4d_gis.model import Earth4DModel
from earth4d_gis.raster import rasterize

LAT, LON, RADIUS_M = 48.137, 11.575, 300.0
PATCH = Patch(LAT, LON, RADIUS_M, seed=7)
DATE = "2023-06-01"
HALF_SIDE_M = 1500.0
THRESHOLD = 0.75


# Hash grids and height/latitude only: a random model whose field varies from pixel to pixel.
NO_FOURIER = SmoothConfig(n_per_scale=0)

def _small_config() -> EncoderConfig:
    spec = small_spec((8, 13, 3e3, 15.0), (2, 10, 1e6, 5e5))
    return EncoderConfig.from_spec("georef-test", spec, TimeSpan())


def _offset_deg(metres: float) -> tuple[float, float]:
    return metres / 111_320.0, metres / (111_320.0 * np.cos(np.radians(LAT)))


@pytest.fixture(scope="module")
def trained_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small model fitted (briefly) to a 3 x 3 km square of the demo world around the patch."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    n = 25_000
    dlat, dlon = _offset_deg(HALF_SIDE_M)
    lat, lon = LAT + rng.uniform(-dlat, dlat, n), LON + rng.uniform(-dlon, dlon, n)
    target = torch.from_numpy(DemoWorld(seed=1, patches=[PATCH]).embedding(lat, lon, 0.0, DATE))
    coords = torch.from_numpy(normalized_coordinates(lat, lon, np.zeros(n), DATE, TimeSpan()))
    model = Earth4DModel(_small_config(), hidden=(64,), dropout=0.0, smooth=NO_FOURIER)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(100):
        batch = torch.randint(0, n, (4096,))
        loss = torch.nn.functional.mse_loss(model(coords[batch]), target[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return save_model_file(ModelBundle(model=model.eval()), tmp_path_factory.mktemp("georef") / "model.pt")


def _pixel_lat_lon(src: rasterio.DatasetReader) -> tuple[np.ndarray, np.ndarray]:
    cols, rows = np.meshgrid(np.arange(src.width), np.arange(src.height))
    xs, ys = rasterio.transform.xy(src.transform, rows.ravel(), cols.ravel(), offset="center")
    lon, lat = Transformer.from_crs(src.crs.to_wkt(), "EPSG:4326", always_xy=True).transform(xs, ys)
    return np.reshape(lat, rows.shape), np.reshape(lon, rows.shape)


@pytest.mark.parametrize(
    ("crs", "resolution"),
    [("EPSG:4326", 0.0005), (None, 40.0)],
    ids=["epsg4326", "utm"],
)
@pytest.mark.slow  # trains its model
def test_patch_lands_on_the_right_pixels(
    trained_model: Path, tmp_path: Path, crs: str | None, resolution: float
) -> None:
    dlat, dlon = _offset_deg(1000.0)
    out = rasterize(
        trained_model,
        tmp_path / "georef.tif",
        bbox=[LON - dlon, LAT - dlat, LON + dlon, LAT + dlat],
        date=DATE,
        crs=crs,
        resolution=resolution,
        elevation=0.0,
    )
    with rasterio.open(out) as src:
        if crs is None:
            assert src.crs.to_epsg() == 32632
        embeddings = src.read()
        lat, lon = _pixel_lat_lon(src)
        pixel_m = np.hypot(*(np.array(src.res) * ([111_320.0 * np.cos(np.radians(LAT)), 111_320.0]
                                                   if src.crs.is_geographic else [1.0, 1.0])))  # fmt: skip
    cosine = np.einsum("bij,b->ij", embeddings, PATCH.unit_vector().astype(np.float32))
    predicted = cosine > THRESHOLD
    centre = geodetic_to_ecef(LAT, LON, 0.0)[0]
    distance = np.linalg.norm(geodetic_to_ecef(lat.ravel(), lon.ravel(), 0.0) - centre, axis=1).reshape(
        lat.shape
    )
    truth = distance < RADIUS_M
    assert truth.sum() > 100
    wrong = predicted != truth
    assert np.all(np.abs(distance[wrong] - RADIUS_M) <= pixel_m), "a pixel more than one pixel from the edge"
    rows, cols = np.nonzero(predicted)
    true_rows, true_cols = np.nonzero(truth)
    assert abs(rows.mean() - true_rows.mean()) < 1.0 and abs(cols.mean() - true_cols.mean()) < 1.0
