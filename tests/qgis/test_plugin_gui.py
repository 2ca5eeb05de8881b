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
    from earth4d.core.request import LayerKind

    return LayerKind[name]


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
    assert request.layer_name() == "Similarity to 47.2500, 11.4000 2024-06-01"
    dialog.crs_widget.setCrs(QgsCoordinateReferenceSystem("EPSG:4326"))
    request = dialog.build_request()
    assert request.crs == "EPSG:4326" and request.resolution == pytest.approx(0.001)


def test_default_output_never_names_an_existing_file(plugin: Any, tmp_path: Path) -> None:
    from earth4d.core import settings

    (tmp_path / "earth4d_rgb_2024-06-01.tif").write_bytes(b"user data")
    settings.set_output_folder(str(tmp_path))
    plugin.show_dialog()
    plugin.dialog.output_widget.setFilePath("")
    plugin.dialog.set_kind(plugin_kind("RGB"))
    plugin.dialog._update_default_output()
    assert plugin.dialog.output_widget.filePath() == str(tmp_path / "earth4d_rgb_2024-06-01_2.tif")


def test_polygon_layer_area_is_exported_in_wgs84(plugin: Any, tmp_path: Path) -> None:
    from earth4d.gui.dialog import AREA_LAYER
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
    from earth4d.gui.messages import bar_messages
    from qgis.core import Qgis

    return qgis_iface.messageBar().get_messages(Qgis.Critical) + bar_messages(qgis_iface.messageBar())


