"""``earth4d-gis classify``: a class map and a confidence map from labelled points or polygons."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .options import (
    FILE_PATH,
    OneLineCommand,
    UsageLineError,
    open_sources,
    out_option,
    overwrite_option,
    run_options,
    run_with_progress,
    scaled,
    source_options,
)
from .supervised import fit_options, report_paths, save_fitted_outputs


@click.command("classify", cls=OneLineCommand)
@source_options()
@fit_options("classifier")
@click.option(
    "--confidence", "confidence_out", type=FILE_PATH, default=None,
    help="Confidence raster (probability of the chosen class). Default: OUT with .confidence.tif.",
)  # fmt: skip
@out_option
@overwrite_option
@run_options
def command(**options: Any) -> None:
    """Classify every pixel's embedding with a random forest or gradient boosting (scikit-learn).

    Train on --labels (points or polygons in any CRS, the class in --label-column): the accuracy report
    (k-fold or --test-share; overall accuracy, per-class F1, confusion matrix) is written as JSON and PNG
    beside --out, and the fitted classifier as a .skops file that `--classifier` reuses on other areas and
    dates from the same embedding source. Writes a class COG (class names and colours in the file) and a
    confidence COG.

    Example: earth4d-gis classify --model final_model.pt --bbox -122.3 37.8 -122.2 37.9 --date 2024
    --labels parcels.gpkg --label-column crop --out crops.tif
    """
    mode = options.pop("progress_mode")
    out: Path = options.pop("out")
    overwrite = options.pop("overwrite")
    run = {"workers": options.pop("workers"), "scheduler": options.pop("scheduler")}

    def work(progress: Any, bar: bool) -> Path:
        from earth4d_gis.analysis.classify import classify_to_files, fit_classifier
        from earth4d_gis.analysis.supervised import load_fitted

        source = open_sources(options)[0]
        saved = options.pop("saved")
        paths = report_paths(out, options, "classifier", overwrite, training=saved is None)
        if saved is not None:
            if options["labels"] is not None:
                raise UsageLineError("give --labels (to train) or --classifier (to reuse one), not both")
            fitted = load_fitted(saved)
        else:
            if options["labels"] is None or options["label_column"] is None:
                raise UsageLineError("give --labels and --label-column, or a saved --classifier")
            if progress:
                progress(0.0, "reading the labelled embeddings")
            fitted = fit_classifier(
                source, options["labels"], options["label_column"], method=options["method"],
                folds=options["folds"], test_share=options["test_share"],
            )  # fmt: skip
        classify_to_files(
            source, fitted, out, confidence_out=options["confidence_out"], overwrite=overwrite,
            progress=scaled(progress, 0.1 if saved is None else 0.0, 1.0), progress_bar=bar, **run,
        )  # fmt: skip
        if saved is None:
            save_fitted_outputs(fitted, paths, overwrite)
        return out

    run_with_progress(mode, work)
