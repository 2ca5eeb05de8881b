"""earth4d-gis: AlphaEarth's 64-D embedding field as a compact Earth4D neural model.

Public API: ``load_model`` (``earth4d_gis.api.Model``: ``predict`` at points, ``predict_grid`` in memory),
``rasterize`` (``earth4d_gis.raster.RasterOptions`` describes a request),
and the building blocks in ``earth4d_gis.encoder``, ``earth4d_gis.geodesy`` and ``earth4d_gis.train``.
"""

from __future__ import annotations

from typing import Any

from ._version import __version__

__all__ = ["__version__", "load_model", "rasterize"]


def __getattr__(name: str) -> Any:
    # Lazy so that `import earth4d_gis` stays cheap (torch, rasterio load on first use).
    if name == "load_model":
        from .api import load_model

        return load_model
    if name == "rasterize":
        from .raster import rasterize

        return rasterize
    raise AttributeError(f"module 'earth4d_gis' has no attribute {name!r}")
