"""The plugin in a real (headless) QGIS: loading, toolbar/menu wiring, the dialog's defaults, errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pyproj import Transformer

pytestmark = pytest.mark.qgis


def _set_canvas(canvas: Any, authid: str, xmin: float, ymin: float, xmax: float, ymax: float) -> Any:
    from qgis.core import QgsCoordinateReferenceSystem, QgsRectangle

    canvas.setDestinationCrs(QgsCoordinateReferenceSystem(authid))
    canvas.setExtent(QgsRectangle(xmin, ymin, xmax, ymax))
    canvas.refresh()
    return canvas.extent()


def test_init_gui_and_unload_register_and_remove_everything(
    qgis_iface: Any, plugin_package: Any, qgis_new_project: Any
) -> None:
    from qgis.core import QgsApplication

    registry = QgsApplication.processingRegistry()
    plugin = plugin_package.classFactory(qgis_iface)
    plugin.initGui()
    provider = registry.providerById("earth4d")
    assert provider is not None
    assert sorted(a.name() for a in provider.algorithms()) == [
        "change",
        "classify",
        "cluster",
        "rasterize_embeddings",
        "rasterize_rgb",
        "regress",
        "sample_points",
        "similarity",
        "similarity_search",
        "zonal",
    ]
    assert not plugin.action.icon().isNull()
    qgis_iface.addPluginToRasterMenu.assert_called_with("&Earth4D", plugin.action)
    plugin.action.trigger()
    assert plugin.dialog is not None and plugin.dialog.isVisible()
    plugin.unload()
    assert registry.providerById("earth4d") is None
    assert plugin.action is None and plugin.dialog is None
    qgis_iface.removePluginRasterMenu.assert_called()


def test_dialog_takes_its_area_from_a_projected_canvas(plugin: Any, qgis_canvas: Any) -> None:
    extent = _set_canvas(qgis_canvas, "EPSG:3857", 1_257_000, 5_977_000, 1_280_000, 5_995_000)
    plugin.show_dialog()
    west, south, east, north = plugin.dialog.bbox_wgs84()
    to_wgs84 = Transformer.from_crs("EPSG:3857", "EPSG:4326", always_xy=True)
    exp_west, exp_south = to_wgs84.transform(extent.xMinimum(), extent.yMinimum())
    exp_east, exp_north = to_wgs84.transform(extent.xMaximum(), extent.yMaximum())
    assert (west, south, east, north) == pytest.approx((exp_west, exp_south, exp_east, exp_north), abs=1e-6)
    assert 11.0 < west < east < 11.7 and 47.0 < south < north < 47.5
    # ~1000 pixels across, rounded: the extent is about 20 km wide at this latitude.
    assert plugin.dialog.resolution_spin.value() in (20.0, 50.0)


def test_dialog_area_from_a_utm_canvas_is_densified(plugin: Any, qgis_canvas: Any) -> None:
    extent = _set_canvas(qgis_canvas, "EPSG:32632", 600_000, 5_200_000, 700_000, 5_300_000)
    plugin.show_dialog()
    bbox = plugin.dialog.bbox_wgs84()
    to_wgs84 = Transformer.from_crs("EPSG:32632", "EPSG:4326", always_xy=True)
    expected = to_wgs84.transform_bounds(
        extent.xMinimum(), extent.yMinimum(), extent.xMaximum(), extent.yMaximum(), densify_pts=101
    )
    assert bbox == pytest.approx(expected, abs=2e-4)


def test_point_picked_on_the_map_reaches_the_dialog_in_wgs84(plugin: Any, qgis_canvas: Any) -> None:
    from qgis.core import QgsPointXY
    from qgis.PyQt.QtCore import Qt

    _set_canvas(qgis_canvas, "EPSG:3857", 1_257_000, 5_977_000, 1_280_000, 5_995_000)
    plugin.show_dialog()
    dialog = plugin.dialog
    dialog.set_kind(plugin_kind("SIMILARITY"))
    assert dialog.pick_button.isEnabled()
    dialog.start_picking()
    assert qgis_canvas.mapTool() is dialog.picker and not dialog.isVisible()
    dialog.picker.canvasClicked.emit(QgsPointXY(1_265_000, 5_985_000), Qt.LeftButton)
    lon, lat = Transformer.from_crs("EPSG:3857", "EPSG:4326", always_xy=True).transform(1_265_000, 5_985_000)
    assert dialog.lat_spin.value() == pytest.approx(lat, abs=1e-6)
    assert dialog.lon_spin.value() == pytest.approx(lon, abs=1e-6)
    assert dialog.isVisible() and qgis_canvas.mapTool() is not dialog.picker


def plugin_kind(name: str) -> Any:
    from earth4d.request import OutputKind

    return OutputKind[name]


def test_build_request_from_the_dialog(plugin: Any, qgis_canvas: Any, tmp_path: Path) -> None:
    from qgis.core import QgsCoordinateReferenceSystem

    _set_canvas(qgis_canvas, "EPSG:3857", 1_257_000, 5_977_000, 1_280_000, 5_995_000)
    plugin.show_dialog()
    dialog = plugin.dialog
    model = tmp_path / "m.pt"
    model.write_bytes(b"x")
    dialog.model_widget.setFilePath(str(model))
    dialog.output_widget.setFilePath(str(tmp_path / "out.tif"))
    dialog.set_kind(plugin_kind("SIMILARITY"))
    dialog.set_point(47.25, 371.4)
    dialog.resolution_spin.setValue(111.32)
    request = dialog.build_request()
    assert request.kind is plugin_kind("SIMILARITY") and request.point == pytest.approx((47.25, 11.4))
    assert request.crs is None and request.resolution == pytest.approx(111.32)
    assert request.bbox == dialog.bbox_wgs84() and request.date == "2024-06-01"
    assert "similarity" in request.layer_name() and "2024-06-01" in request.layer_name()
    dialog.crs_widget.setCrs(QgsCoordinateReferenceSystem("EPSG:4326"))
    request = dialog.build_request()
    assert request.crs == "EPSG:4326" and request.resolution == pytest.approx(0.001)


def test_default_output_never_names_an_existing_file(plugin: Any, tmp_path: Path) -> None:
    from earth4d import settings

    (tmp_path / "earth4d_rgb_2024-06-01.tif").write_bytes(b"user data")
    settings.set_output_folder(str(tmp_path))
    plugin.show_dialog()
    plugin.dialog.output_widget.setFilePath("")
    plugin.dialog.set_kind(plugin_kind("RGB"))
    plugin.dialog._update_default_output()
    assert plugin.dialog.output_widget.filePath() == str(tmp_path / "earth4d_rgb_2024-06-01_2.tif")


def test_polygon_layer_area_is_exported_in_wgs84(plugin: Any, tmp_path: Path) -> None:
    from earth4d.dialog import AREA_LAYER
    from qgis.core import QgsFeature, QgsGeometry, QgsProject, QgsVectorLayer

    layer = QgsVectorLayer("Polygon?crs=EPSG:32632", "fields", "memory")
    feature = QgsFeature()
    feature.setGeometry(
        QgsGeometry.fromWkt(
            "POLYGON((680000 5230000, 690000 5230000, 690000 5240000, 680000 5240000, 680000 5230000))"
        )
    )
    layer.dataProvider().addFeatures([feature])
    layer.updateExtents()
    QgsProject.instance().addMapLayer(layer)
    plugin.show_dialog()
    dialog = plugin.dialog
    dialog.area_combo.setCurrentIndex(dialog.area_combo.findData(AREA_LAYER))
    dialog.layer_combo.setLayer(layer)
    expected = Transformer.from_crs("EPSG:32632", "EPSG:4326", always_xy=True).transform_bounds(
        680000, 5230000, 690000, 5240000, densify_pts=101
    )
    assert dialog.bbox_wgs84() == pytest.approx(expected, abs=2e-4)
    plugin.show_dialog()
    assert dialog.area_combo.currentData() == AREA_LAYER, "reopening keeps the user's choice of area"
    assert dialog.bbox_wgs84() == pytest.approx(expected, abs=2e-4)
    dialog.model_widget.setFilePath(str(tmp_path / "m.pt"))
    dialog.output_widget.setFilePath(str(tmp_path / "out.tif"))
    request = dialog.build_request()
    assert request.area_label == "fields" and request.aoi is not None and request.aoi.is_file()
    exported = QgsVectorLayer(str(request.aoi), "aoi", "ogr")
    assert exported.crs().authid() == "EPSG:4326" and exported.featureCount() == 1
    assert exported.extent().xMinimum() == pytest.approx(expected[0], abs=2e-4)
    plugin._cleanup(request)
    assert not request.aoi.exists()


def _critical(qgis_iface: Any) -> list[str]:
    from qgis.core import Qgis

    return qgis_iface.messageBar().get_messages(Qgis.Critical)


def test_missing_model_is_a_clear_message_bar_and_log_error(
    plugin: Any, qgis_iface: Any, tmp_path: Path
) -> None:
    from qgis.core import QgsApplication

    logged: list[str] = []
    QgsApplication.messageLog().messageReceived.connect(lambda message, tag, level: logged.append(message))
    plugin.show_dialog()
    dialog = plugin.dialog
    dialog.model_widget.setFilePath(str(tmp_path / "nowhere.pt"))
    dialog.output_widget.setFilePath(str(tmp_path / "out.tif"))
    dialog.run()
    expected = f"Model file {tmp_path / 'nowhere.pt'} does not exist; choose an earth4d-gis model."
    assert _critical(qgis_iface) == [f"Earth4D:{expected}"]
    assert expected in logged
    assert dialog.isVisible(), "the dialog stays open so the user can fix the model"
    assert not plugin.tasks and not (tmp_path / "out.tif").exists()


def test_existing_output_needs_the_overwrite_flag(plugin: Any, qgis_iface: Any, tmp_path: Path) -> None:
    model = tmp_path / "m.pt"
    model.write_bytes(b"x")
    existing = tmp_path / "out.tif"
    existing.write_bytes(b"user data")
    plugin.show_dialog()
    plugin.dialog.model_widget.setFilePath(str(model))
    plugin.dialog.output_widget.setFilePath(str(existing))
    plugin.dialog.run()
    assert _critical(qgis_iface) == [
        f"Earth4D:Output {existing} already exists; choose another name or allow overwriting."
    ]
    assert existing.read_bytes() == b"user data"


def test_settings_remember_the_model_and_engine(plugin: Any, tmp_path: Path) -> None:
    from earth4d import settings

    plugin.show_dialog()
    dialog = plugin.dialog
    dialog.model_widget.setFilePath(str(tmp_path / "model.pt"))
    dialog.mode_combo.setCurrentIndex(dialog.mode_combo.findData("subprocess"))
    dialog.cli_widget.setFilePath("/opt/env/bin/python")
    dialog.save_settings()
    assert settings.model_path() == str(tmp_path / "model.pt")
    assert settings.run_mode() is settings.RunMode.SUBPROCESS
    assert settings.cli_path() == "/opt/env/bin/python"
