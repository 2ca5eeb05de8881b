"""Zonal means: the mean embedding per polygon, or per cell of a regular coarser grid.

The mean of the pixels' vectors is re-normalised to unit length (as AlphaEarth builds its overviews) and
stored as columns A00..A63 with the pixel count, in a GeoDataFrame (written as a GeoPackage by the CLI).
Pixels are summed tile by tile, so memory does not grow with the area.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..conventions import EMBEDDING_BANDS, EMBEDDING_DIM
from ..errors import InputError
from ..files import atomic_output, check_output_path
from ..raster.cog import TILE
from .features import Tick, on_grid, polygon_pixels, read_features
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


def zonal_polygons(source: Any, zones: Any, tick: Tick | None = None) -> geopandas.GeoDataFrame:
    """The zones (polygons inside the area, in the source's CRS) with pixel_count and unit mean A00..A63."""
    src: EmbeddingSource = as_source(source)
    frame = read_features(zones, "zones")
    polygons = frame[frame.geometry.geom_type.isin(["Polygon", "MultiPolygon"])]
    if len(polygons) == 0:
        raise InputError("the zones hold no polygons")
    polygons = on_grid(polygons, src, "zones")
    sums = np.zeros((len(polygons), EMBEDDING_DIM), dtype=np.float64)
    counts = np.zeros(len(polygons), dtype=np.int64)
    for index, pixels in polygon_pixels(src, list(polygons.geometry), tick):
        sums[index] += pixels.sum(axis=0, dtype=np.float64)
        counts[index] += len(pixels)
    if not counts.any():
        raise InputError("no zone covers a pixel with data; the zonal means would all be empty")
    return _with_means(polygons, sums, counts)


def zonal_grid(source: Any, grid_size: float, tick: Tick | None = None) -> geopandas.GeoDataFrame:
    """Square cells of ``grid_size`` (the source CRS's units) over the area, with their unit mean embeddings.

    Cells are aligned to multiples of ``grid_size``; a pixel belongs to the cell holding its centre.
    Cells without data are left out.
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
    sums = np.zeros((n_rows * n_cols, EMBEDDING_DIM), dtype=np.float64)
    counts = np.zeros(n_rows * n_cols, dtype=np.int64)
    windows = list(grid.windows(TILE))
    for done, window in enumerate(windows, start=1):
        stack = src.read(window).reshape(EMBEDDING_DIM, -1)
        valid = np.isfinite(stack).all(axis=0)
        if valid.any():
            xs, ys = grid.pixel_centres(window)
            cell_col = np.floor(xs.ravel()[valid] / size).astype(np.int64) - col0
            cell_row = np.floor(ys.ravel()[valid] / size).astype(np.int64) - row0
            cell = cell_row * n_cols + cell_col
            counts += np.bincount(cell, minlength=len(counts))
            values = stack[:, valid]
            for band in range(EMBEDDING_DIM):
                sums[:, band] += np.bincount(cell, weights=values[band], minlength=len(counts))
        if tick is not None:
            tick(done, len(windows))
    used = np.flatnonzero(counts)
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
    return _with_means(frame, sums[used], counts[used])


def write_zonal(frame: geopandas.GeoDataFrame, out: str | os.PathLike[str], overwrite: bool = False) -> Path:
    """Write zonal means as a GeoPackage (temp file, then rename)."""
    path = check_output_path(out, overwrite)
    if path.suffix.lower() != ".gpkg":
        raise InputError(f"output {path} must be a GeoPackage (.gpkg)")
    with atomic_output(path, overwrite=overwrite, extension=path.suffix) as staged:
        frame.to_file(staged, driver="GPKG", layer=path.stem)
    return path
