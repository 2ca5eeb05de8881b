"""Zonal means: the mean embedding per polygon, or per cell of a regular coarser grid.

The mean of the pixels' vectors is re-normalised to unit length (as AlphaEarth builds its overviews) and
stored as columns A00..A63 with the pixel count, in a GeoDataFrame (written as a GeoPackage by the CLI).
Pixels are summed tile by tile, so memory does not grow with the area. Each tile's sums come from a
``ZonalSums`` job, which ``raster.execution.window_results`` runs in this process, in ``workers`` local
processes or on a dask cluster (``scheduler``), exactly as ``rasterize`` and the other analyses do; the
sums come back in order and are added up here.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from rasterio.windows import Window

from ..conventions import EMBEDDING_BANDS, EMBEDDING_DIM
from ..errors import InputError
from ..files import atomic_output, check_output_path
from ..raster.cog import TILE
from ..raster.execution import check_scheduler_address, window_results
from .features import Tick, on_grid, read_features, tiles_over, window_polygon_pixels
from .source import EmbeddingSource, as_source

if TYPE_CHECKING:
    import geopandas

def _unit_means(sums: np.ndarray, counts: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums / norms
    means[(counts == 0) | (norms[:, 0] == 0)] = np.nan
    return means.astype(np.float32)


def _with_means(frame: Any, sums: np.ndarray, counts: np.ndarray) -> geopandas.GeoDataFrame:
    import pandas

    means = _unit_means(sums, counts)
    columns = pandas.DataFrame(means, columns=list(EMBEDDING_BANDS), index=frame.index)
    columns.insert(0, "pixel_count", counts.astype(np.int64))
    clash = [c for c in columns.columns if c in frame.columns]
    base = frame.drop(columns=clash)
    return base.join(columns)


@dataclass(frozen=True)
class GridCells:
    """Square cells of ``size`` aligned to multiples of it: cell ``(row, col)`` from ``(row0, col0)``."""

    size: float
    col0: int
    row0: int
    n_cols: int
    n_rows: int


@dataclass
class ZonalSums:
    """Per window: sums of the valid pixels' embeddings per zone, as float64 ``[k, 2 + 64]`` rows
    (zone number, pixel count, 64 sums). Zones are polygons (``geometries``, with the polygons touching
    each window in ``touching``) or the cells of ``cells``. Everything a worker process needs."""

    source: EmbeddingSource
    geometries: list[Any] | None = None
    touching: dict[tuple[int, int], list[int]] | None = None
    cells: GridCells | None = None

    def compute(self, window: Window) -> np.ndarray:
        if self.cells is not None:
            return self._cell_sums(window)
        rows = []
        indices = (self.touching or {}).get((int(window.col_off), int(window.row_off)), [])
        for index, pixels in window_polygon_pixels(self.source, window, self.geometries or [], indices):
            sums = pixels.sum(axis=0, dtype=np.float64)
            rows.append(np.concatenate([[index, len(pixels)], sums]))
        return np.array(rows, dtype=np.float64).reshape(-1, 2 + EMBEDDING_DIM)

    def _cell_sums(self, window: Window) -> np.ndarray:
        cells = self.cells
        assert cells is not None
        stack = self.source.read(window).reshape(EMBEDDING_DIM, -1)
        valid = np.isfinite(stack).all(axis=0)
        if not valid.any():
            return np.zeros((0, 2 + EMBEDDING_DIM))
        xs, ys = self.source.grid.pixel_centres(window)
        col = np.floor(xs.ravel()[valid] / cells.size).astype(np.int64) - cells.col0
        row = np.floor(ys.ravel()[valid] / cells.size).astype(np.int64) - cells.row0
        used, cell = np.unique(row * cells.n_cols + col, return_inverse=True)
        out = np.empty((used.size, 2 + EMBEDDING_DIM), dtype=np.float64)
        out[:, 0] = used
        out[:, 1] = np.bincount(cell, minlength=used.size)
        values = stack[:, valid]
        for band in range(EMBEDDING_DIM):
            out[:, 2 + band] = np.bincount(cell, weights=values[band], minlength=used.size)
        return out


_COMPACT_ROWS = 1_000_000
"""Partial-sum rows kept before they are added up per zone (bounds memory by the zones with data)."""


def _by_zone(rows: np.ndarray) -> np.ndarray:
    """Partial-sum rows ``[zone, count, 64 sums]`` added up per zone, one row per zone, zones ascending.

    Each zone's rows are added in the order they came (a stable sort), as a running sum would.
    """
    if len(rows) == 0:
        return rows
    rows = rows[np.argsort(rows[:, 0], kind="stable")]
    starts = np.flatnonzero(np.r_[True, rows[1:, 0] != rows[:-1, 0]])
    out = np.add.reduceat(rows, starts, axis=0)
    out[:, 0] = rows[starts, 0]
    return out


def _accumulate(
    job: ZonalSums,
    windows: list[Window],
    tick: Tick | None,
    workers: int,
    scheduler: Any,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The zones with pixels (ascending ids), their sums ``[k, 64]`` and pixel counts, from every window's
    partial sums computed as asked. Memory grows with the zones that have data, not with all zones."""
    if int(workers) < 1:
        raise InputError(f"workers {workers} is not a positive number")
    if isinstance(scheduler, str):
        check_scheduler_address(scheduler)
    parts: list[np.ndarray] = []
    pending = 0
    with window_results(job, windows, workers=int(workers), scheduler=scheduler) as results:  # type: ignore[arg-type]
        for done, (_window, part) in enumerate(results, start=1):
            parts.append(np.asarray(part, dtype=np.float64))
            pending += len(part)
            if pending > _COMPACT_ROWS:
                parts = [_by_zone(np.concatenate(parts))]
                pending = len(parts[0])
            if tick is not None:
                tick(done, len(windows))
    table = _by_zone(np.concatenate(parts)) if parts else np.zeros((0, 2 + EMBEDDING_DIM))
    return table[:, 0].astype(np.int64), table[:, 2:], table[:, 1].astype(np.int64)


