"""Vector features on an embedding source: labels, seeds and zones, and the embeddings under them.

Features come from any vector file (or a GeoDataFrame) in any CRS and are reprojected onto the source's
grid, never refused for their CRS. Points take the embedding at the point; polygons the pixels whose
centres they contain, read one 512-pixel tile at a time (a tile is read once for all the polygons on it).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
from rasterio.features import geometry_mask
from rasterio.windows import Window

from ..conventions import EMBEDDING_DIM
from ..errors import InputError
from ..raster.cog import TILE
from ..raster.grid import WGS84
from .source import EmbeddingSource

if TYPE_CHECKING:
    import geopandas

logger = logging.getLogger(__name__)

Tick = Callable[[int, int], None]
"""tick(done, total): tiles read so far."""


def read_features(features: Any, what: str = "features") -> geopandas.GeoDataFrame:
    """A GeoDataFrame from a vector file (or a CSV of lat/lon) or a GeoDataFrame; no CRS means EPSG:4326."""
    import geopandas

    from ..raster.sample import read_points

    if isinstance(features, (str, os.PathLike)):
        frame = read_points(features)
    elif isinstance(features, geopandas.GeoDataFrame):
        frame = features if features.crs is not None else features.set_crs(WGS84)
    else:
        raise InputError(f"{what} must be a vector file or a GeoDataFrame, not {type(features).__name__}")
    frame = frame[frame.geometry.notna() & ~frame.geometry.is_empty]
    if len(frame) == 0:
        raise InputError(f"the {what} hold no features with a geometry")
    kinds = set(frame.geometry.geom_type)
    if not kinds <= {"Point", "MultiPoint", "Polygon", "MultiPolygon"}:
        raise InputError(f"the {what} must be points or polygons, not {', '.join(sorted(kinds))}")
    return frame


def on_grid(frame: geopandas.GeoDataFrame, source: EmbeddingSource, what: str) -> geopandas.GeoDataFrame:
    """The features reprojected to the source's CRS, keeping those that touch its grid (index kept)."""
    from shapely.geometry import box

    projected = frame.to_crs(source.grid.crs)
    left, bottom, right, top = source.grid.bounds
    inside = projected[projected.geometry.intersects(box(left, bottom, right, top))]
    if len(inside) == 0:
        raise InputError(
            f"none of the {len(frame)} {what} lies inside the area ({source.description}); "
            "choose an area that contains them"
        )
    if len(inside) < len(frame):
        logger.info(
            "%d of %d %s lie outside the area and are ignored", len(frame) - len(inside), len(frame), what
        )
    return inside


def tiles_over(source: EmbeddingSource, geometries: list[Any]) -> list[tuple[Window, list[int]]]:
    """The grid's tiles that polygons touch, each with the indices of those polygons."""
    import shapely
    from shapely.geometry import box

    grid = source.grid
    tree = shapely.STRtree(geometries)
    tiles = []
    for window in grid.windows(TILE):
        transform = grid.window_transform(window)
        left, top = transform * (0, 0)
        right, bottom = transform * (int(window.width), int(window.height))
        hits = tree.query(box(min(left, right), min(top, bottom), max(left, right), max(top, bottom)))
        if len(hits):
            tiles.append((window, sorted(int(h) for h in hits)))
    return tiles


def polygon_pixels(
    source: EmbeddingSource, geometries: list[Any], tick: Tick | None = None
) -> Iterator[tuple[int, np.ndarray]]:
    """(polygon index, float32 ``[n, 64]`` valid embeddings inside it) per tile and polygon."""
    tiles = tiles_over(source, geometries)
    for done, (window, indices) in enumerate(tiles, start=1):
        yield from window_polygon_pixels(source, window, geometries, indices)
        if tick is not None:
            tick(done, len(tiles))


def window_polygon_pixels(
    source: EmbeddingSource, window: Window, geometries: list[Any], indices: list[int]
) -> Iterator[tuple[int, np.ndarray]]:
    """(polygon index, float32 ``[n, 64]`` valid embeddings) of the polygons ``indices`` in one window."""
    stack = source.read(window).reshape(EMBEDDING_DIM, -1)
    valid = np.isfinite(stack).all(axis=0)
    shape = (int(window.height), int(window.width))
    transform = source.grid.window_transform(window)
    for index in indices:
        inside = geometry_mask([geometries[index]], out_shape=shape, transform=transform, invert=True).ravel()
        take = inside & valid
        if take.any():
            yield index, stack[:, take].T


def feature_embeddings(
    source: EmbeddingSource,
    frame: geopandas.GeoDataFrame,
    *,
    max_pixels_per_polygon: int = 1000,
    seed: int = 0,
    tick: Tick | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Embeddings under each feature (already on the grid): ``X [M, 64]`` and the feature row of each.

    A point gives one row; a polygon up to ``max_pixels_per_polygon`` of its pixels (a random subset of
    larger ones, so that big polygons do not drown small ones). Rows without data are dropped.
    """
    rng = np.random.default_rng(seed)
    geometries = list(frame.geometry)
    rows: list[np.ndarray] = []
    owners: list[np.ndarray] = []
    points = [i for i, g in enumerate(geometries) if g.geom_type in ("Point", "MultiPoint")]
    if points:
        centres = [
            geometries[i].centroid if geometries[i].geom_type == "MultiPoint" else geometries[i]
            for i in points
        ]
        x = np.array([c.x for c in centres])
        y = np.array([c.y for c in centres])
        values = source.at_points(x, y)
        ok = np.isfinite(values).all(axis=1)
        rows.append(values[ok])
        owners.append(np.asarray(points)[ok])
    polygons = [i for i, g in enumerate(geometries) if g.geom_type in ("Polygon", "MultiPolygon")]
    if polygons:
        collected: dict[int, list[np.ndarray]] = {}
        for index, pixels in polygon_pixels(source, [geometries[i] for i in polygons], tick):
            collected.setdefault(polygons[index], []).append(pixels)
        for owner, parts in collected.items():
            pixels = np.concatenate(parts)
            if len(pixels) > max_pixels_per_polygon:
                pixels = pixels[rng.choice(len(pixels), max_pixels_per_polygon, replace=False)]
            rows.append(pixels)
            owners.append(np.full(len(pixels), owner))
    if not rows or sum(len(r) for r in rows) == 0:
        return np.zeros((0, EMBEDDING_DIM), np.float32), np.zeros(0, np.int64)
    return np.concatenate(rows).astype(np.float32), np.concatenate(owners).astype(np.int64)
