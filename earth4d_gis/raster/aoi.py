"""Areas of interest: polygons from any vector file geopandas reads; pixels outside them are nodata."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pyproj import CRS
from rasterio.features import geometry_mask
from rasterio.windows import Window

from ..errors import InputError, first_line
from .grid import WGS84, OutputGrid

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AreaOfInterest:
    """Polygons (shapely) in their own CRS."""

    geometries: tuple[Any, ...]
    crs: CRS
    name: str = "the AOI"
    """How messages name it: its file, or "the AOI"."""

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> AreaOfInterest:
        """Read polygons from a vector file; raise ``InputError`` for a missing, unreadable or empty one."""
        import geopandas

        p = Path(path)
        if not p.exists():
            raise InputError(f"AOI file {p} does not exist")
        try:
            frame = geopandas.read_file(p)
        except Exception as exc:  # noqa: BLE001 - any reader failure is a bad input file
            raise InputError(f"cannot read AOI file {p} ({first_line(exc)})") from None
        geoms = [g for g in frame.geometry if g is not None and not g.is_empty]
        polygons = [g for g in geoms if g.geom_type in ("Polygon", "MultiPolygon")]
        if not polygons:
            raise InputError(f"AOI file {p} holds no polygons")
        if len(polygons) < len(geoms):
            logger.warning("AOI file %s: ignored %d non-polygon features", p, len(geoms) - len(polygons))
        crs = frame.crs
        if crs is None:
            logger.warning("AOI file %s has no CRS; assuming EPSG:4326", p)
            crs = WGS84
        return cls(tuple(polygons), CRS.from_user_input(crs), f"AOI file {p}")

    def bounds(self) -> tuple[float, float, float, float]:
        """(W, S, E, N) of all polygons in the AOI's CRS."""
        import shapely

        return tuple(float(v) for v in shapely.total_bounds(np.array(self.geometries, dtype=object)))  # type: ignore[return-value]

    def to_crs(self, crs: CRS) -> AreaOfInterest:
        """The same polygons reprojected (for masking in the output grid's CRS)."""
        import geopandas

        series = geopandas.GeoSeries(list(self.geometries), crs=self.crs).to_crs(crs)
        return AreaOfInterest(tuple(series), crs, self.name)

    def inside(self, grid: OutputGrid, window: Window) -> np.ndarray:
        """Boolean (height, width): True for pixels whose centre lies inside the polygons."""
        return geometry_mask(
            self.geometries,
            out_shape=(int(window.height), int(window.width)),
            transform=grid.window_transform(window),
            invert=True,
        )
