"""Web Mercator tiles of model embeddings: the tile grid from morecantile, the pixels from the raster core.

A tile is an ``OutputGrid`` in EPSG:3857 covering the tile's bounds (morecantile's ``WebMercatorQuad``),
computed by the same ``WindowJob`` that ``rasterize`` runs, so a tile equals ``rasterize`` of that area.
Where a tile's pixels are coarser than the model's ~10 m, the tile is computed 2x (or 4x...) finer and each
pixel is the mean of its finer pixels re-normalised to unit length, as AlphaEarth builds its overviews (and
as ``rasterize`` builds its own overview levels).
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

if TYPE_CHECKING:
    from ..predictor import Earth4D

TILE_SIZE = 256
TMS = morecantile.tms.get("WebMercatorQuad")
WEB_MERCATOR = CRS.from_epsg(3857)
MIN_ZOOM, MAX_ZOOM = 0, 22
NATIVE_PIXEL_M = 10.0
"""The AlphaEarth product's pixel: tiles with coarser ground pixels are averaged from finer ones."""
DEFAULT_OVERSAMPLE = 1
"""At most this many 2x2 averaging levels per tile (1: each pixel is the mean of 4 predictions)."""
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


def oversample_levels(tile: morecantile.Tile, max_levels: int) -> int:
    """How many 2x2 averaging levels a tile needs so its finest pixels are about 10 m on the ground."""
    bounds = TMS.xy_bounds(tile)
    lat = TMS.lnglat((bounds.left + bounds.right) / 2, (bounds.bottom + bounds.top) / 2).y
    ground = (bounds.right - bounds.left) / TILE_SIZE * math.cos(math.radians(lat))
    needed = math.ceil(math.log2(max(ground, 1e-9) / NATIVE_PIXEL_M) - 1e-9)
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
class TileKey:
    """What identifies one tile's embeddings: place, date (ISO seconds) and averaging levels."""

    z: int
    x: int
    y: int
    date: str
    levels: int


class TileEmbeddings:
    """Unit-length embeddings ``[64, 256, 256]`` of tiles, with a small bounded cache shared by threads."""

    def __init__(
        self, model: Earth4D, max_oversample: int = DEFAULT_OVERSAMPLE, cache_bytes: int = 0
    ) -> None:
        if not 0 <= int(max_oversample) <= 3:
            raise InputError(f"oversample {max_oversample} is not between 0 and 3")
        self.model = model
        self.max_oversample = int(max_oversample)
        self._cache: cachetools.LRUCache[TileKey, np.ndarray] | None = (
            cachetools.LRUCache(maxsize=cache_bytes, getsizeof=lambda a: a.nbytes)
            if cache_bytes >= _EMBEDDING_BYTES
            else None
        )
        self._lock = threading.Lock()

    def key(self, tile: morecantile.Tile, date: np.datetime64) -> TileKey:
        return TileKey(tile.z, tile.x, tile.y, str(date), oversample_levels(tile, self.max_oversample))

    def get(self, tile: morecantile.Tile, date: np.datetime64) -> np.ndarray:
        """The tile's embeddings at ``date`` (read-only; NaN where nothing was predicted)."""
        key = self.key(tile, date)
        if self._cache is not None:
            with self._lock:
                cached = self._cache.get(key)
            if cached is not None:
                return cached
        values = self.compute(tile, date, key.levels)
        values.flags.writeable = False
        if self._cache is not None:
            with self._lock:
                self._cache[key] = values
        return values

    def compute(self, tile: morecantile.Tile, date: np.datetime64, levels: int) -> np.ndarray:
        """Predict the tile ``2**levels`` times finer, then halve it ``levels`` times by unit means."""
        grid = tile_grid(tile, levels)
        kind = EmbeddingsOutput()
        job = WindowJob(self.model, grid, kind, date, PriorElevation())
        values = job.compute(Window(0, 0, grid.width, grid.height))
        for _ in range(levels):
            values = kind.halve(values)
        return values
