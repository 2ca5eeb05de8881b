"""Style Processing outputs like the dialog's: the renderer for their kind, in the "Earth4D" group."""

from __future__ import annotations

from qgis.core import (
    QgsMapLayer,
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProcessingLayerPostProcessorInterface,
    QgsRasterLayer,
    QgsVectorLayer,
)

from ..core.request import LayerKind
from .results import GROUP_NAME, style_analysis_layer, style_layer, style_zonal_layer


class StyleResult(QgsProcessingLayerPostProcessorInterface):
    """Applies the kind's renderer and moves the loaded layer into the "Earth4D" group."""

    _alive: dict[LayerKind, StyleResult] = {}

    def __init__(self, kind: LayerKind) -> None:
        super().__init__()
        self.kind = kind

    @classmethod
    def for_kind(cls, kind: LayerKind) -> StyleResult:
        """A shared instance per kind: QGIS keeps a bare pointer, so Python must keep the object alive."""
        if kind not in cls._alive:
            cls._alive[kind] = cls(kind)
        return cls._alive[kind]

    def postProcessLayer(  # noqa: N802 - QGIS's name
        self, layer: QgsMapLayer, context: QgsProcessingContext, feedback: QgsProcessingFeedback
    ) -> None:
        if not isinstance(layer, QgsRasterLayer) or not layer.isValid():
            return
        style_layer(layer, self.kind)
        _into_group(layer, context)


class StyleAnalysis(QgsProcessingLayerPostProcessorInterface):
    """Styles an analysis output (classes, values or mask) and moves it into the "Earth4D" group."""

    _alive: list[StyleAnalysis] = []

    def __init__(self, style: str) -> None:
        super().__init__()
        self.style = style

    @classmethod
    def for_style(cls, style: str) -> StyleAnalysis:
        """A new instance per loaded layer, kept referenced here: QGIS holds a bare pointer while the layer
        loads and may delete the object afterwards, so one is never reused."""
        instance = cls(style)
        cls._alive[:] = [*cls._alive[-31:], instance]
        return instance

    def postProcessLayer(  # noqa: N802 - QGIS's name
        self, layer: QgsMapLayer, context: QgsProcessingContext, feedback: QgsProcessingFeedback
    ) -> None:
        if not layer.isValid():
            return
        if self.style == "zonal" and isinstance(layer, QgsVectorLayer):
            style_zonal_layer(layer)
        elif isinstance(layer, QgsRasterLayer):
            style_analysis_layer(layer, self.style)
        else:
            return
        _into_group(layer, context)


def _into_group(layer: QgsMapLayer, context: QgsProcessingContext) -> None:
    project = context.project()
    if project is None:
        return
    root = project.layerTreeRoot()
    node = root.findLayer(layer.id())
    if node is None:
        return
    group = root.findGroup(GROUP_NAME) or root.insertGroup(0, GROUP_NAME)
    if node.parent() is not group:
        group.insertChildNode(0, node.clone())
        node.parent().removeChildNode(node)
