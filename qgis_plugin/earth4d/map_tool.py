"""A map tool that reports one clicked point in EPSG:4326 (for "similarity to this place")."""

from __future__ import annotations

from qgis.core import QgsCoordinateReferenceSystem, QgsCoordinateTransform, QgsPointXY, QgsProject
from qgis.gui import QgsMapCanvas, QgsMapToolEmitPoint
from qgis.PyQt.QtCore import Qt, pyqtSignal

WGS84 = QgsCoordinateReferenceSystem("EPSG:4326")


def canvas_point_to_wgs84(canvas: QgsMapCanvas, point: QgsPointXY) -> tuple[float, float]:
    """(lat, lon) of a point given in the canvas CRS."""
    transform = QgsCoordinateTransform(canvas.mapSettings().destinationCrs(), WGS84, QgsProject.instance())
    geographic = transform.transform(point)
    return geographic.y(), geographic.x()


class PointPicker(QgsMapToolEmitPoint):
    """Emits ``picked(lat, lon)`` on a left click, then hands the canvas back to the previous tool."""

    picked = pyqtSignal(float, float)

    def __init__(self, canvas: QgsMapCanvas) -> None:
        super().__init__(canvas)
        self._canvas = canvas
        self._previous = None
        self.canvasClicked.connect(self._on_click)

    def start(self) -> None:
        """Make this the canvas's tool, remembering the one in use."""
        current = self._canvas.mapTool()
        self._previous = current if current is not self else None
        self._canvas.setMapTool(self)

    def _on_click(self, point: QgsPointXY, button: Qt.MouseButton) -> None:
        if button != Qt.LeftButton:
            return
        lat, lon = canvas_point_to_wgs84(self._canvas, point)
        self.finish()
        self.picked.emit(lat, lon)

    def finish(self) -> None:
        """Give the canvas back to the tool that was active before ``start``."""
        if self._canvas.mapTool() is self:
            if self._previous is not None:
                self._canvas.setMapTool(self._previous)
            else:
                self._canvas.unsetMapTool(self)
