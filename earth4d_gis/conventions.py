"""Names and limits shared by the core, the CLI and the QGIS plugin: one copy of each.

Importable without torch, GDAL or numpy, so the CLI's ``--help`` and the plugin's dialogs can read them
cheaply.
"""

from __future__ import annotations

EMBEDDING_DIM = 64
"""AlphaEarth's embedding size: 64 unit-length float bands."""


def band_names(count: int = EMBEDDING_DIM) -> tuple[str, ...]:
    """The official band names ``A00``, ``A01``, ... of an embedding with ``count`` dimensions."""
    return tuple(f"A{i:02d}" for i in range(count))


EMBEDDING_BANDS = band_names()
"""``A00`` .. ``A63``: band descriptions of embedding rasters and column names of sampled points."""

RGB_BANDS = ("red", "green", "blue")

DEFAULT_MAX_PIXELS = 100_000_000
"""Largest raster ``rasterize`` writes unless told otherwise: 10,000 x 10,000 pixels (100 km at 10 m)."""

IN_MEMORY_MAX_PIXELS = 4_000_000
"""Largest grid computed into memory (``predict_grid``, the analyses' xarray API); larger areas belong in
a file."""