def zonal_polygons(
    source: Any, zones: Any, tick: Tick | None = None, *, workers: int = 1, scheduler: Any = None
) -> geopandas.GeoDataFrame:
    """The zones (polygons inside the area, in the source's CRS) with pixel_count and unit mean A00..A63.

    ``workers`` local processes or a dask ``scheduler`` (address or ``distributed.Client``) compute the
    tiles, as in ``rasterize``.
    """
    src: EmbeddingSource = as_source(source)
    frame = read_features(zones, "zones")
    polygons = frame[frame.geometry.geom_type.isin(["Polygon", "MultiPolygon"])]
    if len(polygons) == 0:
        raise InputError("the zones hold no polygons")
    polygons = on_grid(polygons, src, "zones")
    geometries = list(polygons.geometry)
    tiles = tiles_over(src, geometries)
    touching = {(int(w.col_off), int(w.row_off)): indices for w, indices in tiles}
    job = ZonalSums(src, geometries=geometries, touching=touching)
    windows = [window for window, _ in tiles]
    used, used_sums, used_counts = _accumulate(job, windows, tick, workers, scheduler)
    if not used_counts.any():
        raise InputError("no zone covers a pixel with data; the zonal means would all be empty")
    sums = np.zeros((len(polygons), EMBEDDING_DIM), dtype=np.float64)
    counts = np.zeros(len(polygons), dtype=np.int64)
    sums[used], counts[used] = used_sums, used_counts
    return _with_means(polygons, sums, counts)


def zonal_grid(
    source: Any, grid_size: float, tick: Tick | None = None, *, workers: int = 1, scheduler: Any = None
) -> geopandas.GeoDataFrame:
    """Square cells of ``grid_size`` (the source CRS's units) over the area, with their unit mean embeddings.

    Cells are aligned to multiples of ``grid_size``; a pixel belongs to the cell holding its centre.
    Cells without data are left out. ``workers`` / ``scheduler`` as in ``zonal_polygons``.
    """
    import geopandas
    from shapely.geometry import box

    src: EmbeddingSource = as_source(source)
    size = float(grid_size)
    grid = src.grid
    if not (math.isfinite(size) and size > 0):
        raise InputError(f"grid size {grid_size} is not a positive number")
    xres, yres = grid.resolution
    if size < max(xres, yres):
        raise InputError(f"grid size {grid_size} is finer than the pixels ({xres:g} x {yres:g})")
    left, bottom, right, top = grid.bounds
    col0, row0 = math.floor(left / size), math.floor(bottom / size)
    n_cols = math.floor(right / size) - col0 + 1
    n_rows = math.floor(top / size) - row0 + 1
    if n_cols * n_rows > 10_000_000:
        raise InputError(f"grid size {grid_size} gives {n_cols * n_rows:,} cells; choose a coarser one")
    job = ZonalSums(src, cells=GridCells(size, col0, row0, n_cols, n_rows))
    windows = list(grid.windows(TILE))
    used, sums, counts = _accumulate(job, windows, tick, workers, scheduler)
    keep = counts > 0
    used, sums, counts = used[keep], sums[keep], counts[keep]
    if used.size == 0:
        raise InputError("the area has no pixel with data; the zonal means would all be empty")
    rows, cols = np.divmod(used, n_cols)
    cells = [
        box((col0 + c) * size, (row0 + r) * size, (col0 + c + 1) * size, (row0 + r + 1) * size)
        for r, c in zip(rows, cols, strict=True)
    ]
    frame = geopandas.GeoDataFrame(
        {"cell_x": (col0 + cols) * size, "cell_y": (row0 + rows) * size}, geometry=cells, crs=grid.crs
    )
    return _with_means(frame, sums, counts)


def write_zonal(frame: geopandas.GeoDataFrame, out: str | os.PathLike[str], overwrite: bool = False) -> Path:
    """Write zonal means as a GeoPackage (temp file, then rename)."""
    path = check_output_path(out, overwrite)
    if path.suffix.lower() != ".gpkg":
        raise InputError(f"output {path} must be a GeoPackage (.gpkg)")
    with atomic_output(path, overwrite=overwrite, extension=path.suffix) as staged:
        frame.to_file(staged, driver="GPKG", layer=path.stem)
    return path
