"""A tiny piece of the demo world for the analysis tests: official-format tiles, labels and the truth.

The area (about 2 x 2 km of farmland and woodland east of the Bay Area, 100 x 100 pixels of 20 m in UTM
zone 10N) holds eight land-cover classes, and about 40 % of it changes class between 2019 and 2023 (crop
rotation, fires, new housing), so classes and changes are known for every pixel.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from pyproj import Transformer

from earth4d_gis.data.demo_world import CLASSES, DemoWorld
from earth4d_gis.quantization import quantize_int8

CRS = "EPSG:32610"
RES = 20.0
SIZE = 100
CORNER = (37.4, -121.3)  # south-west corner, degrees
YEARS = ("2019-06-01", "2023-06-01")


@dataclass
class Truth:
    """Pixel centres (UTM and degrees), elevations, embeddings and classes per year, row-major."""

    transform: Affine
    x: np.ndarray
    y: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    elevation: np.ndarray
    embeddings: dict[str, np.ndarray]
    classes: dict[str, np.ndarray]

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        """(W, S, E, N) in degrees, just inside the pixel grid."""
        return float(self.lon.min()), float(self.lat.min()), float(self.lon.max()), float(self.lat.max())


def make_truth(world: DemoWorld | None = None) -> Truth:
    world = world or DemoWorld()
    east, north = Transformer.from_crs("EPSG:4326", CRS, always_xy=True).transform(CORNER[1], CORNER[0])
    left, top = round(east / RES) * RES, round(north / RES) * RES + SIZE * RES
    transform = Affine(RES, 0.0, left, 0.0, -RES, top)
    cols, rows = np.meshgrid(np.arange(SIZE) + 0.5, np.arange(SIZE) + 0.5)
    x, y = transform * (cols.ravel(), rows.ravel())
    lon, lat = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True).transform(x, y)
    elevation = world.elevation(lat, lon)
    embeddings = {year: world.embedding(lat, lon, elevation, year) for year in YEARS}
    classes = {year: world.land_cover(lat, lon, elevation, year) for year in YEARS}
    return Truth(transform, np.asarray(x), np.asarray(y), np.asarray(lat), np.asarray(lon), elevation,
                 embeddings, classes)  # fmt: skip


def write_official_tile(truth: Truth, year: str, path: Path, bottom_up: bool = False) -> Path:
    """The year's embeddings as an official AlphaEarth tile: int8 A00..A63, nodata -128, no tags of ours."""
    codes = quantize_int8(truth.embeddings[year].T).reshape(64, SIZE, SIZE)
    codes[:, :3, :3] = -128  # a nodata corner, as real tiles have at their edges
    transform = truth.transform
    if bottom_up:
        codes = codes[:, ::-1, :]
        transform = Affine(RES, 0.0, transform.c, 0.0, RES, transform.f - SIZE * RES)
    profile = {
        "driver": "GTiff", "width": SIZE, "height": SIZE, "count": 64, "dtype": "int8", "nodata": -128,
        "crs": CRS, "transform": transform, "tiled": True, "blockxsize": 64, "blockysize": 64,
    }  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(codes)
        for band in range(64):
            dst.set_band_description(band + 1, f"A{band:02d}")
    return path


def class_names(codes: np.ndarray) -> np.ndarray:
    return np.array([CLASSES[c] for c in codes])


def train_small_model(truth: Truth, path: Path, steps: int = 80) -> Path:
    """A small Earth4D model fitted (quickly, on every pixel of both years) to the area's embeddings."""
    import torch
    from encoder_specs import small_spec

    from earth4d_gis.checkpoint import ModelBundle, save_model_file
    from earth4d_gis.elevation_prior import ElevationPrior
    from earth4d_gis.encoder import EncoderConfig
    from earth4d_gis.encoder.smooth import SmoothConfig
    from earth4d_gis.geodesy import TimeSpan, normalized_coordinates
    from earth4d_gis.model import Earth4DModel

    torch.manual_seed(0)
    span = TimeSpan()
    spec = small_spec((8, 16, 1e4, 20.0), (2, 10, 1e5, 2e4), years=8.0)
    # No Fourier features: over 2 km they are constant inputs that only slow this short fit down.
    model = Earth4DModel(
        EncoderConfig.from_spec("analysis-test", spec, span), hidden=(64,), smooth=SmoothConfig(n_per_scale=0)
    )
    coords = np.concatenate(
        [normalized_coordinates(truth.lat, truth.lon, truth.elevation, year, span) for year in YEARS]
    )
    targets = torch.from_numpy(np.concatenate([truth.embeddings[year] for year in YEARS]))
    inputs = torch.from_numpy(coords)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-2)
    generator = torch.Generator().manual_seed(0)
    for _ in range(steps):
        rows = torch.randint(0, len(inputs), (2048,), generator=generator)
        loss = 1 - torch.nn.functional.cosine_similarity(model(inputs[rows]), targets[rows]).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    prior = ElevationPrior.fit(truth.lat, truth.lon, truth.elevation)
    return save_model_file(ModelBundle(model=model, time_span=span, elevation_prior=prior), path)
