"""Processing algorithms for the analyses: classify, regress, cluster, change, similarity search, zonal means.

Each reads embeddings from a 64-band raster layer (this project's or an official AlphaEarth tile) or from a
model, an extent and a date, and runs the matching ``earth4d-gis`` command, in QGIS's Python when the core
imports there or as a subprocess (``runner.run_command``): one set of arguments, the CLI's own checks.
Results are styled: classes with their names and colours, values with a pseudocolour ramp.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qgis.core import (
    QgsProcessing,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingParameterEnum,
    QgsProcessingParameterExtent,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterField,
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterMultipleLayers,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
    QgsProcessingParameterVectorDestination,
)

from ..core.area import canvas_extent_text, rectangle_to_wgs84
from ..core.errors import Cancelled, PluginError
from ..core.runners import choose_runner
from ..layers.postprocess import StyleAnalysis
from .named_algorithm import NamedAlgorithm
from .raster_algorithms import DEFAULT_DATE, MODEL_FILTER, date_parameter, date_value, feedback_progress

METHODS = ("random-forest", "gradient-boosting")


class AnalysisAlgorithm(NamedAlgorithm):
    """Shared parameters (embedding source) and running; subclasses add their own and build arguments."""

    INPUT, MODEL, EXTENT, DATE, RESOLUTION, OUTPUT = (
        "INPUT",
        "MODEL",
        "EXTENT",
        "DATE",
        "RESOLUTION",
        "OUTPUT",
    )
    GROUP, GROUP_ID = "Analysis", "analysis"
    HELP_NOTE = (
        " Embeddings come from the 64-band raster layer when one is given (this project's output or an"
        " official AlphaEarth int8 tile), else from the model for the extent and date, at the resolution"
        " in metres on the UTM grid of the extent's centre."
    )
    COMMAND = ""
    OUTPUT_STYLES: dict[str, str] = {}
    """Raster outputs and their style (classes | values | mask)."""

    def add_source_parameters(self, dates: bool = False) -> None:
        if dates:
            self.addParameter(
                QgsProcessingParameterMultipleLayers(
                    self.INPUT,
                    "Embedding rasters, oldest first (64 bands)",
                    QgsProcessing.TypeRaster,
                    optional=True,
                )
            )
        else:
            self.addParameter(
                QgsProcessingParameterRasterLayer(self.INPUT, "Embedding raster (64 bands)", optional=True)
            )
        self.addParameter(
            QgsProcessingParameterFile(
                self.MODEL, "Earth4D model file (when no raster is given)",
                behavior=QgsProcessingParameterFile.File, fileFilter=MODEL_FILTER, optional=True,
            )
        )  # fmt: skip
        self.addParameter(
            QgsProcessingParameterExtent(
                self.EXTENT, "Area (with a model)", defaultValue=canvas_extent_text(), optional=True
            )
        )
        if dates:
            self.addParameter(
                QgsProcessingParameterString(
                    self.DATE, "Dates (with a model), comma-separated, oldest first", optional=True
                )
            )
        else:
            self.addParameter(date_parameter(self.DATE, optional=True))
        self.addParameter(
            QgsProcessingParameterNumber(
                self.RESOLUTION, "Resolution (metres, with a model)",
                type=QgsProcessingParameterNumber.Double, defaultValue=10.0, minValue=0.01,
            )
        )  # fmt: skip

    def source_arguments(
        self, parameters: dict[str, Any], context: QgsProcessingContext, dates: bool = False
    ) -> list[str]:
        """--input ... or --model ... --bbox ... --date ... --resolution ..."""
        if dates:
            layers = self.parameterAsLayerList(parameters, self.INPUT, context)
            paths = [layer.source() for layer in layers]
        else:
            layer = self.parameterAsRasterLayer(parameters, self.INPUT, context)
            paths = [layer.source()] if layer is not None else []
        if paths:
            return [arg for path in paths for arg in ("--input", path)]
        model = self.parameterAsFile(parameters, self.MODEL, context)
        if not model:
            raise PluginError("Choose an embedding raster, or a model file with an area and a date.")
        if not Path(model).is_file():
            raise PluginError(f"Model file {model} does not exist; choose an earth4d-gis model.")
        extent = self.parameterAsExtent(parameters, self.EXTENT, context)
        if extent.isNull() or extent.isEmpty():
            raise PluginError("With a model, choose the area to analyse.")
        west, south, east, north = rectangle_to_wgs84(
            extent, self.parameterAsExtentCrs(parameters, self.EXTENT, context)
        )
        args = ["--model", model, "--bbox", repr(west), repr(south), repr(east), repr(north)]
        if dates:
            text = self.parameterAsString(parameters, self.DATE, context)
            values = [d.strip() for d in text.split(",") if d.strip()]
            if len(values) < 2:
                raise PluginError("With a model, give two or more dates separated by commas.")
        else:
            values = [date_value(self, parameters, self.DATE, context) or DEFAULT_DATE.toString("yyyy-MM-dd")]
        for value in values:
            args += ["--date", value]
        metres = self.parameterAsDouble(parameters, self.RESOLUTION, context)
        return args + ["--resolution", repr(metres)]

    def vector_path(self, parameters: dict[str, Any], name: str, context: QgsProcessingContext,
                    feedback: QgsProcessingFeedback) -> str:  # fmt: skip
        """A file the core can read for a vector parameter (exported to a GeoPackage when needed)."""
        return self.parameterAsCompatibleSourceLayerPath(
            parameters, name, context, ["gpkg", "shp"], "gpkg", feedback
        )

    def command_arguments(self, parameters: dict[str, Any], context: QgsProcessingContext,
                          feedback: QgsProcessingFeedback) -> tuple[list[str], dict[str, Any]]:  # fmt: skip
        """The command's own arguments and the algorithm's results (output name -> path)."""
        raise NotImplementedError

    def processAlgorithm(  # noqa: N802
        self, parameters: dict[str, Any], context: QgsProcessingContext, feedback: QgsProcessingFeedback
    ) -> dict[str, Any]:
        try:
            arguments, results = self.command_arguments(parameters, context, feedback)
            runner = choose_runner()
            feedback.pushInfo(f"Running earth4d-gis {self.COMMAND} {runner.name}.")
            runner.run_command(
                [self.COMMAND, *arguments, "--overwrite"], feedback_progress(feedback), feedback.isCanceled
            )
        except Cancelled as exc:
            raise QgsProcessingException(str(exc)) from None
        except PluginError as exc:
            raise QgsProcessingException(str(exc)) from None
        for output, style in self.OUTPUT_STYLES.items():
            path = results.get(output)
            if path and context.willLoadLayerOnCompletion(path):
                details = context.layerToLoadOnCompletionDetails(path)
                details.name = f"Earth4D {self.COMMAND} {output.lower()}"
                details.forceName = True
                details.setPostProcessor(StyleAnalysis.for_style(style))
        return results


def _supervised_parameters(algorithm: AnalysisAlgorithm, what: str, numeric: bool) -> None:
    algorithm.addParameter(
        QgsProcessingParameterFeatureSource(
            "LABELS", "Labelled points or polygons",
            [QgsProcessing.TypeVectorPoint, QgsProcessing.TypeVectorPolygon], optional=True,
        )
    )  # fmt: skip
    algorithm.addParameter(
        QgsProcessingParameterField(
            "LABEL_FIELD", "Label field", parentLayerParameterName="LABELS", optional=True,
            type=QgsProcessingParameterField.Numeric if numeric else QgsProcessingParameterField.Any,
        )
    )  # fmt: skip
    algorithm.addParameter(
        QgsProcessingParameterEnum("METHOD", "Method", options=list(METHODS), defaultValue=0)
    )
    algorithm.addParameter(
        QgsProcessingParameterNumber("FOLDS", "Accuracy: k-fold", defaultValue=5, minValue=2, maxValue=20)
    )
    algorithm.addParameter(
        QgsProcessingParameterFile(
            "SAVED", f"Saved {what} to apply instead of training (.skops)", extension="skops", optional=True
        )
    )
    algorithm.addParameter(
        QgsProcessingParameterFileDestination(
            "SAVE_MODEL",
            f"Fitted {what}",
            fileFilter=f"{what} (*.skops)",
            optional=True,
            createByDefault=False,
        )
    )
    algorithm.addParameter(
        QgsProcessingParameterFileDestination(
            "REPORT", "Accuracy report", fileFilter="JSON (*.json)", optional=True, createByDefault=False
        )
    )


def _supervised_arguments(
    algorithm: AnalysisAlgorithm,
    what: str,
    parameters: dict[str, Any],
    context: QgsProcessingContext,
    feedback: QgsProcessingFeedback,
) -> list[str]:
    saved = algorithm.parameterAsFile(parameters, "SAVED", context)
    if saved:
        return [f"--{what}", saved]
    if algorithm.parameterAsSource(parameters, "LABELS", context) is None:
        raise PluginError(f"Choose labelled features, or a saved {what} to apply.")
    column = algorithm.parameterAsString(parameters, "LABEL_FIELD", context)
    if not column:
        raise PluginError("Choose the field that holds the labels.")
    args = [
        "--labels",
        algorithm.vector_path(parameters, "LABELS", context, feedback),
        "--label-column",
        column,
    ]
    args += ["--method", METHODS[algorithm.parameterAsEnum(parameters, "METHOD", context)]]
    args += ["--folds", str(algorithm.parameterAsInt(parameters, "FOLDS", context))]
    save = algorithm.parameterAsFileOutput(parameters, "SAVE_MODEL", context)
    if save:
        args += [f"--save-{what}", save]
    report = algorithm.parameterAsFileOutput(parameters, "REPORT", context)
    if report:
        args += ["--report", report]
    return args


class Classify(AnalysisAlgorithm):
    NAME, DISPLAY, COMMAND = "classify", "Classify embeddings", "classify"
    HELP = (
        "Trains a random forest or gradient boosting on labelled points or polygons (or applies a saved"
        " classifier) and writes a class raster with the class names, a confidence raster, and the accuracy"
        " report (k-fold, grouped by feature) as JSON and PNG."
    )
    OUTPUT_STYLES = {"OUTPUT": "classes", "CONFIDENCE": "values"}

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:  # noqa: N802
        self.add_source_parameters()
        _supervised_parameters(self, "classifier", numeric=False)
        self.addParameter(QgsProcessingParameterRasterDestination(self.OUTPUT, "Classes"))
        self.addParameter(QgsProcessingParameterRasterDestination("CONFIDENCE", "Confidence"))

    def command_arguments(self, parameters, context, feedback):  # noqa: ANN001, ANN201
        out = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        confidence = self.parameterAsOutputLayer(parameters, "CONFIDENCE", context)
        args = self.source_arguments(parameters, context)
        args += _supervised_arguments(self, "classifier", parameters, context, feedback)
        args += ["--out", out, "--confidence", confidence]
        return args, {self.OUTPUT: out, "CONFIDENCE": confidence}


class Regress(AnalysisAlgorithm):
    NAME, DISPLAY, COMMAND = "regress", "Regress a value from embeddings", "regress"
    HELP = (
        "Trains a random forest or gradient boosting on a numeric field of labelled points or polygons (or"
        " applies a saved regressor) and writes the predicted value per pixel, with R² and RMSE from"
        " cross-validation in the report."
    )
    OUTPUT_STYLES = {"OUTPUT": "values"}

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:  # noqa: N802
        self.add_source_parameters()
        _supervised_parameters(self, "regressor", numeric=True)
        self.addParameter(QgsProcessingParameterRasterDestination(self.OUTPUT, "Predicted value"))

    def command_arguments(self, parameters, context, feedback):  # noqa: ANN001, ANN201
        out = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        args = self.source_arguments(parameters, context)
        args += _supervised_arguments(self, "regressor", parameters, context, feedback)
        return [*args, "--out", out], {self.OUTPUT: out}


class Cluster(AnalysisAlgorithm):
    NAME, DISPLAY, COMMAND = "cluster", "Cluster embeddings (k-means)", "cluster"
    HELP = "Groups the pixels into k clusters of similar embeddings; with k = 0, k is chosen by silhouette."
    OUTPUT_STYLES = {"OUTPUT": "classes"}

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:  # noqa: N802
        self.add_source_parameters()
        self.addParameter(
            QgsProcessingParameterNumber("K", "k (0: by silhouette)", defaultValue=0, minValue=0)
        )
        self.addParameter(
            QgsProcessingParameterNumber("K_MIN", "Smallest k tried", defaultValue=2, minValue=2)
        )
        self.addParameter(
            QgsProcessingParameterNumber("K_MAX", "Largest k tried", defaultValue=12, minValue=2)
        )
        self.addParameter(QgsProcessingParameterRasterDestination(self.OUTPUT, "Clusters"))

    def command_arguments(self, parameters, context, feedback):  # noqa: ANN001, ANN201
        out = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        args = self.source_arguments(parameters, context)
        k = self.parameterAsInt(parameters, "K", context)
        if k:
            args += ["--k", str(k)]
        else:
            args += ["--k-min", str(self.parameterAsInt(parameters, "K_MIN", context))]
            args += ["--k-max", str(self.parameterAsInt(parameters, "K_MAX", context))]
        return [*args, "--out", out], {self.OUTPUT: out}


class Change(AnalysisAlgorithm):
    NAME, DISPLAY, COMMAND = "change", "Change between dates", "change"
    HELP = (
        "Maps 1 - cosine of each pixel's embeddings between two dates (and the visual dot * -0.5 + 0.5), or"
        " over three or more the cumulative change and when the largest step happened; a report (CSV and"
        " PNG) gives the share of the area changed beyond each threshold."
    )
    OUTPUT_STYLES = {"OUTPUT": "values"}

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:  # noqa: N802
        self.add_source_parameters(dates=True)
        self.addParameter(QgsProcessingParameterRasterDestination(self.OUTPUT, "Change"))

    def command_arguments(self, parameters, context, feedback):  # noqa: ANN001, ANN201
        out = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        args = self.source_arguments(parameters, context, dates=True)
        return [*args, "--out", out], {self.OUTPUT: out}


class SimilaritySearch(AnalysisAlgorithm):
    NAME, DISPLAY, COMMAND = "similarity_search", "Similarity to seed places", "similarity"
    HELP = (
        "Maps the cosine similarity of every pixel to the mean or medoid embedding of seed points or"
        " polygons, and with a threshold a mask of the pixels at least that similar."
    )
    OUTPUT_STYLES = {"OUTPUT": "values", "MASK": "mask"}

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:  # noqa: N802
        self.add_source_parameters()
        self.addParameter(
            QgsProcessingParameterFeatureSource(
                "SEEDS",
                "Seed points or polygons",
                [QgsProcessing.TypeVectorPoint, QgsProcessing.TypeVectorPolygon],
            )
        )
        self.addParameter(
            QgsProcessingParameterEnum(
                "REDUCE", "Seeds combine as", options=["mean", "medoid"], defaultValue=0
            )
        )
        self.addParameter(
            QgsProcessingParameterNumber(
                "THRESHOLD", "Mask threshold (cosine)", type=QgsProcessingParameterNumber.Double,
                minValue=-1.0, maxValue=1.0, optional=True,
            )
        )  # fmt: skip
        self.addParameter(QgsProcessingParameterRasterDestination(self.OUTPUT, "Similarity"))
        self.addParameter(
            QgsProcessingParameterRasterDestination(
                "MASK", "Similarity mask", optional=True, createByDefault=False
            )
        )

    def command_arguments(self, parameters, context, feedback):  # noqa: ANN001, ANN201
        out = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        args = self.source_arguments(parameters, context)
        args += ["--seeds", self.vector_path(parameters, "SEEDS", context, feedback)]
        args += ["--reduce", ("mean", "medoid")[self.parameterAsEnum(parameters, "REDUCE", context)]]
        results = {self.OUTPUT: out}
        if parameters.get("THRESHOLD") not in (None, ""):
            args += ["--threshold", repr(self.parameterAsDouble(parameters, "THRESHOLD", context))]
            mask = self.parameterAsOutputLayer(parameters, "MASK", context)
            if not mask:
                mask = str(Path(out).with_name(Path(out).stem + ".mask.tif"))
            args += ["--mask", mask]
            results["MASK"] = mask
        return [*args, "--out", out], results


class Zonal(AnalysisAlgorithm):
    NAME, DISPLAY, COMMAND = "zonal", "Zonal mean embeddings", "zonal"
    OUTPUT_STYLES = {"OUTPUT": "zonal"}
    HELP = (
        "Averages the embeddings over polygons, or over the cells of a regular grid of the given size"
        " (metres), re-normalised to unit length, as attributes A00..A63 with the pixel count."
    )

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:  # noqa: N802
        self.add_source_parameters()
        self.addParameter(
            QgsProcessingParameterFeatureSource(
                "ZONES", "Zones (polygons)", [QgsProcessing.TypeVectorPolygon], optional=True
            )
        )
        self.addParameter(
            QgsProcessingParameterNumber(
                "GRID_SIZE", "Or: grid cell size (metres)", type=QgsProcessingParameterNumber.Double,
                minValue=0.0, optional=True,
            )
        )  # fmt: skip
        self.addParameter(
            QgsProcessingParameterVectorDestination(
                self.OUTPUT, "Zonal means", QgsProcessing.TypeVectorPolygon
            )
        )

    def command_arguments(self, parameters, context, feedback):  # noqa: ANN001, ANN201
        out = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        if not out.lower().endswith(".gpkg"):
            raise PluginError(f"Zonal means are written as a GeoPackage; {out} does not end in .gpkg.")
        args = self.source_arguments(parameters, context)
        if parameters.get("ZONES") not in (None, ""):
            args += ["--zones", self.vector_path(parameters, "ZONES", context, feedback)]
        elif parameters.get("GRID_SIZE") not in (None, ""):
            args += ["--grid-size", repr(self.parameterAsDouble(parameters, "GRID_SIZE", context))]
        else:
            raise PluginError("Choose zones, or a grid cell size.")
        return [*args, "--out", out], {self.OUTPUT: out}


ANALYSIS_ALGORITHMS = (Classify, Regress, Cluster, Change, SimilaritySearch, Zonal)
