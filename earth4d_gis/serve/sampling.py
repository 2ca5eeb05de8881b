"""Where a tile asks the model, and how the answers become 256 x 256 unit-length pixels.

A tile is sampled on a lattice of its pixel *corners*, every ``step`` pixels, and each pixel is the
bilinear interpolation of the lattice at its centre, re-normalised to unit length:

- ``step = 1`` (tiles whose pixels are 10 m or coarser): every pixel is the unit-length mean of the four
  predictions at its corners, an estimate of the mean over the pixel's footprint (as AlphaEarth builds its
  overviews) from ``257 x 257`` predictions, a quarter of what averaging 2 x 2 predictions inside each
  pixel costs, with each prediction shared by four pixels;
- ``step = 2, 4, ...`` (tiles zoomed in beyond what the model resolves): the lattice keeps the AlphaEarth
  pixel's 10 m spacing and the pixels between its points are interpolated, so a zoom-16 tile needs
  ``65 x 65`` predictions, not 65,536 that would all say the same.

Refinement: with ``refine_tolerance`` a lattice is first computed at twice its step; only the cells whose
four corners disagree (some corner's cosine to the cell's unit mean below ``1 - tolerance``) are computed at
the full step, the rest interpolated (``raster.refine``, shared with ``rasterize``). Smooth areas (water,
large fields) then cost a quarter.

Predictions run in chunks on a thread pool (torch releases the GIL), so one tile uses every core.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

import morecantile
import numpy as np
from affine import Affine
from rasterio.windows import Window

from ..raster.grid import OutputGrid, on_the_map
from ..raster.refine import refined_window

if TYPE_CHECKING:
    from ..predictor import Earth4D

TILE_SIZE = 256
NATIVE_PIXEL_M = 10.0
"""The AlphaEarth product's pixel: the lattice is never sparser than this on the ground."""
CHUNK_POINTS = 2048
"""Points per prediction chunk on the pool at most: small enough that the chunks of one tile share the
cores evenly, large enough to amortise the model's per-call overhead (1024..4096 measured alike)."""
MAX_STEP = 64


@dataclass(frozen=True)
class Lattice:
    """The corner points of a tile every ``step`` pixels: ``(n + 1) x (n + 1)`` with ``n = 256 / step``."""

    grid: OutputGrid
    step: int

    @classmethod
    def of(cls, bounds: morecantile.BoundingBox, crs: object, step: int) -> Lattice:
        """The lattice of a tile with ``bounds`` (left, bottom, right, top in ``crs``)."""
        n = TILE_SIZE // step
        sx = (bounds.right - bounds.left) / n
        sy = (bounds.top - bounds.bottom) / n
        transform = Affine.translation(bounds.left - sx / 2, bounds.top + sy / 2) * Affine.scale(sx, -sy)
        return cls(OutputGrid(crs, transform, n + 1, n + 1), step)

    @property
    def size(self) -> int:
        return self.grid.width

    def lonlat(self) -> tuple[np.ndarray, np.ndarray]:
        """Latitude and longitude of every lattice point, flat (row-major)."""
        return self.grid.pixel_lonlat(Window(0, 0, self.grid.width, self.grid.height))


def lattice_step(ground_pixel_m: float) -> int:
    """The largest power-of-two step whose lattice spacing on the ground stays within 10 m (at least 1)."""
    if not ground_pixel_m > 0:
        return 1
    step = 2 ** max(0, math.floor(math.log2(NATIVE_PIXEL_M / ground_pixel_m) + 1e-9))
    return int(min(step, MAX_STEP))


