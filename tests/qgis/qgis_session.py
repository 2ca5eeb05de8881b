"""A whole QGIS session in one process, for ``test_exit``: start QGIS, load the plugin, run one small RGB job
in each run mode, unload, and leave through ``exitQgis()``; the process's exit status is what is tested.

Usage: python qgis_session.py MODEL OUT_DIR CLI   (prints one "ran <mode> <layer>" line per job)
"""

from __future__ import annotations

import gc
import sys
import time
import weakref
from pathlib import Path

PLUGIN_ROOT = Path(__file__).resolve().parents[2] / "qgis_plugin"
AREA = (11.30, 47.20, 11.50, 47.32)


def main(model: Path, out_dir: Path, cli: str) -> None:
    from pytest_qgis.mock_qgis_classes import MockMessageBar
    from pytest_qgis.qgis_interface import QgisInterface  # a stub iface, as the plugin tests use
    from qgis.core import QgsApplication, QgsProject
    from qgis.gui import QgsMapCanvas
    from qgis.PyQt.QtWidgets import QMainWindow

    QgsApplication.setOrganizationName("earth4d-test")
    QgsApplication.setApplicationName("earth4d-exit-test")
    app = QgsApplication([], True)
    app.initQgis()

    window = QMainWindow()
    canvas = QgsMapCanvas(window)
    iface = QgisInterface(canvas, MockMessageBar(), window)
    sys.path.insert(0, str(PLUGIN_ROOT))
    import earth4d
    from earth4d.core import settings
    from earth4d.core.request import LayerKind, LayerRequest

    settings.set_cli_path(cli)
    plugin = earth4d.classFactory(iface)
    plugin.initGui()
    for mode in (settings.RunMode.SUBPROCESS, settings.RunMode.IN_PROCESS):
        request = LayerRequest(
            model=model,
            output=out_dir / f"rgb_{mode.value}.tif",
            kind=LayerKind.RGB,
            date="2024-06-01",
            bbox=AREA,
            resolution=200.0,
        )
        problem = plugin.submit(request, mode)
        if problem is not None:
            raise SystemExit(f"{mode.value}: {problem}")
        deadline = time.monotonic() + 300
        while plugin.tasks and time.monotonic() < deadline:
            QgsApplication.processEvents()
            time.sleep(0.01)
        layers = [
            layer
            for layer in QgsProject.instance().mapLayersByName(request.layer_name())
            if Path(layer.source()) == request.output and layer.isValid()
        ]
        if not layers:
            raise SystemExit(f"{mode.value}: no layer {request.layer_name()!r} of {request.output}")
        print(f"ran {mode.value} {layers[0].source()}", flush=True)
        del layers
    from earth4d.core.model_cache import LOADED_MODELS

    model_ref = weakref.ref(LOADED_MODELS.loaded())  # the in-process job's model
    plugin.unload()
    del plugin
    gc.collect()
    print(f"model alive after unload: {model_ref() is not None}", flush=True)
    QgsProject.instance().removeAllMapLayers()
    QgsProject.instance().clear()
    settings.QgsSettings().remove("earth4d")
    app.exitQgis()


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3])
