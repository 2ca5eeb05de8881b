"""Elevation per pixel or point: a DEM (any raster GDAL reads), a constant, or the model's prior.

The model needs an elevation for every prediction. A DEM is reprojected and resampled onto each output
window (bilinear) with rasterio.warp, so it is read window by window; where it has no data, or without
any DEM, the coarse elevation prior stored in the model fills in (0 m where that has nothing either).
"""

from __future__ import annotations

import logging
import math
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio._err import CPLE_BaseError
from rasterio.errors import RasterioError
from rasterio.warp import Resampling, reproject, transform_bounds
from rasterio.windows import Window

from ..elevation_prior import ElevationPrior
from ..errors import InputError, first_line
from .grid import WGS84, OutputGrid, parse_crs, transformer

logger = logging.getLogger(__name__)


class ElevationSource:
    """Base class: elevations in metres for pixels of an output grid or for scattered points."""

    description = "elevation"

    def for_window(
        self,
        grid: OutputGrid,
        window: Window,
        valid: np.ndarray,
        lat: np.ndarray,
        lon: np.ndarray,
        prior: ElevationPrior,
    ) -> np.ndarray:
        """float64 elevations of the ``valid`` pixels (flat, row-major mask) of ``window``.

        ``lat``/``lon`` are those pixels' centres.
        """
        return self.at_points(lat, lon, prior)

    def at_points(self, lat: np.ndarray, lon: np.ndarray, prior: ElevationPrior) -> np.ndarray:
        raise NotImplementedError

    def check_covers(self, grid: OutputGrid) -> None:
        """Raise ``InputError`` when this source has no elevation anywhere in ``grid`` (DEMs only)."""

    def check_covers_points(self, lat: np.ndarray, lon: np.ndarray) -> None:
        """Raise ``InputError`` when this source has no elevation at any of the points (DEMs only)."""


class PriorElevation(ElevationSource):
    """The model's coarse prior from its training samples (0 m where it has none)."""

    description = "the model's elevation prior (0 m where it has no samples)"

    def at_points(self, lat: np.ndarray, lon: np.ndarray, prior: ElevationPrior) -> np.ndarray:
        return prior.lookup(lat, lon)


class ConstantElevation(ElevationSource):
    """One elevation for every pixel."""

    def __init__(self, metres: float) -> None:
        metres = float(metres)
        if not math.isfinite(metres) or not -12_000.0 <= metres <= 20_000.0:
            raise InputError(f"elevation {metres} m is not between -12000 and 20000 m")
        self.metres = metres
        self.description = f"a constant {metres:g} m"

    def at_points(self, lat: np.ndarray, lon: np.ndarray, prior: ElevationPrior) -> np.ndarray:
        return np.full(np.shape(lat), self.metres, dtype=np.float64)


