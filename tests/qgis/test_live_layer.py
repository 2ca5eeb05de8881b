"""The dialog's "Live layer" in a real (headless) QGIS: ``earth4d-gis serve`` as an XYZ layer of any date."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from .conftest import AREA, DATE

pytestmark = [pytest.mark.qgis, pytest.mark.slow]


def _render(layer: Any) -> np.ndarray:
    """The layer drawn over AREA in EPSG:3857 at 256 x 256, as RGBA uint8 ``[h, w, 4]``."""
    from qgis.core import (
        QgsCoordinateReferenceSystem,
        QgsCoordinateTransform,
        QgsMapRendererSequentialJob,
        QgsMapSettings,
        QgsProject,
        QgsRectangle,
    )
    from qgis.PyQt.QtCore import QSize
    from qgis.PyQt.QtGui import QColor, QImage

    mercator = QgsCoordinateReferenceSystem("EPSG:3857")
    to_mercator = QgsCoordinateTransform(
        QgsCoordinateReferenceSystem("EPSG:4326"), mercator, QgsProject.instance()
    )
    settings = QgsMapSettings()
    settings.setLayers([layer])
    settings.setDestinationCrs(mercator)
    settings.setExtent(to_mercator.transformBoundingBox(QgsRectangle(*AREA)))
    settings.setOutputSize(QSize(256, 256))
    settings.setBackgroundColor(QColor(0, 0, 0, 0))
    job = QgsMapRendererSequentialJob(settings)
    job.start()
    job.waitForFinished()
    image = job.renderedImage().convertToFormat(QImage.Format_RGBA8888)
    data = image.constBits().asstring(image.sizeInBytes())
    return np.frombuffer(data, dtype=np.uint8).reshape(image.height(), image.bytesPerLine() // 4, 4)[:, :256]


def test_live_layer_is_a_valid_xyz_layer_that_renders_and_changes_date(
    plugin: Any, tiny_model: Path, earth4d_cli: str, waiter: Any
) -> None:
    from earth4d.core import settings
    from qgis.core import QgsProject

    settings.set_cli_path(earth4d_cli)
    plugin.show_dialog()
    dialog = plugin.dialog
    dialog.model_widget.setFilePath(str(tiny_model))
    dialog.live_style_combo.setCurrentIndex(dialog.live_style_combo.findData("rgb"))
    dialog.add_live_button.click()
    waiter(lambda: bool(plugin.live.layers), timeout=180)

    server = plugin.live.servers[tiny_model.resolve()]
    assert server.url.startswith("http://127.0.0.1:")
    layer = QgsProject.instance().mapLayer(next(iter(plugin.live.layers)))
    assert layer.isValid() and layer.providerType() == "wms"
    assert layer.name() == f"{tiny_model.stem} {DATE} live (RGB)"
    assert "type=xyz" in layer.source() and f"date%3D{DATE}" in layer.source()

    before = _render(layer)
    assert (before[..., 3] > 0).mean() > 0.9, "the live layer drew (almost) nothing"
    assert before[..., :3].std() > 3 and len(np.unique(before[..., :3].reshape(-1, 3), axis=0)) > 50

    dialog.date_edit.setDate(dialog.date_edit.date().addYears(-60))
    plugin.iface.setActiveLayer(layer)
    dialog.live_date_button.click()
    assert "1964-06-01" in layer.name() and "date%3D1964-06-01" in layer.source() and layer.isValid()
    after = _render(layer)
    assert (after[..., 3] > 0).mean() > 0.9
    assert np.abs(after.astype(int) - before.astype(int)).max() > 10, "the new date drew the same image"

    proc = server.proc
    layer = None
    plugin.unload()
    assert proc.poll() is not None, "the server still runs after the plugin unloaded"
    plugin.initGui()  # the fixture unloads it again


def test_a_server_that_cannot_start_reports_the_clis_error_line(
    plugin: Any, earth4d_cli: str, waiter: Any, tmp_path: Path
) -> None:
    from earth4d.core.runners import resolve_cli
    from earth4d.layers.live import LiveServer

    damaged = tmp_path / "damaged.pt"
    damaged.write_bytes(b"not a model" * 100)
    server = LiveServer(resolve_cli(earth4d_cli), damaged)
    messages: list[str] = []
    server.failed.connect(messages.append)
    server.start()
    waiter(lambda: bool(messages), timeout=120)
    # The one-line "Error: ..." among the last lines of stderr, not just an exit status.
    assert "damaged.pt" in messages[0] and "exit status" not in messages[0], messages
    assert len(server._stderr) <= 20
    assert not server.running
