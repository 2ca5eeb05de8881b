"""Areas in EPSG:4326: the map canvas extent, or the polygons of a layer exported for the core."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsCsException,
    QgsProject,
    QgsRectangle,
    QgsVectorFileWriter,
    QgsVectorLayer,
)

from .errors import PluginError
from .request import Bbox, check_bbox

WGS84 = QgsCoordinateReferenceSystem("EPSG:4326")
METRES_PER_DEGREE = 111_320.0


def rectangle_to_wgs84(rect: QgsRectangle, crs: QgsCoordinateReferenceSystem) -> Bbox:
    """(west, south, east, north) of ``rect`` given in ``crs``; the edges are densified, not just corners.

    A result whose west exceeds its east crosses the antimeridian.
    """
    if not crs.isValid():
        raise PluginError("The map has no valid coordinate reference system; set one for the project.")
    if rect.isNull() or rect.isEmpty():
        raise PluginError("The area is empty; zoom the map to the area to predict.")
    transform = QgsCoordinateTransform(crs, WGS84, QgsProject.instance())
    try:
        out = transform.transformBoundingBox(rect, QgsCoordinateTransform.ForwardTransform, True)
    except QgsCsException:
        raise PluginError(
            f"The area {rect.toString(2)} in {crs.authid()} cannot be expressed in EPSG:4326."
        ) from None
    west, south, east, north = out.xMinimum(), out.yMinimum(), out.xMaximum(), out.yMaximum()
    if not all(math.isfinite(v) for v in (west, south, east, north)):
        raise PluginError(f"The area {rect.toString(2)} in {crs.authid()} lies partly outside the Earth.")
    south, north = max(south, -90.0), min(north, 90.0)
    if west <= east and east - west >= 360.0:
        west, east = -180.0, 180.0
    return check_bbox((west, south, east, north))


def bbox_width_metres(bbox: Bbox) -> float:
    """Approximate east-west size of a bbox at its central latitude."""
    west, south, east, north = bbox
    span = (east - west) % 360.0 or 360.0
    return span * METRES_PER_DEGREE * max(math.cos(math.radians((south + north) / 2.0)), 0.01)


def suggested_resolution(bbox: Bbox, pixels_across: int = 1000) -> float:
    """A round resolution in metres (1, 2, 5 x 10^k, at least 10 m) giving about ``pixels_across`` pixels."""
    wanted = max(bbox_width_metres(bbox) / pixels_across, 10.0)
    exponent = math.floor(math.log10(wanted))
    for step in (1.0, 2.0, 5.0, 10.0):
        value = step * 10.0**exponent
        if value >= wanted * 0.999:
            return float(round(value, 6))
    return float(10.0 ** (exponent + 1))


def metres_to_crs_units(metres: float, crs_authid: str | None, bbox: Bbox) -> float:
    """The resolution in the output CRS's units: degrees for a geographic CRS, else metres."""
    if crs_authid and QgsCoordinateReferenceSystem(crs_authid).isGeographic():
        return metres / METRES_PER_DEGREE
    return metres


def export_polygons(layer: QgsVectorLayer, folder: Path | None = None) -> Path:
    """Write the layer's polygons to a GeoPackage in EPSG:4326 (a file the core's geopandas reads)."""
    if layer is None or not layer.isValid():
        raise PluginError("Choose a valid polygon layer for the area.")
    if layer.featureCount() == 0:
        raise PluginError(f"Layer {layer.name()} has no features to use as the area.")
    folder = Path(folder or tempfile.mkdtemp(prefix="earth4d-aoi-"))
    path = folder / "aoi.gpkg"
    options = QgsVectorFileWriter.SaveVectorOptions()
    options.driverName = "GPKG"
    options.layerName = "aoi"
    options.ct = QgsCoordinateTransform(layer.crs(), WGS84, QgsProject.instance())
    error, message, _, _ = QgsVectorFileWriter.writeAsVectorFormatV3(
        layer, str(path), QgsProject.instance().transformContext(), options
    )
    if error != QgsVectorFileWriter.NoError:
        raise PluginError(f"Cannot export layer {layer.name()} as the area: {message}.")
    return path


def layer_bbox_wgs84(layer: QgsVectorLayer) -> Bbox:
    """The layer's extent in EPSG:4326."""
    return rectangle_to_wgs84(layer.extent(), layer.crs())


def canvas_extent_text() -> str | None:
    """The map canvas's current extent as a Processing extent value (``xmin,xmax,ymin,ymax [CRS]``), the
    default Area of the algorithms; None outside the QGIS desktop (no map canvas)."""
    try:
        from qgis.utils import iface
    except ImportError:
        return None
    canvas = iface.mapCanvas() if iface is not None else None
    if canvas is None:
        return None
    extent = canvas.extent()
    crs = canvas.mapSettings().destinationCrs()
    if extent.isNull() or extent.isEmpty() or not crs.isValid():
        return None
    return (
        f"{extent.xMinimum()!r},{extent.xMaximum()!r},{extent.yMinimum()!r},{extent.yMaximum()!r} "
        f"[{crs.authid() or crs.toWkt()}]"
    )
