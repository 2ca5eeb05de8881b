"""The earth4d Processing provider: every algorithm through processing.run, in a model, and cancelled."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pyproj import Transformer

from .conftest import AREA, DATE

pytestmark = pytest.mark.qgis

EXTENT_4326 = f"{AREA[0]},{AREA[2]},{AREA[1]},{AREA[3]} [EPSG:4326]"


def _raster(path: str) -> Any:
    from qgis.core import QgsRasterLayer

    layer = QgsRasterLayer(path, "result", "gdal")
    assert layer.isValid(), path
    return layer


def _base_parameters(model: Path, out: Path) -> dict[str, Any]:
    return {"MODEL": str(model), "EXTENT": EXTENT_4326, "DATE": DATE, "RESOLUTION": 100.0, "OUTPUT": str(out)}


def _use_mode(mode: str, cli: str) -> None:
    from earth4d.core import settings

    settings.set_run_mode(settings.RunMode(mode))
    settings.set_cli_path(cli if mode == "subprocess" else "")


def test_area_defaults_to_the_map_canvas_extent(
    processing: Any, qgis_canvas: Any, qgis_iface: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from qgis.core import QgsApplication, QgsCoordinateReferenceSystem, QgsRectangle
    from qgis.gui import QgsBrowserGuiModel

    to_mercator = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True)
    xmin, ymin = to_mercator.transform(AREA[0], AREA[1])
    xmax, ymax = to_mercator.transform(AREA[2], AREA[3])
    qgis_canvas.setDestinationCrs(QgsCoordinateReferenceSystem("EPSG:3857"))
    qgis_canvas.setExtent(QgsRectangle(xmin, ymin, xmax, ymax))
    extent = qgis_canvas.extent()
    for name in ("earth4d:rasterize_rgb", "earth4d:classify"):
        algorithm = QgsApplication.processingRegistry().createAlgorithmById(name)
        default = algorithm.parameterDefinition("EXTENT").defaultValue()
        assert default.endswith("[EPSG:3857]"), default
        values = [float(v) for v in default.split(" ")[0].split(",")]
        assert values == pytest.approx(
            [extent.xMinimum(), extent.xMaximum(), extent.yMinimum(), extent.yMaximum()]
        )
    browser = QgsBrowserGuiModel()
    monkeypatch.setattr(qgis_iface, "browserModel", lambda: browser, raising=False)
    dialog = processing.createAlgorithmDialog("earth4d:rasterize_rgb", {})
    shown = dialog.mainWidget().wrappers["EXTENT"].widgetValue()
    dialog.deleteLater()
    assert shown.endswith("[EPSG:3857]"), f"the dialog's Area starts as the map extent, not {shown!r}"
    assert [float(v) for v in shown.split(" ")[0].split(",")] == pytest.approx(values, rel=1e-6)


@pytest.mark.parametrize("mode", ["in-process", "subprocess"])
def test_rasterize_rgb_algorithm(
    processing: Any, tiny_model: Path, tmp_path: Path, mode: str, earth4d_cli: str
) -> None:
    _use_mode(mode, earth4d_cli)
    result = processing.run("earth4d:rasterize_rgb", _base_parameters(tiny_model, tmp_path / "rgb.tif"))
    layer = _raster(result["OUTPUT"])
    assert result["OUTPUT"] == str(tmp_path / "rgb.tif")
    assert layer.bandCount() == 3 and layer.crs().authid() == "EPSG:32632"
    assert layer.rasterUnitsPerPixelX() == pytest.approx(100.0)


def test_rasterize_embeddings_algorithm_takes_a_projected_extent(
    processing: Any, tiny_model: Path, tmp_path: Path
) -> None:
    to_mercator = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True)
    xmin, ymin = to_mercator.transform(AREA[0], AREA[1])
    xmax, ymax = to_mercator.transform(AREA[2], AREA[3])
    parameters = _base_parameters(tiny_model, tmp_path / "emb.tif")
    parameters.update(EXTENT=f"{xmin},{xmax},{ymin},{ymax} [EPSG:3857]", CRS="EPSG:4326", RESOLUTION=222.64)
    layer = _raster(processing.run("earth4d:rasterize_embeddings", parameters)["OUTPUT"])
    assert layer.bandCount() == 64 and layer.crs().authid() == "EPSG:4326"
    extent = layer.extent()
    got = (extent.xMinimum(), extent.yMinimum(), extent.xMaximum(), extent.yMaximum())
    assert got == pytest.approx(AREA, abs=0.0021), "the 3857 extent must arrive as the same area in degrees"
    assert layer.rasterUnitsPerPixelX() == pytest.approx(0.002)


def test_similarity_algorithm_peaks_at_the_chosen_place(
    processing: Any, tiny_model: Path, tmp_path: Path
) -> None:
    from qgis.core import QgsPointXY

    parameters = _base_parameters(tiny_model, tmp_path / "sim.tif")
    x, y = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True).transform(11.40, 47.26)
    parameters["POINT"] = f"{x},{y} [EPSG:3857]"
    layer = _raster(processing.run("earth4d:similarity", parameters)["OUTPUT"])
    assert layer.bandCount() == 1
    to_utm = Transformer.from_crs("EPSG:4326", "EPSG:32632", always_xy=True)
    value, ok = layer.dataProvider().sample(QgsPointXY(*to_utm.transform(11.40, 47.26)), 1)
    assert ok and value == pytest.approx(1.0, abs=0.02), "the place itself is most similar to itself"


def _points_layer() -> Any:
    from qgis.core import QgsFeature, QgsField, QgsGeometry, QgsPointXY, QgsVectorLayer
    from qgis.PyQt.QtCore import QVariant

    layer = QgsVectorLayer("Point?crs=EPSG:3857", "sites", "memory")
    layer.dataProvider().addAttributes([QgsField("name", QVariant.String), QgsField("when", QVariant.String)])
    layer.updateFields()
    to_mercator = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True)
    features = []
    for name, lon, lat, when in (("a", 11.35, 47.25, "2020-06-01"), ("b", 11.45, 47.29, "2023-01-15")):
        feature = QgsFeature(layer.fields())
        feature.setGeometry(QgsGeometry.fromPointXY(QgsPointXY(*to_mercator.transform(lon, lat))))
        feature.setAttributes([name, when])
        features.append(feature)
    layer.dataProvider().addFeatures(features)
    return layer


@pytest.mark.parametrize(
    ("mode", "by_field"), [("in-process", False), ("in-process", True), ("subprocess", True)]
)
def test_sample_points_algorithm_adds_unit_embeddings(
    processing: Any, tiny_model: Path, earth4d_cli: str, mode: str, by_field: bool
) -> None:
    from earth4d_gis.predictor import load_model

    _use_mode(mode, earth4d_cli)
    points = _points_layer()
    parameters: dict[str, Any] = {"MODEL": str(tiny_model), "INPUT": points, "OUTPUT": "memory:"}
    parameters.update({"DATE_FIELD": "when"} if by_field else {"DATE": DATE})
    result = processing.run("earth4d:sample_points", parameters)["OUTPUT"]
    assert result.featureCount() == 2 and result.crs().authid() == "EPSG:3857"
    names = result.fields().names()
    assert names[:2] == ["name", "when"] and names[2:] == [f"A{i:02d}" for i in range(64)]
    rows = {
        f["name"]: np.array([f[f"A{i:02d}"] for i in range(64)], dtype=np.float64)
        for f in result.getFeatures()
    }
    model = load_model(tiny_model)
    dates = ["2020-06-01", "2023-01-15"] if by_field else [DATE, DATE]
    expected = np.stack(
        [model.predict([47.25], [11.35], time=dates[0])[0], model.predict([47.29], [11.45], time=dates[1])[0]]
    )
    for i, name in enumerate(("a", "b")):
        assert np.linalg.norm(rows[name]) == pytest.approx(1.0, abs=1e-4)
        assert rows[name] == pytest.approx(expected[i], abs=2e-3)


def test_algorithm_runs_inside_a_processing_model(processing: Any, tiny_model: Path, tmp_path: Path) -> None:
    from qgis.core import (
        QgsProcessingModelAlgorithm,
        QgsProcessingModelChildAlgorithm,
        QgsProcessingModelChildParameterSource,
        QgsProcessingModelOutput,
        QgsProcessingModelParameter,
        QgsProcessingParameterExtent,
    )

    model = QgsProcessingModelAlgorithm("earth4d rgb", "tests")
    model.addModelParameter(QgsProcessingParameterExtent("AREA", "Area"), QgsProcessingModelParameter("AREA"))
    child = QgsProcessingModelChildAlgorithm("earth4d:rasterize_rgb")
    child.setChildId("rgb")
    child.addParameterSources("EXTENT", [QgsProcessingModelChildParameterSource.fromModelParameter("AREA")])
    child.addParameterSources(
        "MODEL", [QgsProcessingModelChildParameterSource.fromStaticValue(str(tiny_model))]
    )
    child.addParameterSources("DATE", [QgsProcessingModelChildParameterSource.fromStaticValue(DATE)])
    child.addParameterSources("RESOLUTION", [QgsProcessingModelChildParameterSource.fromStaticValue(200.0)])
    output = QgsProcessingModelOutput("RGB")
    output.setChildOutputName("OUTPUT")
    output.setChildId("rgb")
    child.setModelOutputs({"RGB": output})
    model.addChildAlgorithm(child)
    out = tmp_path / "model_rgb.tif"
    result = processing.run(model, {"AREA": EXTENT_4326, "rgb:RGB": str(out)})
    assert Path(result["rgb:RGB"]) == out
    layer = _raster(str(out))
    assert layer.bandCount() == 3 and layer.rasterUnitsPerPixelX() == pytest.approx(200.0)


def test_loaded_result_is_styled_and_grouped(processing: Any, tiny_model: Path, tmp_path: Path) -> None:
    from qgis.core import QgsMultiBandColorRenderer, QgsProject

    out = str(tmp_path / "emb.tif")
    processing.runAndLoadResults("earth4d:rasterize_embeddings", _base_parameters(tiny_model, Path(out)))
    layers = [layer for layer in QgsProject.instance().mapLayers().values() if layer.source() == out]
    assert len(layers) == 1
    layer = layers[0]
    assert layer.name() == f"Embeddings {DATE}"  # short: the Layers panel shows it whole
    renderer = layer.renderer()
    assert isinstance(renderer, QgsMultiBandColorRenderer)
    assert (renderer.redBand(), renderer.greenBand(), renderer.blueBand()) == (2, 17, 10)
    group = QgsProject.instance().layerTreeRoot().findGroup("Earth4D")
    assert group is not None and group.findLayer(layer.id()) is not None


def test_cancelled_algorithm_raises_and_leaves_no_file(
    processing: Any, tiny_model: Path, tmp_path: Path
) -> None:
    from qgis.core import QgsProcessingException, QgsProcessingFeedback
    from qgis.PyQt.QtCore import Qt

    feedback = QgsProcessingFeedback()
    # The core reports progress from its own thread: cancel right there, as a user's click would.
    feedback.progressChanged.connect(lambda value: value > 0 and feedback.cancel(), Qt.DirectConnection)
    parameters = _base_parameters(tiny_model, tmp_path / "big.tif")
    parameters["RESOLUTION"] = 10.0
    with pytest.raises(QgsProcessingException, match="Cancelled"):
        processing.run("earth4d:rasterize_embeddings", parameters, feedback=feedback)
    assert list(tmp_path.iterdir()) == []


def test_missing_model_fails_with_one_sentence(processing: Any, tmp_path: Path) -> None:
    from qgis.core import QgsProcessingException

    parameters = _base_parameters(tmp_path / "missing.pt", tmp_path / "x.tif")
    with pytest.raises(QgsProcessingException) as info:
        processing.run("earth4d:rasterize_rgb", parameters)
    assert "missing.pt" in str(info.value)
    assert not (tmp_path / "x.tif").exists()


def test_every_algorithm_has_its_names_group_and_help(processing: Any) -> None:
    from qgis.core import QgsApplication

    algorithms = QgsApplication.processingRegistry().providerById("earth4d").algorithms()
    groups = {a.name(): a.groupId() for a in algorithms}
    assert groups["rasterize_rgb"] == "rasters" and groups["classify"] == "analysis"
    assert groups["sample_points"] == "vectors"
    for algorithm in algorithms:
        assert algorithm.name() and algorithm.displayName() and algorithm.group(), algorithm.id()
        assert len(algorithm.shortHelpString()) > 40, algorithm.id()
        assert algorithm.createInstance().name() == algorithm.name()
    rgb = QgsApplication.processingRegistry().algorithmById("earth4d:rasterize_rgb")
    assert rgb.shortHelpString().endswith("the grid is the UTM zone of the area's centre.")