class DemElevation(ElevationSource):
    """A DEM raster, opened once per thread (GDAL handles are not thread-safe); pickles as its path."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = str(path)
        self.description = f"the DEM {self.path} (model prior where it has no data)"
        self._local = threading.local()
        dataset = self._open()
        if dataset.crs is None:
            raise InputError(f"DEM {self.path} has no coordinate reference system")
        self.crs = parse_crs(dataset.crs, "DEM CRS")

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"])  # type: ignore[misc]

    def _open(self) -> Any:
        dataset = getattr(self._local, "dataset", None)
        if dataset is None:
            if not Path(self.path).exists() and "://" not in self.path and not self.path.startswith("/vsi"):
                raise InputError(f"DEM {self.path} does not exist")
            try:
                dataset = rasterio.open(self.path)
            except RasterioError as exc:
                raise InputError(f"cannot read DEM {self.path} ({first_line(exc)})") from None
            if dataset.count < 1:
                raise InputError(f"DEM {self.path} has no raster band")
            self._local.dataset = dataset
        return dataset

    def _bounds_text(self) -> str:
        left, bottom, right, top = self._open().bounds
        return f"{left:g} {bottom:g} {right:g} {top:g} in {self.crs.name}"

    def check_covers(self, grid: OutputGrid) -> None:
        left, bottom, right, top = self._open().bounds
        try:
            west, south, east, north = transform_bounds(grid.crs.to_wkt(), self.crs.to_wkt(), *grid.bounds)
        except (RasterioError, CPLE_BaseError, ValueError):
            return  # the area cannot be expressed in the DEM's CRS: leave it to the per-pixel lookup
        if west >= right or east <= left or south >= top or north <= bottom:
            raise InputError(
                f"DEM {self.path} (bounds {self._bounds_text()}) does not cover any of the area; "
                "give a DEM of this area, elevation=METRES, or neither (the model's prior)"
            )

    def check_covers_points(self, lat: np.ndarray, lon: np.ndarray) -> None:
        left, bottom, right, top = self._open().bounds
        xs, ys = transformer(WGS84, self.crs).transform(lon, lat, errcheck=False)
        xs, ys = np.atleast_1d(xs), np.atleast_1d(ys)
        if not np.any((xs >= left) & (xs <= right) & (ys >= bottom) & (ys <= top)):
            raise InputError(
                f"DEM {self.path} (bounds {self._bounds_text()}) covers none of the {xs.size} points; "
                "give a DEM of this area, elevation=METRES, or neither (the model's prior)"
            )

    @staticmethod
    def _fill(values: np.ndarray, lat: np.ndarray, lon: np.ndarray, prior: ElevationPrior) -> np.ndarray:
        missing = ~np.isfinite(values)
        if missing.any():
            values[missing] = prior.lookup(lat[missing], lon[missing])
        return values

    def for_window(
        self,
        grid: OutputGrid,
        window: Window,
        valid: np.ndarray,
        lat: np.ndarray,
        lon: np.ndarray,
        prior: ElevationPrior,
    ) -> np.ndarray:
        dataset = self._open()
        out = np.full((int(window.height), int(window.width)), np.nan, dtype=np.float64)
        try:
            reproject(
                source=rasterio.band(dataset, 1),
                destination=out,
                src_nodata=dataset.nodata,
                dst_transform=grid.window_transform(window),
                dst_crs=grid.crs.to_wkt(),
                dst_nodata=np.nan,
                resampling=Resampling.bilinear,
            )
        except (RasterioError, CPLE_BaseError) as exc:
            raise InputError(f"cannot read DEM {self.path} ({first_line(exc)})") from None
        return self._fill(out.ravel()[valid], lat, lon, prior)

    def at_points(self, lat: np.ndarray, lon: np.ndarray, prior: ElevationPrior) -> np.ndarray:
        dataset = self._open()
        xs, ys = transformer(WGS84, self.crs).transform(lon, lat, errcheck=False)
        values = np.full(np.shape(lat), np.nan, dtype=np.float64)
        points = zip(np.atleast_1d(xs), np.atleast_1d(ys), strict=True)
        try:
            for i, sample in enumerate(dataset.sample(points, indexes=1, masked=True)):
                value = sample[0]
                if value is not np.ma.masked:
                    values[i] = float(value)
        except (RasterioError, CPLE_BaseError) as exc:
            raise InputError(f"cannot read DEM {self.path} ({first_line(exc)})") from None
        return self._fill(values, np.atleast_1d(lat), np.atleast_1d(lon), prior)


def elevation_source(
    dem: str | os.PathLike[str] | None = None, elevation: float | None = None
) -> ElevationSource:
    """The source the options ask for: ``dem``, else a constant ``elevation``, else the model's prior."""
    if dem is not None and elevation is not None:
        raise InputError("give either a DEM or a constant elevation, not both")
    if dem is not None:
        return DemElevation(dem)
    if elevation is not None:
        return ConstantElevation(elevation)
    return PriorElevation()
