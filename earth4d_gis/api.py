"""The public Python API: ``earth4d_gis.load_model(path)`` -> ``Model``, at points and on grids.

    model = earth4d_gis.load_model("final_model.pt")
    emb = model.predict(lat, lon, time="2024-06-01")                  # float32 [N, 64], unit length
    grid = model.predict_grid([-122.5, 37.7, -122.4, 37.8], "2024")   # xarray.DataArray (band, y, x)

``Model`` is an ``earth4d_gis.predictor.Earth4D`` (point prediction, which knows nothing of rasters) plus
``predict_grid``, the in-memory grid of ``earth4d_gis.raster.predict_grid``. This module sits above both.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch

from .conventions import IN_MEMORY_MAX_PIXELS
from .predictor import Earth4D
from .raster.memory import predict_grid
from .raster.options import RasterOptions

if TYPE_CHECKING:
    import xarray


class Model(Earth4D):
    """A trained model: ``predict`` at points (``Earth4D``) and ``predict_grid`` on a grid in memory."""

    def predict_grid(
        self,
        bbox: Sequence[float] | None,
        date: Any,
        crs: Any = None,
        resolution: float | Sequence[float] | None = None,
        width: int | None = None,
        height: int | None = None,
        bbox_crs: Any = "EPSG:4326",
        *,
        aoi: Any = None,
        dem: str | os.PathLike[str] | None = None,
        elevation: float | None = None,
        output: str = "embeddings",
        max_pixels: int = IN_MEMORY_MAX_PIXELS,
    ) -> xarray.DataArray:
        """Predict a whole grid in memory, as an ``xarray.DataArray`` (band, y, x) with CRS and transform.

        Arguments are those of ``earth4d_gis.rasterize`` (``RasterOptions``; default grid: UTM of the centre
        at 10 m). Bands are A00..A63 for embeddings and int8, red/green/blue for rgb. Pixels outside ``aoi``
        are nodata. Larger areas than ``max_pixels`` belong in ``rasterize``.
        """
        options = RasterOptions(
            bbox=bbox,
            bbox_crs=bbox_crs,
            aoi=aoi,
            crs=crs,
            resolution=resolution,
            width=width,
            height=height,
            date=date,
            output=output,
            dem=dem,
            elevation=elevation,
            max_pixels=max_pixels,
        )
        return predict_grid(self, options)


def load_model(
    path: str | os.PathLike[str], device: str | torch.device | None = None, backend: str | None = None
) -> Model:
    """Load a model file written by ``earth4d-gis train``; ``ModelFileError`` if it is not one.

    ``device`` defaults to CUDA when torch sees a GPU, else the CPU; ``backend`` forces an encoder backend.
    """
    return Model.load(path, device=device, backend=backend)
