"""Web Mercator tiles of model embeddings: the tile grid from morecantile, the pixels from the model.

A tile's bounds come from morecantile's ``WebMercatorQuad``. By default (``oversample 0``) the model is
asked on a lattice of the tile's pixel corners (``sampling``): each pixel is the unit-length mean of its
four corner predictions (tiles with pixels of 10 m or coarser), or interpolated from a lattice at the
AlphaEarth pixel's 10 m spacing (tiles zoomed in further), and cells whose corners agree are interpolated
from a lattice twice as sparse. With ``oversample N`` a zoomed-out tile is computed as an ``OutputGrid``
in EPSG:3857 up to ``2**N`` times finer by the same ``WindowJob`` that ``rasterize`` runs and halved ``N``
times by unit means, as AlphaEarth builds its overviews (and as ``rasterize`` builds its own).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cachetools
import morecantile
import numpy as np
from affine import Affine
from pyproj import CRS
from rasterio.windows import Window

from ..errors import InputError
from ..raster.compute import WindowJob
from ..raster.elevation import PriorElevation
from ..raster.grid import OutputGrid
from ..raster.products import EmbeddingsOutput
from ..raster.refine import DEFAULT_REFINE_TOLERANCE, check_refine_tolerance
from .sampling import (
    NATIVE_PIXEL_M,
    TILE_SIZE,
    Lattice,
    PredictionPool,
    lattice_step,
    model_predictor,
    sample_lattice,
    to_pixels,
)

if TYPE_CHECKING:
    from ..predictor import Earth4D

TMS = morecantile.tms.get("WebMercatorQuad")
WEB_MERCATOR = CRS.from_epsg(3857)
MIN_ZOOM, MAX_ZOOM = 0, 22
DEFAULT_OVERSAMPLE = 0
"""0: pixels from a lattice of corner predictions; N: up to 2**N x 2**N predictions inside each pixel."""
SUPERSAMPLE_ROWS = 16
"""Rows of the finer grid per chunk when supersampling (a chunk is one prediction batch or two)."""
_EMBEDDING_BYTES = 64 * TILE_SIZE * TILE_SIZE * 4


class TileOutOfRange(InputError):
    """A tile address that does not exist (the web app answers 404)."""


def check_tile(z: int, x: int, y: int) -> morecantile.Tile:
    """The tile ``z/x/y``; ``TileOutOfRange`` when it is not in Web Mercator or is beyond MAX_ZOOM."""
    if not MIN_ZOOM <= z <= MAX_ZOOM:
        raise TileOutOfRange(f"zoom {z} is outside {MIN_ZOOM}..{MAX_ZOOM}")
    tile = morecantile.Tile(x, y, z)
    if not TMS.is_valid(tile):
        matrix = TMS.matrix(z)
        raise TileOutOfRange(
            f"tile {z}/{x}/{y} does not exist: at zoom {z} x and y run from 0 to "
            f"{matrix.matrixWidth - 1} and {matrix.matrixHeight - 1}"
        )
    return tile


def ground_pixel_m(tile: morecantile.Tile) -> float:
    """The size of the tile's pixels on the ground at its centre (Web Mercator metres x cos(latitude))."""
    bounds = TMS.xy_bounds(tile)
    lat = TMS.lnglat((bounds.left + bounds.right) / 2, (bounds.bottom + bounds.top) / 2).y
    return (bounds.right - bounds.left) / TILE_SIZE * math.cos(math.radians(lat))


def oversample_levels(tile: morecantile.Tile, max_levels: int) -> int:
    """How many 2x2 averaging levels a tile needs so its finest pixels are about 10 m on the ground."""
    needed = math.ceil(math.log2(max(ground_pixel_m(tile), 1e-9) / NATIVE_PIXEL_M) - 1e-9)
    return int(min(max(needed, 0), max_levels))


def tile_grid(tile: morecantile.Tile, levels: int = 0) -> OutputGrid:
    """The EPSG:3857 grid of ``tile`` at ``TILE_SIZE * 2**levels`` pixels across."""
    bounds = TMS.xy_bounds(tile)
    size = TILE_SIZE << levels
    transform = Affine.translation(bounds.left, bounds.top) * Affine.scale(
        (bounds.right - bounds.left) / size, -(bounds.top - bounds.bottom) / size
    )
    return OutputGrid(WEB_MERCATOR, transform, size, size)