Predict = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""Latitudes, longitudes (valid points only) -> unit-length float32 ``[N, 64]``."""


def model_predictor(model: Earth4D, date: np.datetime64) -> Predict:
    """The model's prediction at points on ``date``, with elevations from its prior (as the tiles use)."""

    def predict(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        return model.predict(lat, lon, None, date)

    return predict


class PredictionPool(ThreadPoolExecutor):
    """The threads that share one tile's predictions. A tile's points split into equal chunks, as many as
    a multiple of ``threads``, so that no thread is left alone with a last chunk while the others wait."""

    def __init__(self, threads: int) -> None:
        super().__init__(max_workers=threads, thread_name_prefix="earth4d-predict")
        self.threads = threads


def predict_points(
    predict: Predict, lat: np.ndarray, lon: np.ndarray, pool: PredictionPool | None
) -> np.ndarray:
    """``[N, 64]`` predictions at these points (NaN outside the map), in chunks run on ``pool``."""
    out = np.full((lat.size, 64), np.nan, dtype=np.float32)
    valid = np.flatnonzero(on_the_map(lat, lon))
    if valid.size == 0:
        return out
    threads = pool.threads if pool is not None else 1
    count = threads * max(1, math.ceil(valid.size / (threads * CHUNK_POINTS)))
    chunks: Sequence[np.ndarray] = np.array_split(valid, min(count, valid.size))
    if pool is None or len(chunks) == 1:
        results = [predict(lat[c], lon[c]) for c in chunks]
    else:
        results = list(pool.map(lambda c: predict(lat[c], lon[c]), chunks))
    for chunk, values in zip(chunks, results, strict=True):
        out[chunk] = values
    return out


def sample_lattice(
    lattice: Lattice,
    predict: Predict,
    pool: PredictionPool | None,
    refine_tolerance: float | None = None,
) -> tuple[np.ndarray, int]:
    """Embeddings ``[n + 1, n + 1, 64]`` at the lattice points, and how many predictions they took.

    With ``refine_tolerance``, the points between every other one are predicted only where the map varies
    (``raster.refine``, as ``rasterize --output rgb`` draws); points outside the map are NaN.
    """
    lat, lon = lattice.lonlat()
    size = lattice.size
    if refine_tolerance is None:
        return predict_points(predict, lat, lon, pool).reshape(size, size, 64), lat.size
    valid = on_the_map(lat, lon).reshape(size, size)
    return refined_window(
        lambda flat: predict_points(predict, lat[flat], lon[flat], pool), valid, refine_tolerance
    )


def to_pixels(lattice_values: np.ndarray, step: int) -> np.ndarray:
    """Unit-length ``[256, 256, 64]``: the lattice bilinearly at each pixel centre, re-normalised."""
    if step == 1:  # each pixel centre is the middle of a lattice cell: the mean of its four corners
        v = lattice_values
        return _unit(v[:-1, :-1] + v[:-1, 1:] + v[1:, :-1] + v[1:, 1:])
    return _unit(_upsample(_upsample(lattice_values, step, 0), step, 1))


def _upsample(values: np.ndarray, step: int, axis: int) -> np.ndarray:
    """Linear interpolation along ``axis`` (0 or 1) at ``step`` pixel centres per lattice cell.

    Pixel ``step * i + k`` lies in cell ``i`` at the fraction ``(k + 0.5) / step``: one strided slice per
    ``k``, no gathers.
    """
    cells = values.shape[axis] - 1
    shape = list(values.shape)
    shape[axis] = cells * step
    out = np.empty(shape, dtype=np.float32)
    low = values[:-1] if axis == 0 else values[:, :-1]
    high = values[1:] if axis == 0 else values[:, 1:]
    for k in range(step):
        fraction = np.float32((k + 0.5) / step)
        target = out[k::step] if axis == 0 else out[:, k::step]
        np.multiply(low, 1 - fraction, out=target)
        target += high * fraction
    return out


def _unit(values: np.ndarray) -> np.ndarray:
    """``[h, w, 64]`` scaled to unit length along the last axis (in place when float32); NaN where the
    norm is 0 or NaN."""
    norm = np.sqrt(np.einsum("ijb,ijb->ij", values, values))[..., None]
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.divide(values, norm, out=values if values.dtype == np.float32 else None)
    out[~(norm[..., 0] > 0)] = np.nan
    return out.astype(np.float32, copy=False)
