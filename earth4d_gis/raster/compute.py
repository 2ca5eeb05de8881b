"""Computing one window of output pixels: everything a worker needs, in one picklable object."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from rasterio.windows import Window

from ..geodesy import normalized_coordinates
from .aoi import AreaOfInterest
from .elevation import ElevationSource
from .grid import OutputGrid, on_the_map
from .products import OutputKind
from .refine import refined_window

if TYPE_CHECKING:
    from ..predictor import Earth4D
    from .request import RasterRequest


@dataclass
class WindowJob:
    """The model and a request's grid, output kind, date, elevation source, AOI and sampling.

    ``refine_tolerance`` 0 predicts every pixel; above 0, pixels are interpolated where the map is smooth
    (``refine``).
    """

    model: Earth4D
    grid: OutputGrid
    kind: OutputKind
    date: np.datetime64
    elevation: ElevationSource
    aoi: AreaOfInterest | None = None
    refine_tolerance: float = 0.0

    @classmethod
    def for_request(cls, model: Earth4D, request: RasterRequest) -> WindowJob:
        return cls(
            model,
            request.grid,
            request.kind,
            request.date,
            request.elevation,
            request.aoi,
            request.refine_tolerance,
        )

    def compute(self, window: Window) -> np.ndarray:
        """``[count, height, width]`` in the output kind's dtype; nodata outside the AOI or CRS domain."""
        height, width = int(window.height), int(window.width)
        lat, lon = self.grid.pixel_lonlat(window)
        valid = on_the_map(lat, lon)
        if self.aoi is not None:
            valid &= self.aoi.inside(self.grid, window).ravel()
        if not valid.any():
            return self.kind.empty(height, width)
        everywhere = bool(valid.all())
        if not everywhere:
            lat, lon = lat[valid], lon[valid]
        elev = self.elevation.for_window(self.grid, window, valid, lat, lon, self.model.elevation_prior)
        coords = normalized_coordinates(lat, lon, elev, self.date, self.model.time_span)
        if self.refine_tolerance > 0:
            return self._refined(coords, valid.reshape(height, width), everywhere)
        values = self.kind.encode(self.model.embed(coords))
        if everywhere:
            return values.reshape(self.kind.count, height, width)
        out = self.kind.empty(height, width)
        out.reshape(self.kind.count, -1)[:, valid] = values
        return out

    def _refined(self, coords: np.ndarray, valid: np.ndarray, everywhere: bool) -> np.ndarray:
        """The window drawn from a refined lattice: ``coords`` are the valid pixels' (row-major)."""
        position = np.arange(valid.size) if everywhere else np.cumsum(valid.ravel()) - 1
        embeddings, _ = refined_window(
            lambda flat: self.model.embed(coords[position[flat]]), valid, self.refine_tolerance
        )
        height, width = valid.shape
        out = self.kind.empty(height, width)
        flat = out.reshape(self.kind.count, -1)
        flat[:, valid.ravel()] = self.kind.encode(embeddings.reshape(-1, 64)[valid.ravel()])
        return out
