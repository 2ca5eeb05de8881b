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
from rasterio.errors import RasterioError
from rasterio.warp import Resampling, reproject
from rasterio.windows import Window

from ..elevation_prior import ElevationPrior
from ..errors import InputError
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
                raise InputError(f"cannot read DEM {self.path} ({str(exc).splitlines()[0]})") from None
            if dataset.count < 1:
                raise InputError(f"DEM {self.path} has no raster band")
            self._local.dataset = dataset
        return dataset

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
        reproject(
            source=rasterio.band(dataset, 1),
            destination=out,
            src_nodata=dataset.nodata,
            dst_transform=grid.window_transform(window),
            dst_crs=grid.crs.to_wkt(),
            dst_nodata=np.nan,
            resampling=Resampling.bilinear,
        )
        return self._fill(out.ravel()[valid], lat, lon, prior)

    def at_points(self, lat: np.ndarray, lon: np.ndarray, prior: ElevationPrior) -> np.ndarray:
        dataset = self._open()
        xs, ys = transformer(WGS84, self.crs).transform(lon, lat, errcheck=False)
        values = np.full(np.shape(lat), np.nan, dtype=np.float64)
        points = zip(np.atleast_1d(xs), np.atleast_1d(ys), strict=True)
        for i, sample in enumerate(dataset.sample(points, indexes=1, masked=True)):
            value = sample[0]
            if value is not np.ma.masked:
                values[i] = float(value)
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
