"""``earth4d-gis serve``: the model as a live web map (XYZ tiles, TileJSON, WMTS, a Leaflet page).

The server depends on the core (``earth4d_gis.raster``, ``earth4d_gis.predictor``), never the reverse.
``create_app(model)`` builds the ASGI app; ``earth4d-gis serve`` runs it on uvicorn.
"""

from __future__ import annotations

from .app import create_app

__all__ = ["create_app"]
