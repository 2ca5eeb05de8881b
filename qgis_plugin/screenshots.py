"""Screenshots of the plugin in the real QGIS desktop: ``scripts/plugin_screenshots.sh`` runs
``qgis --code qgis_plugin/screenshots.py`` under Xvfb with the plugin installed from its zip.

Environment: EARTH4D_SHOTS_OUT (folder for the PNGs), EARTH4D_SHOTS_WORK (folder for the results and
status.txt), EARTH4D_SHOTS_MODEL (model file), EARTH4D_SHOTS_BBOX
("W S E N" of the area to show), EARTH4D_SHOTS_ENV (the plugin's environment folder, already set up),
EARTH4D_SHOTS_RESOLUTION (metres, default 100: the RGB layer of that area that the dialog adds).
Steps run one after another on a timer, so QGIS keeps drawing in between; the last one quits QGIS, and
``status.txt`` in the work folder says "ok" or what failed.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Callable
from pathlib import Path

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsProject,
    QgsRectangle,
)
from qgis.PyQt.QtCore import QTimer
from qgis.PyQt.QtWidgets import QStackedWidget
from qgis.utils import iface, loadPlugin, plugins, startPlugin

OUT = Path(os.environ["EARTH4D_SHOTS_OUT"])
MODEL = os.environ["EARTH4D_SHOTS_MODEL"]
BBOX = tuple(float(v) for v in os.environ["EARTH4D_SHOTS_BBOX"].split())
ENV_FOLDER = os.environ["EARTH4D_SHOTS_ENV"]
WORK = Path(os.environ["EARTH4D_SHOTS_WORK"])
RESOLUTION = float(os.environ.get("EARTH4D_SHOTS_RESOLUTION", "100"))
TIMEOUT_S = 900


def status(text: str) -> None:
    (WORK / "status.txt").write_text(text + "\n", encoding="utf-8")


def quit_qgis() -> None:
    QgsProject.instance().clear()  # results in a temporary folder would make QGIS ask before quitting
    iface.actionExit().trigger()


class Steps:
    """Run ``steps`` in order; each returns True when done (else it is polled again)."""

    def __init__(self, steps: list[Callable[[], bool]]) -> None:
        self.steps = steps
        self.polls = 0
        self.timer = QTimer()
        self.timer.timeout.connect(self.tick)
        self.timer.start(500)

    def tick(self) -> None:
        try:
            if self.steps and self.steps[0]():
                self.steps.pop(0)
                self.polls = 0
            self.polls += 1
            if self.polls * 0.5 > TIMEOUT_S:
                raise TimeoutError(f"step {self.steps[0].__name__} did not finish")
            if not self.steps:
                self.timer.stop()
                status("ok")
                quit_qgis()
        except Exception:  # noqa: BLE001 - reported in status.txt, then QGIS quits
            self.timer.stop()
            status("failed: " + traceback.format_exc())
            quit_qgis()


state: dict = {}
plugin = None


def prepare() -> bool:
    global plugin
    if "earth4d" not in plugins and not (loadPlugin("earth4d") and startPlugin("earth4d")):
        raise RuntimeError("QGIS could not load the earth4d plugin")
    plugin = plugins["earth4d"]
    from earth4d.core import settings

    settings.set_cli_path("")
    settings.set_environment_folder(ENV_FOLDER)
    settings.set_model_path(MODEL)
    settings.set_output_folder(str(WORK))
    settings.set_output_kind("rgb")
    iface.mainWindow().resize(1400, 900)
    QgsProject.instance().setCrs(QgsCoordinateReferenceSystem("EPSG:3857"))
    show_canvas()
    return True


def show_canvas() -> None:
    """Bring the map canvas in front of QGIS's welcome page (its page of the central stacked widget)."""
    child = iface.mapCanvas()
    parent = child.parentWidget()
    while parent is not None and not isinstance(parent, QStackedWidget):
        child, parent = parent, parent.parentWidget()
    if parent is not None:
        parent.setCurrentWidget(child)


def frame_area() -> bool:
    """Show the area once the canvas has kept one size for a few polls (the dialog takes its area from the
    canvas extent, and a canvas that grows afterwards keeps the scale and shows more)."""
    canvas = iface.mapCanvas()
    sizes = state.setdefault("canvas_sizes", [])
    sizes.append((canvas.width(), canvas.height()))
    shown = iface.mainWindow().isVisible() and canvas.isVisible() and canvas.height() > 400
    if not shown or len(sizes) < 4 or len(set(sizes[-4:])) > 1:
        return False
    project = QgsProject.instance()
    to_map = QgsCoordinateTransform(
        QgsCoordinateReferenceSystem("EPSG:4326"), project.crs(), project.transformContext()
    )
    iface.mapCanvas().setExtent(to_map.transformBoundingBox(QgsRectangle(*BBOX)))
    iface.mapCanvas().refresh()
    return True


def open_dialog() -> bool:
    plugin.show_dialog()
    dialog = plugin.dialog
    dialog.refresh_area()
    dialog.resolution_spin.setValue(RESOLUTION)
    dialog.adjustSize()
    state["dialog"] = dialog
    return True


def shoot_dialog() -> bool:
    state["dialog"].grab().save(str(OUT / "dialog.png"))
    state["dialog"].open_settings()
    page = state["dialog"].settings_dialog.page
    page.run_diagnostics()
    state["page"] = page
    return True


def shoot_settings() -> bool:
    page = state["page"]
    if page.diagnostics_task is not None:
        return False
    state["dialog"].settings_dialog.grab().save(str(OUT / "settings.png"))
    state["dialog"].settings_dialog.reject()
    return True


def run_rgb() -> bool:
    dialog = state["dialog"]
    dialog.run()
    if dialog.error_label.isVisible():
        raise RuntimeError(dialog.error_label.text())
    return True


def shoot_map() -> bool:
    if plugin.tasks:
        return False
    group = QgsProject.instance().layerTreeRoot().findGroup("Earth4D")
    layers = [node.layer() for node in group.findLayers()] if group else []
    if not any(layer.name().startswith("RGB ") and layer.isValid() for layer in layers):
        raise RuntimeError(f"no RGB layer in the Earth4D group: {[layer.name() for layer in layers]}")
    if not state.get("waited"):
        state["waited"] = True
        canvas = iface.mapCanvas()
        to_canvas = QgsCoordinateTransform(
            layers[0].crs(), canvas.mapSettings().destinationCrs(), QgsProject.instance().transformContext()
        )
        extent = to_canvas.transformBoundingBox(layers[0].extent())
        extent.scale(1.04)
        canvas.setExtent(extent)
        iface.setActiveLayer(layers[0])
        iface.messageBar().clearWidgets()
        canvas.refreshAllLayers()
        return False
    if iface.mapCanvas().isDrawing():
        return False
    iface.mainWindow().grab().save(str(OUT / "result_map.png"))
    state.clear()
    return True


RUNNER = Steps([prepare, frame_area, open_dialog, shoot_dialog, shoot_settings, run_rgb, shoot_map])
"""Kept referenced: QGIS runs this file once, and a collected timer would never fire."""
