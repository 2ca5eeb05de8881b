"""Processing algorithms that write rasters: embeddings, RGB, and similarity to a point."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsProcessingAlgorithm,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingParameterCrs,
    QgsProcessingParameterDateTime,
    QgsProcessingParameterExtent,
    QgsProcessingParameterFile,
    QgsProcessingParameterNumber,
    QgsProcessingParameterPoint,
    QgsProcessingParameterRasterDestination,
)
from qgis.PyQt.QtCore import QDate

from ..core import settings
from ..core.area import WGS84, canvas_extent_text, metres_to_crs_units, rectangle_to_wgs84
from ..core.errors import Cancelled, PluginError
from ..core.request import LayerKind, LayerRequest, check_date
from ..core.runners import Progress, choose_runner
from ..layers.postprocess import StyleResult
from .named_algorithm import NamedAlgorithm

MODEL_FILTER = "Earth4D model (*.pt);;All files (*)"
DEFAULT_DATE = QDate(2024, 6, 1)


def model_parameter(name: str) -> QgsProcessingParameterFile:
    """The model file, defaulting to the one chosen last in the dialog."""
    return QgsProcessingParameterFile(
        name,
        "Earth4D model file",
        behavior=QgsProcessingParameterFile.File,
        fileFilter=MODEL_FILTER,
        defaultValue=settings.model_path() or None,
    )


def date_parameter(name: str, optional: bool = False) -> QgsProcessingParameterDateTime:
    return QgsProcessingParameterDateTime(
        name, "Date", type=QgsProcessingParameterDateTime.Date, defaultValue=DEFAULT_DATE, optional=optional
    )


def date_value(
    algorithm: QgsProcessingAlgorithm, parameters: dict[str, Any], name: str, context: QgsProcessingContext
) -> str | None:
    """The date parameter as YYYY-MM-DD, accepting a QDate, a QDateTime or a date string."""
    raw = parameters.get(name)
    if raw is None or raw == "":
        return None
    if isinstance(raw, str):
        return check_date(raw)
    value = algorithm.parameterAsDateTime(parameters, name, context)
    if not value.isValid():
        raise QgsProcessingException(f"Date {raw!r} is not a date.")
    return value.date().toString("yyyy-MM-dd")


def feedback_progress(feedback: QgsProcessingFeedback) -> Progress:
    """The core's progress(fraction, message) as Processing feedback (percent and text when it changes)."""
    last = {"message": None}

    def report(fraction: float, message: str) -> None:
        feedback.setProgress(max(0.0, min(100.0, 100.0 * float(fraction))))
        if message and message != last["message"]:
            last["message"] = message
            feedback.setProgressText(message)

    return report


class RasterAlgorithm(NamedAlgorithm):
    """Shared body of the three raster algorithms; subclasses set KIND, names and help."""

    MODEL, EXTENT, DATE, POINT, RESOLUTION, CRS, OUTPUT = (
        "MODEL",
        "EXTENT",
        "DATE",
        "POINT",
        "RESOLUTION",
        "CRS",
        "OUTPUT",
    )
    KIND = LayerKind.EMBEDDINGS
    GROUP, GROUP_ID = "Rasters", "rasters"
    HELP_NOTE = (
        " Resolution is in metres (converted to degrees for a geographic output CRS);"
        " with no output CRS the grid is the UTM zone of the area's centre."
    )

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:  # noqa: N802
        self.addParameter(model_parameter(self.MODEL))
        self.addParameter(
            QgsProcessingParameterExtent(self.EXTENT, "Area", defaultValue=canvas_extent_text())
        )
        self.addParameter(date_parameter(self.DATE))
        if self.KIND is LayerKind.SIMILARITY:
            self.addParameter(QgsProcessingParameterPoint(self.POINT, "Place to compare with"))
        self.addParameter(
            QgsProcessingParameterNumber(
                self.RESOLUTION,
                "Resolution (metres)",
                type=QgsProcessingParameterNumber.Double,
                defaultValue=10.0,
                minValue=0.01,
            )
        )
        self.addParameter(
            QgsProcessingParameterCrs(
                self.CRS, "Output CRS (empty: UTM zone of the area's centre)", optional=True
            )
        )
        self.addParameter(QgsProcessingParameterRasterDestination(self.OUTPUT, self.DISPLAY))

    def build_request(
        self, parameters: dict[str, Any], context: QgsProcessingContext, output: str
    ) -> LayerRequest:
        """The parameters as a request: area and point in EPSG:4326, resolution in output CRS units."""
        extent = self.parameterAsExtent(parameters, self.EXTENT, context)
        extent_crs = self.parameterAsExtentCrs(parameters, self.EXTENT, context)
        if not extent_crs.isValid():
            extent_crs = context.project().crs() if context.project() else WGS84
        bbox = rectangle_to_wgs84(extent, extent_crs if extent_crs.isValid() else WGS84)
        crs = self.parameterAsCrs(parameters, self.CRS, context)
        crs_id = (crs.authid() or crs.toWkt()) if crs.isValid() else None
        metres = self.parameterAsDouble(parameters, self.RESOLUTION, context)
        point = None
        if self.KIND is LayerKind.SIMILARITY:
            xy = self.parameterAsPoint(
                parameters, self.POINT, context, QgsCoordinateReferenceSystem("EPSG:4326")
            )
            point = (xy.y(), xy.x())
        return LayerRequest(
            model=Path(self.parameterAsFile(parameters, self.MODEL, context)),
            output=Path(output),
            kind=self.KIND,
            date=date_value(self, parameters, self.DATE, context) or DEFAULT_DATE.toString("yyyy-MM-dd"),
            bbox=bbox,
            resolution=metres_to_crs_units(metres, crs_id, bbox),
            crs=crs_id,
            point=point,
            overwrite=True,
        )

    def processAlgorithm(  # noqa: N802
        self, parameters: dict[str, Any], context: QgsProcessingContext, feedback: QgsProcessingFeedback
    ) -> dict[str, Any]:
        output = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        try:
            request = self.build_request(parameters, context, output).validated()
            runner = choose_runner()
            feedback.pushInfo(f"Running the core {runner.name}.")
            runner.rasterize(request, feedback_progress(feedback), feedback.isCanceled)
        except Cancelled as exc:
            raise QgsProcessingException(str(exc)) from None
        except PluginError as exc:
            raise QgsProcessingException(str(exc)) from None
        if context.willLoadLayerOnCompletion(output):
            details = context.layerToLoadOnCompletionDetails(output)
            details.name = request.layer_name()
            details.forceName = True
            details.setPostProcessor(StyleResult.for_kind(self.KIND))
        return {self.OUTPUT: output}


class RasterizeEmbeddings(RasterAlgorithm):
    KIND = LayerKind.EMBEDDINGS
    NAME = "rasterize_embeddings"
    DISPLAY = "Rasterize embeddings (64 bands)"
    HELP = "Predicts the 64-band AlphaEarth embedding (A00..A63, float32) for an area and date."


class RasterizeRGB(RasterAlgorithm):
    KIND = LayerKind.RGB
    NAME = "rasterize_rgb"
    DISPLAY = "Rasterize RGB"
    HELP = "Predicts the embedding and writes the model's 3-band uint8 RGB projection of it."


class Similarity(RasterAlgorithm):
    KIND = LayerKind.SIMILARITY
    NAME = "similarity"
    DISPLAY = "Similarity to a place"
    HELP = "Maps the cosine similarity of every pixel's embedding to the embedding at a chosen place."


RASTER_ALGORITHMS = (RasterizeEmbeddings, RasterizeRGB, Similarity)
