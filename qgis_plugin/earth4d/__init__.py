"""Earth4D QGIS plugin: predicted AlphaEarth embedding layers from an earth4d-gis model."""

from __future__ import annotations

from typing import Any


def classFactory(iface: Any) -> Any:  # noqa: N802 - the name QGIS calls
    """QGIS's entry point: build the plugin for this interface."""
    from .plugin import Earth4DPlugin

    return Earth4DPlugin(iface)
