"""Rasters from a trained model: output grids, windowed COG writing, DEMs, sampling, similarity.

``rasterize(model, out_path, bbox=..., date=...)`` is the entry point; ``sample_points`` predicts at
the points of a vector file.
"""

from __future__ import annotations

from .grid import OutputGrid, output_grid, parse_crs, utm_crs
from .pipeline import rasterize
from .products import EMBEDDING_BANDS, OUTPUT_KINDS
from .quantize import INT8_NODATA, dequantize_int8, quantize_int8
from .request import DEFAULT_MAX_PIXELS
from .sample import sample_points

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "EMBEDDING_BANDS",
    "INT8_NODATA",
    "OUTPUT_KINDS",
    "OutputGrid",
    "dequantize_int8",
    "output_grid",
    "parse_crs",
    "quantize_int8",
    "rasterize",
    "sample_points",
    "utm_crs",
]
