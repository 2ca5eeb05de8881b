"""A map tool that reports one clicked point in EPSG:4326 (for "similarity to this place")."""

from __future__ import annotations

from qgis.core import QgsCoordinateReferenceSystem, QgsCoordinateTransform, QgsPointXY, QgsProject
from qgis.gui import QgsMapCanvas, QgsMapMouseEvent, QgsMapToolEmitPoint
from qgis.PyQt.QtCore import Qt, pyqtSignal

WGS84 = QgsCoordinateReferenceSystem("EPSG:4326")


def canvas_point_to_wgs84(canvas: QgsMapCanvas, point: QgsPointXY) -> tuple[float, float]:
    """(lat, lon) of a point given in the canvas CRS."""
    transform = QgsCoordinateTransform(canvas.mapSettings().destinationCrs(), WGS84, QgsProject.instance())
    geographic = transform.transform(point)
    return geographic.y(), geographic.x()


class PointPicker(QgsMapToolEmitPoint):
    """Emits ``picked(lat, lon)`` on a left click, then hands the canvas back to the previous tool.

    It acts on the button's release, not its press (``QgsMapToolEmitPoint``'s default): handing the canvas
    back on press let the previous tool (the Pan tool, usually) receive the release and re-centre the map
    on the click, so the map moved under the user and the dialog then took the shifted extent.
    """

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

    def canvasPressEvent(self, event: QgsMapMouseEvent) -> None:  # noqa: N802 - Qt's name
        """Nothing on press: the click counts on release (see the class)."""

    def canvasReleaseEvent(self, event: QgsMapMouseEvent) -> None:  # noqa: N802 - Qt's name
        self.canvasClicked.emit(self.toMapCoordinates(event.pos()), event.button())

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
