"""A whole grid predicted into memory, as an ``xarray.DataArray`` (band, y, x) with CRS and transform.

The in-memory counterpart of ``rasterize`` for small areas (the Python API's ``Model.predict_grid``):
the same request rules and window computation, no file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .compute import WindowJob
from .options import RasterOptions
from .request import RasterRequest, plan_request

if TYPE_CHECKING:
    import xarray

    from ..predictor import Earth4D


def predict_grid(model: Earth4D, options: RasterOptions) -> xarray.DataArray:
    """The model's prediction on the grid ``options`` describe, computed window by window into memory.

    Bands are A00..A63 for embeddings and int8, red/green/blue for rgb; pixels outside the AOI are nodata.
    Refuses a grid larger than ``options.max_pixels``.
    """
    request = plan_request(model, options)
    job = WindowJob.for_request(model, request)
    grid, kind = request.grid, request.kind
    data = np.empty((kind.count, grid.height, grid.width), dtype=kind.dtype)
    for window in grid.windows():
        rows = slice(window.row_off, window.row_off + window.height)
        cols = slice(window.col_off, window.col_off + window.width)
        data[:, rows, cols] = job.compute(window)
    return as_data_array(data, request)


def as_data_array(data: np.ndarray, request: RasterRequest) -> xarray.DataArray:
    """``[count, height, width]`` pixels of ``request`` as a georeferenced DataArray (rioxarray's CRS,
    transform and nodata; the request's tags as attributes)."""
    import rioxarray  # noqa: F401 - registers the .rio accessor
    import xarray

    grid, kind = request.grid, request.kind
    array = xarray.DataArray(
        data,
        dims=("band", "y", "x"),
        coords={"band": list(kind.descriptions), "y": grid.y_coords(), "x": grid.x_coords()},
        name=kind.name,
        attrs=dict(request.tags),
    )
    array = array.rio.write_crs(grid.crs.to_wkt())
    array = array.rio.write_transform(grid.transform)
    return array.rio.write_nodata(kind.nodata, encoded=False)
