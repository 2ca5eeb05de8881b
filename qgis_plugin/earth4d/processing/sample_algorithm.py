"""Processing algorithm: the 64-D embedding at each input point, as attributes A00..A63."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from qgis.core import (
    QgsCoordinateTransform,
    QgsFeature,
    QgsFeatureSink,
    QgsField,
    QgsFields,
    QgsProcessing,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterField,
    QgsVectorFileWriter,
    QgsVectorLayer,
    QgsWkbTypes,
)
from qgis.PyQt.QtCore import QVariant

from ..core.area import WGS84
from ..core.errors import PluginError
from ..core.request import SampleRequest
from ..core.runners import choose_runner
from .named_algorithm import NamedAlgorithm
from .raster_algorithms import date_parameter, date_value, feedback_progress, model_parameter

BANDS = tuple(f"A{i:02d}" for i in range(64))


def export_points(
    source: Any, context: QgsProcessingContext, folder: Path, feedback: QgsProcessingFeedback
) -> Path:
    """Write the source's features (attributes kept) to a GeoPackage in EPSG:4326 for the core."""
    path = folder / "points.gpkg"
    options = QgsVectorFileWriter.SaveVectorOptions()
    options.driverName = "GPKG"
    options.layerName = "points"
    writer = QgsVectorFileWriter.create(
        str(path), source.fields(), QgsWkbTypes.Point, WGS84, context.transformContext(), options
    )
    if writer.hasError() != QgsVectorFileWriter.NoError:
        raise PluginError(f"Cannot write the points for the core: {writer.errorMessage()}.")
    transform = QgsCoordinateTransform(source.sourceCrs(), WGS84, context.transformContext())
    for row, feature in enumerate(source.getFeatures()):
        if feedback.isCanceled():
            break
        copy = QgsFeature(feature)
        geometry = copy.geometry()
        if geometry.isNull() or geometry.isEmpty():
            raise PluginError(f"Feature {feature.id()} (row {row}) has no point.")
        if geometry.isMultipart():
            parts = geometry.asGeometryCollection()
            if len(parts) != 1:
                raise PluginError(f"Feature {feature.id()} (row {row}) has {len(parts)} points, not one.")
            geometry = parts[0]
        geometry.transform(transform)
        copy.setGeometry(geometry)
        writer.addFeature(copy)
    del writer
    return path


class SamplePoints(NamedAlgorithm):
    """Adds A00..A63 to a copy of a point layer; the date comes from a parameter or a field."""

    INPUT, DATE, DATE_FIELD, MODEL, OUTPUT = "INPUT", "DATE", "DATE_FIELD", "MODEL", "OUTPUT"

    NAME, DISPLAY = "sample_points", "Sample embeddings at points"
    GROUP, GROUP_ID = "Vectors", "vectors"
    HELP = (
        "Predicts the 64-D AlphaEarth embedding at each point and adds it as attributes A00..A63. "
        "The date is the Date parameter, or each feature's value in the date field when one is chosen."
    )

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:  # noqa: N802
        self.addParameter(model_parameter(self.MODEL))
        self.addParameter(
            QgsProcessingParameterFeatureSource(self.INPUT, "Points", [QgsProcessing.TypeVectorPoint])
        )
        self.addParameter(date_parameter(self.DATE, optional=True))
        self.addParameter(
            QgsProcessingParameterField(
                self.DATE_FIELD,
                "Date field (overrides the date)",
                parentLayerParameterName=self.INPUT,
                optional=True,
            )
        )
        self.addParameter(
            QgsProcessingParameterFeatureSink(self.OUTPUT, "Sampled points", QgsProcessing.TypeVectorPoint)
        )

    def processAlgorithm(  # noqa: N802
        self, parameters: dict[str, Any], context: QgsProcessingContext, feedback: QgsProcessingFeedback
    ) -> dict[str, Any]:
        source = self.parameterAsSource(parameters, self.INPUT, context)
        if source is None:
            raise QgsProcessingException("The points layer cannot be read.")
        date_field = self.parameterAsString(parameters, self.DATE_FIELD, context) or None
        date = None if date_field else date_value(self, parameters, self.DATE, context)
        if date is None and date_field is None:
            raise QgsProcessingException("Give a date or choose a date field.")
        folder = Path(tempfile.mkdtemp(prefix="earth4d-sample-"))
        try:
            points = export_points(source, context, folder, feedback)
            request = SampleRequest(
                model=Path(self.parameterAsFile(parameters, self.MODEL, context)),
                points=points,
                output=folder / "sampled.gpkg",
                date=date,
                date_field=date_field,
            )
            if not request.model.is_file():
                raise PluginError(f"Model file {request.model} does not exist; choose an earth4d-gis model.")
            runner = choose_runner()
            feedback.pushInfo(f"Running the core {runner.name}.")
            sampled = runner.sample(request, feedback_progress(feedback), feedback.isCanceled)
            return {self.OUTPUT: self._write_sink(parameters, context, source, sampled, feedback)}
        except PluginError as exc:
            raise QgsProcessingException(str(exc)) from None
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def _write_sink(
        self,
        parameters: dict[str, Any],
        context: QgsProcessingContext,
        source: Any,
        sampled: Path,
        feedback: QgsProcessingFeedback,
    ) -> str:
        """Input features in their own CRS plus A00..A63 read from the core's output, row by row."""
        layer = QgsVectorLayer(str(sampled), "sampled", "ogr")
        if not layer.isValid():
            raise PluginError(f"The core's output {sampled.name} cannot be read.")
        missing = [band for band in BANDS if layer.fields().indexOf(band) < 0]
        if missing:
            raise PluginError(f"The core's output lacks the columns {', '.join(missing[:3])}….")
        fields = QgsFields(source.fields())
        for band in BANDS:
            if fields.indexOf(band) < 0:
                fields.append(QgsField(band, QVariant.Double))
        sink, dest_id = self.parameterAsSink(
            parameters, self.OUTPUT, context, fields, source.wkbType(), source.sourceCrs()
        )
        if sink is None:
            raise QgsProcessingException("The output layer cannot be created.")
        band_index = [layer.fields().indexOf(band) for band in BANDS]
        total = max(source.featureCount(), 1)
        samples = layer.getFeatures()
        for i, feature in enumerate(source.getFeatures()):
            if feedback.isCanceled():
                break
            sample = next(samples, None)
            if sample is None:
                raise PluginError(f"The core returned fewer rows than the {total} input points.")
            out = QgsFeature(fields)
            out.setGeometry(feature.geometry())
            attributes = list(feature.attributes()) + [None] * (fields.count() - len(feature.attributes()))
            for band, index in zip(BANDS, band_index, strict=True):
                attributes[fields.indexOf(band)] = sample.attribute(index)
            out.setAttributes(attributes)
            sink.addFeature(out, QgsFeatureSink.FastInsert)
            feedback.setProgress(100.0 * (i + 1) / total)
        return dest_id