@dataclass(frozen=True)
class TilePlan:
    """How a tile is sampled: ``levels`` of 2x2 supersampling, or else a corner lattice every ``step`` px."""

    levels: int
    step: int

    @classmethod
    def for_tile(cls, tile: morecantile.Tile, max_oversample: int) -> TilePlan:
        levels = oversample_levels(tile, max_oversample)
        return cls(levels, 1 if levels else lattice_step(ground_pixel_m(tile)))


@dataclass(frozen=True)
class TileKey:
    """What identifies one tile's embeddings: place, date (ISO seconds) and how it is sampled."""

    z: int
    x: int
    y: int
    date: str
    plan: TilePlan


class TileEmbeddings:
    """Unit-length embeddings ``[256, 256, 64]`` (pixel-major) of tiles, in a bounded shared cache.

    ``pool`` runs the predictions of one tile in chunks (so one tile uses every core); ``predictions``
    counts the model's predictions so far (the bench and the tests read it).
    """

    def __init__(
        self,
        model: Earth4D,
        max_oversample: int = DEFAULT_OVERSAMPLE,
        cache_bytes: int = 0,
        *,
        refine_tolerance: float | None = DEFAULT_REFINE_TOLERANCE,
        pool: PredictionPool | None = None,
    ) -> None:
        if not 0 <= int(max_oversample) <= 3:
            raise InputError(f"oversample {max_oversample} is not between 0 and 3")
        if refine_tolerance is not None:
            refine_tolerance = check_refine_tolerance(refine_tolerance)
        self.model = model
        self.max_oversample = int(max_oversample)
        self.refine_tolerance = refine_tolerance
        self.pool = pool
        self.predictions = 0
        self._cache: cachetools.LRUCache[TileKey, np.ndarray] | None = (
            cachetools.LRUCache(maxsize=cache_bytes, getsizeof=lambda a: a.nbytes)
            if cache_bytes >= _EMBEDDING_BYTES
            else None
        )
        self._lock = threading.Lock()

    def key(self, tile: morecantile.Tile, date: np.datetime64) -> TileKey:
        return TileKey(tile.z, tile.x, tile.y, str(date), TilePlan.for_tile(tile, self.max_oversample))

    def get(self, tile: morecantile.Tile, date: np.datetime64) -> np.ndarray:
        """The tile's embeddings at ``date`` (read-only; NaN where nothing was predicted)."""
        key = self.key(tile, date)
        if self._cache is not None:
            with self._lock:
                cached = self._cache.get(key)
            if cached is not None:
                return cached
        values = self.compute(tile, date, key.plan)
        values.flags.writeable = False
        if self._cache is not None:
            with self._lock:
                self._cache[key] = values
        return values

    def compute(self, tile: morecantile.Tile, date: np.datetime64, plan: TilePlan) -> np.ndarray:
        """The tile's unit-length embeddings ``[256, 256, 64]`` sampled as ``plan`` says."""
        if plan.levels:
            return self.supersample(tile, date, plan.levels)
        lattice = Lattice.of(TMS.xy_bounds(tile), WEB_MERCATOR, plan.step)
        values, count = sample_lattice(
            lattice, model_predictor(self.model, date), self.pool, self.refine_tolerance
        )
        self._count(count)
        return to_pixels(values, plan.step)

    def supersample(self, tile: morecantile.Tile, date: np.datetime64, levels: int) -> np.ndarray:
        """The tile predicted ``2**levels`` times finer (``rasterize``'s path), halved by unit means."""
        grid = tile_grid(tile, levels)
        kind = EmbeddingsOutput()
        job = WindowJob(self.model, grid, kind, date, PriorElevation())
        windows = [
            Window(0, row, grid.width, min(SUPERSAMPLE_ROWS, grid.height - row))
            for row in range(0, grid.height, SUPERSAMPLE_ROWS)
        ]
        parts = list(self.pool.map(job.compute, windows)) if self.pool else [job.compute(w) for w in windows]
        values = np.concatenate(parts, axis=1)
        self._count(grid.n_pixels)
        for _ in range(levels):
            values = kind.halve(values)
        return np.ascontiguousarray(values.transpose(1, 2, 0))

    def _count(self, predictions: int) -> None:
        with self._lock:
            self.predictions += predictions
