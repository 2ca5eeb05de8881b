"""Put a result on the map: open it, style it by kind, and place it in the "Earth4D" layer-tree group."""

from __future__ import annotations

from pathlib import Path

from qgis.core import (
    QgsColorRampShader,
    QgsContrastEnhancement,
    QgsFillSymbol,
    QgsMultiBandColorRenderer,
    QgsProject,
    QgsProperty,
    QgsRasterBandStats,
    QgsRasterLayer,
    QgsRasterShader,
    QgsSingleBandPseudoColorRenderer,
    QgsSingleSymbolRenderer,
    QgsStyle,
    QgsSymbolLayer,
    QgsVectorLayer,
)

from ..core.errors import PluginError
from ..core.request import LayerKind

GROUP_NAME = "Earth4D"
EMBEDDING_RGB_BANDS = (2, 17, 10)
"""A01, A16, A09 as 1-based band numbers: the official AlphaEarth visualisation."""
EMBEDDING_STRETCH = (-0.3, 0.3)
SIMILARITY_RAMP = "Viridis"
STATISTICS_SAMPLE = 250_000
"""Pixels read to find the similarity range: bounded, so adding a huge result never stalls the interface."""


def _stretch(layer: QgsRasterLayer, band: int, low: float, high: float) -> QgsContrastEnhancement:
    enhancement = QgsContrastEnhancement(layer.dataProvider().dataType(band))
    enhancement.setContrastEnhancementAlgorithm(QgsContrastEnhancement.StretchToMinimumMaximum, True)
    enhancement.setMinimumValue(low)
    enhancement.setMaximumValue(high)
    return enhancement


def _similarity_range(layer: QgsRasterLayer) -> tuple[float, float]:
    stats = layer.dataProvider().bandStatistics(
        1, QgsRasterBandStats.Min | QgsRasterBandStats.Max, layer.extent(), STATISTICS_SAMPLE
    )
    low, high = float(stats.minimumValue), float(stats.maximumValue)
    if not (low < high):
        low, high = -1.0, 1.0
    return low, high


def style_layer(layer: QgsRasterLayer, kind: LayerKind) -> None:
    """RGB: bands 1-3; embeddings: A01/A16/A09 stretched -0.3..0.3; similarity and change: a pseudocolour
    ramp (change: band 1, ``1 - cos``); clusters: their classes and colours."""
    provider = layer.dataProvider()
    if kind is LayerKind.CLUSTERS:
        style_analysis_layer(layer, "classes")
        return
    if kind is LayerKind.CHANGE:
        style_analysis_layer(layer, "values")
        return
    if kind is LayerKind.RGB:
        renderer = QgsMultiBandColorRenderer(provider, 1, 2, 3)
        renderer.setRedContrastEnhancement(_stretch(layer, 1, 0, 255))
        renderer.setGreenContrastEnhancement(_stretch(layer, 2, 0, 255))
        renderer.setBlueContrastEnhancement(_stretch(layer, 3, 0, 255))
    elif kind is LayerKind.EMBEDDINGS:
        if layer.bandCount() < max(EMBEDDING_RGB_BANDS):
            raise PluginError(
                f"{layer.source()} has {layer.bandCount()} bands, not the 64 of an embedding raster."
            )
        red, green, blue = EMBEDDING_RGB_BANDS
        renderer = QgsMultiBandColorRenderer(provider, red, green, blue)
        renderer.setRedContrastEnhancement(_stretch(layer, red, *EMBEDDING_STRETCH))
        renderer.setGreenContrastEnhancement(_stretch(layer, green, *EMBEDDING_STRETCH))
        renderer.setBlueContrastEnhancement(_stretch(layer, blue, *EMBEDDING_STRETCH))
    else:
        low, high = _similarity_range(layer)
        ramp = QgsStyle.defaultStyle().colorRamp(SIMILARITY_RAMP)
        color_shader = QgsColorRampShader(low, high, ramp, QgsColorRampShader.Interpolated)
        color_shader.classifyColorRamp(5, 1, layer.extent(), provider)
        shader = QgsRasterShader(low, high)
        shader.setRasterShaderFunction(color_shader)
        renderer = QgsSingleBandPseudoColorRenderer(provider, 1, shader)
        renderer.setClassificationMin(low)
        renderer.setClassificationMax(high)
    layer.setRenderer(renderer)
    layer.triggerRepaint()


