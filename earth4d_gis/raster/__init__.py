"""Rasters from a trained model: output grids, windowed COG writing, DEMs, sampling, similarity.

``rasterize(model, out_path, bbox=..., date=...)`` is the entry point (``RasterOptions`` describes a request
in one object); ``predict_grid`` computes a small grid into memory; ``sample_points`` predicts at the points
of a vector file.
"""

from __future__ import annotations

from ..conventions import DEFAULT_MAX_PIXELS, EMBEDDING_BANDS
from ..quantization import INT8_NODATA, dequantize_int8, quantize_int8
from .grid import OutputGrid, output_grid, parse_crs, utm_crs
from .memory import predict_grid
from .options import RasterOptions
from .pipeline import rasterize
from .products import OUTPUT_KINDS
from .sample import sample_points

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "EMBEDDING_BANDS",
    "INT8_NODATA",
    "OUTPUT_KINDS",
    "OutputGrid",
    "RasterOptions",
    "dequantize_int8",
    "output_grid",
    "parse_crs",
    "predict_grid",
    "quantize_int8",
    "rasterize",
    "sample_points",
    "utm_crs",
]
