"""The analysis algorithms through processing.run in real QGIS: each adds a valid, styled layer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from .conftest import AREA

pytestmark = pytest.mark.qgis


def _loaded(path: Path) -> Any:
    from qgis.core import QgsProject

    layers = [layer for layer in QgsProject.instance().mapLayers().values() if layer.source() == str(path)]
    assert len(layers) == 1, f"{path} was not loaded once"
    assert layers[0].isValid()
    return layers[0]


def _use_mode(mode: str, cli: str) -> None:
    from earth4d.core import settings

    settings.set_run_mode(settings.RunMode(mode))
    settings.set_cli_path(cli if mode == "subprocess" else "")


def test_classify_algorithm_adds_named_classes_and_confidence(
    processing: Any, official_tiles: dict, labelled_points: dict, tmp_path: Path
) -> None:
    from qgis.core import QgsPalettedRasterRenderer, QgsSingleBandPseudoColorRenderer

    out, confidence, report = tmp_path / "classes.tif", tmp_path / "confidence.tif", tmp_path / "report.json"
    processing.runAndLoadResults(
        "earth4d:classify",
        {
            "INPUT": str(official_tiles["2019"]), "LABELS": str(labelled_points["train"]),
            "LABEL_FIELD": "landcover", "FOLDS": 2, "OUTPUT": str(out), "CONFIDENCE": str(confidence),
            "REPORT": str(report), "SAVE_MODEL": str(tmp_path / "model.skops"),
        },
    )  # fmt: skip
    classes = _loaded(out)
    renderer = classes.renderer()
    assert isinstance(renderer, QgsPalettedRasterRenderer)
    names = json.loads(report.read_text())["class_names"]
    assert [c.label for c in renderer.classes()] == names and len(names) >= 4
    assert isinstance(_loaded(confidence).renderer(), QgsSingleBandPseudoColorRenderer)
    assert json.loads(report.read_text())["overall_accuracy"] > 0.8
    assert (tmp_path / "model.skops").is_file() and report.with_suffix(".png").is_file()


def test_regress_algorithm(
    processing: Any, official_tiles: dict, labelled_points: dict, tmp_path: Path
) -> None:
    from qgis.core import QgsSingleBandPseudoColorRenderer

    out = tmp_path / "elevation.tif"
    processing.runAndLoadResults(
        "earth4d:regress",
        {"INPUT": str(official_tiles["2019"]), "LABELS": str(labelled_points["train"]),
         "LABEL_FIELD": "elevation", "FOLDS": 3, "OUTPUT": str(out)},
    )  # fmt: skip
    layer = _loaded(out)
    assert isinstance(layer.renderer(), QgsSingleBandPseudoColorRenderer)
    assert json.loads(out.with_suffix(".report.json").read_text())["r2"] > 0.3


@pytest.mark.parametrize("mode", ["in-process", "subprocess"])
def test_cluster_algorithm(
    processing: Any, official_tiles: dict, tmp_path: Path, mode: str, earth4d_cli: str
) -> None:
    from qgis.core import QgsPalettedRasterRenderer

    _use_mode(mode, earth4d_cli)
    out = tmp_path / "clusters.tif"
    processing.runAndLoadResults(
        "earth4d:cluster", {"INPUT": str(official_tiles["2019"]), "K": 5, "OUTPUT": str(out)}
    )
    renderer = _loaded(out).renderer()
    assert isinstance(renderer, QgsPalettedRasterRenderer)
    assert [c.label for c in renderer.classes()] == [f"cluster {i}" for i in range(1, 6)]


def test_change_algorithm_from_a_model_and_dates(processing: Any, tiny_model: Path, tmp_path: Path) -> None:
    from qgis.core import QgsSingleBandPseudoColorRenderer

    out = tmp_path / "change.tif"
    extent = f"{AREA[0]},{AREA[0] + 0.05},{AREA[1]},{AREA[1] + 0.04} [EPSG:4326]"
    processing.runAndLoadResults(
        "earth4d:change",
        {"MODEL": str(tiny_model), "EXTENT": extent, "DATE": "2019-06-01, 2023-06-01", "RESOLUTION": 200.0,
         "OUTPUT": str(out)},
    )  # fmt: skip
    layer = _loaded(out)
    assert layer.bandCount() == 2 and isinstance(layer.renderer(), QgsSingleBandPseudoColorRenderer)
    assert out.with_suffix(".report.csv").is_file()


def test_similarity_search_algorithm_with_polygon_seeds_and_a_mask(
    processing: Any, official_tiles: dict, analysis_truth: Any, tmp_path: Path
) -> None:
    from qgis.core import (
        QgsFeature,
        QgsGeometry,
        QgsPalettedRasterRenderer,
        QgsRectangle,
        QgsSingleBandPseudoColorRenderer,
        QgsVectorLayer,
    )

    seeds = QgsVectorLayer("Polygon?crs=EPSG:32610", "seeds", "memory")
    t = analysis_truth.transform
    feature = QgsFeature()
    feature.setGeometry(QgsGeometry.fromRect(QgsRectangle(t.c + 800, t.f - 1000, t.c + 900, t.f - 900)))
    seeds.dataProvider().addFeatures([feature])
    out, mask = tmp_path / "similarity.tif", tmp_path / "mask.tif"
    processing.runAndLoadResults(
        "earth4d:similarity_search",
        {"INPUT": str(official_tiles["2019"]), "SEEDS": seeds, "REDUCE": 1, "THRESHOLD": 0.8,
         "OUTPUT": str(out), "MASK": str(mask)},
    )  # fmt: skip
    assert isinstance(_loaded(out).renderer(), QgsSingleBandPseudoColorRenderer)
    renderer = _loaded(mask).renderer()
    assert isinstance(renderer, QgsPalettedRasterRenderer) and len(renderer.classes()) == 2


def test_zonal_algorithm_on_a_grid(processing: Any, official_tiles: dict, tmp_path: Path) -> None:
    out = tmp_path / "cells.gpkg"
    result = processing.runAndLoadResults(
        "earth4d:zonal", {"INPUT": str(official_tiles["2019"]), "GRID_SIZE": 500.0, "OUTPUT": str(out)}
    )
    from qgis.core import QgsProject, QgsVectorLayer

    assert Path(result["OUTPUT"]) == out
    layers = [lyr for lyr in QgsProject.instance().mapLayers().values() if lyr.source().startswith(str(out))]
    assert len(layers) == 1 and isinstance(layers[0], QgsVectorLayer) and layers[0].isValid()
    assert layers[0].featureCount() >= 16 and "A63" in layers[0].fields().names()
    from qgis.core import QgsExpression, QgsExpressionContext, QgsExpressionContextUtils, QgsSymbolLayer

    fill = layers[0].renderer().symbol().symbolLayer(0)
    colour = fill.dataDefinedProperties().property(QgsSymbolLayer.PropertyFillColor)
    assert colour.isActive(), "zonal means are filled by their A01/A16/A09 colour"
    features = list(layers[0].getFeatures())
    colours = set()
    for feature in features[:8]:
        context = QgsExpressionContext(QgsExpressionContextUtils.globalProjectLayerScopes(layers[0]))
        context.setFeature(feature)
        colours.add(QgsExpression(colour.expressionString()).evaluate(context))
    assert len(colours) > 1 and all(c.count(",") >= 2 for c in colours), colours


def test_analysis_error_is_one_sentence(processing: Any, tmp_path: Path) -> None:
    from qgis.core import QgsProcessingException

    with pytest.raises(QgsProcessingException, match="Choose an embedding raster, or a model file"):
        processing.run("earth4d:cluster", {"OUTPUT": str(tmp_path / "x.tif")})
    assert not (tmp_path / "x.tif").exists()


def test_cancelled_analysis_raises_and_leaves_no_file(
    processing: Any, official_tiles: dict, tmp_path: Path
) -> None:
    from qgis.core import QgsProcessingException, QgsProcessingFeedback
    from qgis.PyQt.QtCore import Qt

    feedback = QgsProcessingFeedback()
    # The core reports from its own thread: cancel right there, as a user's click would.
    feedback.progressChanged.connect(lambda value: feedback.cancel(), Qt.DirectConnection)
    with pytest.raises(QgsProcessingException, match="Cancelled"):
        parameters = {"INPUT": str(official_tiles["2019"]), "K": 3, "OUTPUT": str(tmp_path / "k.tif")}
        processing.run("earth4d:cluster", parameters, feedback=feedback)
    assert list(tmp_path.iterdir()) == []