def test_missing_model_is_a_clear_dialog_error_logged_once(
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
    QgsApplication.processEvents()
    expected = f"Model file {tmp_path / 'nowhere.pt'} does not exist; choose an earth4d-gis model."
    assert dialog.error_label.isVisible() and dialog.error_label.text() == expected
    assert _critical(qgis_iface) == [], "the open dialog shows it; the map's message bar stays clear"
    assert sum(expected in message for message in logged) == 1, logged
    assert dialog.isVisible(), "the dialog stays open so the user can fix the model"
    assert not plugin.tasks and not (tmp_path / "out.tif").exists()


def test_a_long_error_is_shown_in_full_on_wrapped_lines(plugin: Any, qgis_iface: Any) -> None:
    from qgis.core import QgsApplication

    plugin.show_dialog()
    dialog = plugin.dialog
    dialog.resize(520, 600)
    message = " ".join(["The earth4d-gis environment could not read the model file because"] * 6) + " end."
    dialog.show_error(message)
    QgsApplication.processEvents()
    label = dialog.error_label
    assert label.text() == message and label.wordWrap()
    lines = label.height() / label.fontMetrics().lineSpacing()
    assert lines >= 4, f"{lines:.1f} lines tall: the message would be cut off"
    assert label.width() <= dialog.width()
    plugin.report_error(message)
    bar_label = qgis_iface.messageBar().items()[-1].widget()
    assert bar_label.wordWrap() and message in bar_label.text()


def test_existing_output_needs_the_overwrite_flag(plugin: Any, qgis_iface: Any, tmp_path: Path) -> None:
    model = tmp_path / "m.pt"
    model.write_bytes(b"x")
    existing = tmp_path / "out.tif"
    existing.write_bytes(b"user data")
    plugin.show_dialog()
    plugin.dialog.model_widget.setFilePath(str(model))
    plugin.dialog.output_widget.setFilePath(str(existing))
    plugin.dialog.run()
    assert plugin.dialog.error_label.text() == (
        f"Output {existing} already exists; choose another name or allow overwriting."
    )
    assert existing.read_bytes() == b"user data"


def test_dialog_remembers_the_model_and_output_kind(plugin: Any, tmp_path: Path) -> None:
    from earth4d.core import settings

    plugin.show_dialog()
    dialog = plugin.dialog
    assert dialog.kind() is plugin_kind("RGB"), "the first default"
    dialog.model_widget.setFilePath(str(tmp_path / "model.pt"))
    dialog.set_kind(plugin_kind("SIMILARITY"))
    dialog.save_settings()
    assert settings.model_path() == str(tmp_path / "model.pt")
    plugin.unload()
    plugin.initGui()
    plugin.show_dialog()
    assert plugin.dialog is not dialog, "a new dialog, built from the stored settings"
    assert plugin.dialog.kind() is plugin_kind("SIMILARITY")
    assert plugin.dialog.model_widget.filePath() == str(tmp_path / "model.pt")


def test_subprocess_is_the_default_and_the_settings_page_stores_the_engine(plugin: Any) -> None:
    from earth4d.core import settings
    from earth4d.gui.settings_page import SettingsWidget

    assert settings.run_mode() is settings.RunMode.SUBPROCESS
    settings.QgsSettings().setValue("earth4d/run_mode", "auto")  # what older versions stored
    assert settings.run_mode() is settings.RunMode.SUBPROCESS
    page = SettingsWidget()
    page.mode_combo.setCurrentIndex(page.mode_combo.findData("in-process"))
    page.cli_widget.setFilePath("/opt/env/bin/python")
    page.apply()
    assert settings.run_mode() is settings.RunMode.IN_PROCESS
    assert settings.cli_path() == "/opt/env/bin/python"
    page.deleteLater()


def test_first_run_prompt_until_an_environment_is_configured(
    plugin: Any, earth4d_cli: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from earth4d.core import settings
    from qgis.core import QgsApplication

    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # no earth4d-gis on PATH, as for a new user
    settings.set_cli_path("")
    settings.set_environment_folder(str(tmp_path / "env"))
    plugin.show_dialog()
    QgsApplication.processEvents()
    assert plugin.dialog.setup_banner.isVisible()
    plugin.dialog.open_settings()
    page = plugin.dialog.settings_dialog.page
    assert page.isVisible() and page.setup_button.text() == "Set up"
    assert "Not set up yet" in page.status_label.text()
    page.cli_widget.setFilePath(earth4d_cli)
    plugin.dialog.settings_dialog.reject()
    QgsApplication.processEvents()
    assert settings.cli_path() == earth4d_cli
    assert not plugin.dialog.setup_banner.isVisible()


def test_the_settings_page_is_registered_in_the_options_dialog(plugin: Any, qgis_iface: Any) -> None:
    from earth4d.gui.settings_page import OptionsPage

    qgis_iface.registerOptionsWidgetFactory.assert_called_with(plugin.options_factory)
    assert plugin.options_factory.title() == "Earth4D" and not plugin.options_factory.icon().isNull()
    page = plugin.options_factory.createWidget(None)
    assert isinstance(page, OptionsPage) and page.page.diagnostics_button.text() == "Diagnostics"
    page.deleteLater()


def test_lat_lon_boxes_show_a_whole_coordinate(plugin: Any) -> None:
    from qgis.core import QgsApplication

    plugin.show_dialog()
    dialog = plugin.dialog
    dialog.set_kind(plugin_kind("SIMILARITY"))
    dialog.set_point(-37.750512, -122.419416)
    QgsApplication.processEvents()
    for spin in (dialog.lat_spin, dialog.lon_spin):
        edit = spin.lineEdit()
        needed = edit.fontMetrics().horizontalAdvance(spin.text())
        assert edit.width() >= needed, f"{spin.text()!r} needs {needed} px, the box shows {edit.width()}"


def test_layer_names_are_short_and_name_the_similarity_point(tmp_path: Path, plugin: Any) -> None:
    from earth4d.core.request import LayerRequest

    common = {"model": tmp_path / "m.pt", "output": tmp_path / "o.tif", "date": "2024-06-01"}
    bbox = (11.30123, 47.20456, 11.50789, 47.32012)
    rgb = LayerRequest(kind=plugin_kind("RGB"), bbox=bbox, **common)
    similar = LayerRequest(kind=plugin_kind("SIMILARITY"), bbox=bbox, point=(47.25, 11.4), **common)
    fields = LayerRequest(kind=plugin_kind("EMBEDDINGS"), bbox=bbox, area_label="fields", **common)
    assert rgb.layer_name() == "RGB 2024-06-01"
    assert similar.layer_name() == "Similarity to 47.2500, 11.4000 2024-06-01"
    assert fields.layer_name() == "Embeddings 2024-06-01 fields"
    assert "11.3012" in rgb.task_name(), "the area is in the task's description"


def test_picking_the_similarity_point_leaves_the_map_where_it_was(plugin: Any, qgis_canvas: Any) -> None:
    from qgis.core import QgsApplication
    from qgis.gui import QgsMapToolPan
    from qgis.PyQt.QtCore import QPoint, Qt
    from qgis.PyQt.QtTest import QTest

    _set_canvas(qgis_canvas, "EPSG:3857", 1_257_000, 5_977_000, 1_280_000, 5_995_000)
    qgis_canvas.show()
    pan = QgsMapToolPan(qgis_canvas)
    qgis_canvas.setMapTool(pan)
    QgsApplication.processEvents()
    before = qgis_canvas.extent()
    plugin.show_dialog()
    dialog = plugin.dialog
    dialog.set_kind(plugin_kind("SIMILARITY"))
    dialog.start_picking()
    click = QPoint(qgis_canvas.width() // 5, qgis_canvas.height() // 5)
    expected = qgis_canvas.getCoordinateTransform().toMapCoordinates(click)
    QTest.mousePress(qgis_canvas.viewport(), Qt.LeftButton, Qt.NoModifier, click)
    QTest.mouseRelease(qgis_canvas.viewport(), Qt.LeftButton, Qt.NoModifier, click)
    for _ in range(10):
        QgsApplication.processEvents()
    after = qgis_canvas.extent()
    assert after.toString(3) == before.toString(3), "the pick moved the map"
    assert qgis_canvas.mapTool() is pan and dialog.isVisible()
    lon, lat = Transformer.from_crs("EPSG:3857", "EPSG:4326", always_xy=True).transform(
        expected.x(), expected.y()
    )
    assert dialog.lat_spin.value() == pytest.approx(lat, abs=1e-5)
    assert dialog.lon_spin.value() == pytest.approx(lon, abs=1e-5)
    dialog.refresh_area()
    assert dialog.bbox_wgs84()[0] == pytest.approx(
        Transformer.from_crs("EPSG:3857", "EPSG:4326", always_xy=True).transform(before.xMinimum(), 0)[0]
    )
    qgis_canvas.unsetMapTool(pan)