def open_result(path: str | Path, name: str, kind: LayerKind) -> QgsRasterLayer:
    """A styled raster layer for ``path``; raises ``PluginError`` when QGIS cannot open it."""
    layer = QgsRasterLayer(str(path), name, "gdal")
    if not layer.isValid():
        raise PluginError(f"QGIS cannot open the result {path}.")
    style_layer(layer, kind)
    return layer


def add_to_group(layer: QgsRasterLayer, project: QgsProject | None = None) -> QgsRasterLayer:
    """Add ``layer`` to the project at the top of the "Earth4D" group (created on first use)."""
    project = project or QgsProject.instance()
    project.addMapLayer(layer, False)
    root = project.layerTreeRoot()
    group = root.findGroup(GROUP_NAME) or root.insertGroup(0, GROUP_NAME)
    group.insertLayer(0, layer)
    return layer


def _gdal_band_classes(path: str) -> list[tuple[int, str, tuple[int, int, int, int]]]:
    """(value, name, RGBA) of each class of an earth4d-gis class raster: names from its tags, colours
    from its colour table (GDAL, as QGIS has it)."""
    import json

    from osgeo import gdal

    dataset = gdal.Open(path)
    if dataset is None:
        raise PluginError(f"QGIS cannot open the result {path}.")
    names = json.loads(dataset.GetMetadataItem("class_names") or "[]")
    table = dataset.GetRasterBand(1).GetColorTable()
    classes = []
    for value, name in enumerate(names):
        entry = (
            table.GetColorEntry(value)
            if table is not None and value < table.GetCount()
            else (128, 128, 128, 255)
        )
        classes.append((value, str(name), tuple(int(c) for c in entry)))
    dataset = None
    return classes


def style_analysis_layer(layer: QgsRasterLayer, style: str) -> None:
    """Classes: a paletted renderer with the class names stored in the file; mask: two classes;
    values (change, similarity, regression, confidence): a pseudocolour ramp over band 1's range."""
    from qgis.core import QgsPalettedRasterRenderer
    from qgis.PyQt.QtGui import QColor

    if style == "values":
        style_layer(layer, LayerKind.SIMILARITY)
        return
    if style == "classes":
        entries = _gdal_band_classes(layer.source())
        if not entries:
            raise PluginError(f"{layer.source()} names no classes.")
    elif style == "mask":
        entries = [
            (0, "below the threshold", (200, 200, 200, 255)),
            (1, "at least the threshold", (220, 40, 40, 255)),
        ]
    else:
        raise PluginError(f"Unknown layer style {style!r}.")
    classes = [QgsPalettedRasterRenderer.Class(value, QColor(*rgba), name) for value, name, rgba in entries]
    layer.setRenderer(QgsPalettedRasterRenderer(layer.dataProvider(), 1, classes))
    layer.triggerRepaint()


def style_zonal_layer(layer: QgsVectorLayer) -> None:
    """Zonal means: each polygon filled with its mean embedding's A01/A16/A09 stretched -0.3..0.3 (the
    official visualisation, as for embedding rasters), so similar zones look alike."""
    fields = layer.fields()
    red, green, blue = (f"A{band - 1:02d}" for band in EMBEDDING_RGB_BANDS)
    if any(fields.indexOf(name) < 0 for name in (red, green, blue)):
        raise PluginError(f"{layer.source()} has no {red}/{green}/{blue} attributes of zonal means.")
    low, high = EMBEDDING_STRETCH

    def channel(name: str) -> str:
        return f'round(255 * clamp(0, ("{name}" - ({low})) / ({high - low}), 1))'

    symbol = QgsFillSymbol.createSimple({"outline_color": "60,60,60,255", "outline_width": "0.2"})
    symbol.symbolLayer(0).setDataDefinedProperty(
        QgsSymbolLayer.PropertyFillColor,
        QgsProperty.fromExpression(f"color_rgb({channel(red)}, {channel(green)}, {channel(blue)})"),
    )
    layer.setRenderer(QgsSingleSymbolRenderer(symbol))
    layer.triggerRepaint()
