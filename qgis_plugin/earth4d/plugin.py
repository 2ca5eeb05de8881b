"""The plugin object QGIS loads: a toolbar button and menu entry, the dialog, tasks, and the provider."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from qgis.core import Qgis, QgsApplication
from qgis.gui import QgisInterface
from qgis.PyQt.QtGui import QIcon
from qgis.PyQt.QtWidgets import QAction

from .core import settings
from .core.errors import PluginError
from .core.model_cache import LOADED_MODELS
from .core.plugin_files import ICON_PATH
from .core.request import LayerRequest
from .core.runners import choose_runner
from .core.task import RasterizeTask, unexpected_error_message
from .gui.messages import report_error
from .gui.settings_page import OptionsFactory
from .layers.live import LiveLayers
from .layers.results import add_to_group, open_result
from .processing.provider import Earth4DProvider

LOG = logging.getLogger(__name__)
MENU = "&Earth4D"


class Earth4DPlugin:
    """Wires the plugin into QGIS; ``submit`` is the single place where raster work starts."""

    def __init__(self, iface: QgisInterface) -> None:
        self.iface = iface
        self.action: QAction | None = None
        self.dialog = None
        self.provider: Earth4DProvider | None = None
        self.tasks: list[RasterizeTask] = []
        self.live: LiveLayers | None = None
        self.options_factory: OptionsFactory | None = None

    def initProcessing(self) -> None:  # noqa: N802 - the name QGIS calls
        """Register the Processing provider (QGIS calls this too when Processing starts)."""
        if self.provider is None:
            provider = Earth4DProvider()
            if QgsApplication.processingRegistry().addProvider(provider):
                self.provider = provider
            else:
                LOG.warning("a Processing provider with id %r is already registered", provider.id())

    def initGui(self) -> None:  # noqa: N802 - the name QGIS calls
        """Add the toolbar button, the menu entry and the Processing provider."""
        self.action = QAction(
            QIcon(str(ICON_PATH)), "Earth4D: predict AlphaEarth layer…", self.iface.mainWindow()
        )
        self.action.setObjectName("earth4dPredictAction")
        self.action.setToolTip("Predict an AlphaEarth embedding, RGB or similarity layer for the map area")
        self.action.triggered.connect(self.show_dialog)
        self.iface.addToolBarIcon(self.action)
        self.iface.addPluginToRasterMenu(MENU, self.action)
        self.live = LiveLayers(self.report_error)
        QgsApplication.instance().aboutToQuit.connect(self.live.stop_all)
        self.options_factory = OptionsFactory()
        self.iface.registerOptionsWidgetFactory(self.options_factory)
        self.initProcessing()

    def unload(self) -> None:
        """Remove everything ``initGui`` added; running tasks are cancelled, live-layer servers stopped."""
        for task in list(self.tasks):
            task.cancel()
        if self.live is not None:
            try:
                QgsApplication.instance().aboutToQuit.disconnect(self.live.stop_all)
            except TypeError:
                pass
            self.live.stop_all()
            self.live = None
        if self.options_factory is not None:
            self.iface.unregisterOptionsWidgetFactory(self.options_factory)
            self.options_factory = None
        if self.action is not None:
            self.iface.removePluginRasterMenu(MENU, self.action)
            self.iface.removeToolBarIcon(self.action)
            self.action.deleteLater()
            self.action = None
        if self.dialog is not None:
            if self.dialog.settings_dialog is not None:
                self.dialog.settings_dialog.page.cancel_setup()
            self.dialog.picker.finish()
            self.dialog.close()
            self.dialog.deleteLater()
            self.dialog = None
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
        LOADED_MODELS.clear()

    def show_dialog(self) -> None:
        """Open the dialog (created once, so its fields survive between runs)."""
        from .gui.dialog import Earth4DDialog

        if self.dialog is None:
            self.dialog = Earth4DDialog(self.iface, self.submit, self.add_live_layer, self.set_live_date)
        else:
            self.dialog.refresh_area()
            self.dialog.refresh_setup_banner()
        self.dialog.show()
        self.dialog.raise_()
        self.dialog.activateWindow()

    def add_live_layer(self, model: Path, date: str, style: str) -> str | None:
        """Start (or reuse) the model's server and add its XYZ layer; None, or the reason it did not start."""
        if self.live is None:
            return "The plugin is not loaded."
        try:
            self.live.add(model, date, style)
        except PluginError as exc:
            self.report_error(str(exc))
            return str(exc)
        self.iface.messageBar().pushMessage(
            "Earth4D", f"Starting the live layer of {Path(model).name}…", level=Qgis.Info, duration=3
        )
        return None

    def set_live_date(self, date: str) -> str | None:
        """Show the selected live layer (else the latest one) at ``date``; None, or why not."""
        if self.live is None:
            return "The plugin is not loaded."
        active = self.iface.activeLayer()
        layer = active if self.live.is_live(active) else self.live.latest()
        if layer is None:
            return "There is no live layer yet; add one first."
        try:
            self.live.set_date(layer, date)
        except PluginError as exc:
            return str(exc)
        return None

    def report_error(self, message: str) -> None:
        """One sentence to the message bar, and once to the log."""
        report_error(self.iface.messageBar(), message)

    def submit(self, request: LayerRequest, mode: settings.RunMode | None = None) -> str | None:
        """Validate and start a task; None when it started, else the message (logged once) for the dialog
        to show. ``mode`` overrides the run mode of the settings."""
        try:
            request = request.validated()
            runner = choose_runner(mode)
        except PluginError as exc:
            self._cleanup(request)
            report_error(None, str(exc))
            return str(exc)
        task = RasterizeTask(request, runner)
        task.succeeded.connect(lambda path, t=task: self._on_succeeded(t, path))
        task.failed.connect(lambda message, t=task: self._on_failed(t, message))
        task.cancelled.connect(lambda t=task: self._on_cancelled(t))
        self.tasks.append(task)
        QgsApplication.taskManager().addTask(task)
        self.iface.messageBar().pushMessage(
            "Earth4D", f"Predicting {request.layer_name()} ({runner.name})…", level=Qgis.Info, duration=3
        )
        return None

    def _forget(self, task: RasterizeTask) -> None:
        if task in self.tasks:
            self.tasks.remove(task)
        self._cleanup(task.request)

    @staticmethod
    def _cleanup(request: LayerRequest) -> None:
        if request.aoi is not None and request.aoi.parent.name.startswith("earth4d-aoi-"):
            shutil.rmtree(request.aoi.parent, ignore_errors=True)

    def _on_succeeded(self, task: RasterizeTask, path: str) -> None:
        self._forget(task)
        try:
            layer = add_to_group(open_result(path, task.request.layer_name(), task.request.kind))
        except PluginError as exc:
            self.report_error(str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - never a traceback in the user's face
            self.report_error(unexpected_error_message(exc))
            return
        self.iface.messageBar().pushMessage(
            "Earth4D", f"Added {layer.name()}.", level=Qgis.Success, duration=5
        )

    def _on_failed(self, task: RasterizeTask, message: str) -> None:
        self._forget(task)
        self.report_error(message)

    def _on_cancelled(self, task: RasterizeTask) -> None:
        self._forget(task)
        self.iface.messageBar().pushMessage(
            "Earth4D", "Cancelled; no output was written.", level=Qgis.Info, duration=5
        )
