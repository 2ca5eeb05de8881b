"""``earth4d-gis regress``: a continuous map of a numeric attribute learned from labelled features."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .options import (
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


@click.command("regress", cls=OneLineCommand)
@source_options()
@fit_options("regressor")
@out_option
@overwrite_option
@run_options
def command(**options: Any) -> None:
    """Predict a numeric attribute (biomass, canopy height, ...) from the embeddings at every pixel.

    Train on --labels (points or polygons, the value in --label-column): R^2 and RMSE from k-fold
    cross-validation or --test-share go to a JSON and PNG report beside --out, and the fitted regressor to a
    .skops file that --regressor reuses. Writes a float32 COG.

    Example: earth4d-gis regress --input tile.tif --labels gedi.gpkg --label-column agbd --out agbd.tif
    """
    mode = options.pop("progress_mode")
    out: Path = options.pop("out")
    overwrite = options.pop("overwrite")
    run = {"workers": options.pop("workers"), "scheduler": options.pop("scheduler")}

    def work(progress: Any, bar: bool) -> Path:
        from earth4d_gis.analysis.regress import fit_regressor, regress_to_file
        from earth4d_gis.analysis.supervised import load_fitted

        source = open_sources(options)[0]
        saved = options.pop("saved")
        paths = report_paths(out, options, "regressor", overwrite, training=saved is None)
        validation = None
        if saved is not None:
            if options["labels"] is not None:
                raise UsageLineError("give --labels (to train) or --regressor (to reuse one), not both")
            fitted = load_fitted(saved)
        else:
            if options["labels"] is None or options["label_column"] is None:
                raise UsageLineError("give --labels and --label-column, or a saved --regressor")
            if progress:
                progress(0.0, "reading the labelled embeddings")
            fitted, *validation = fit_regressor(
                source, options["labels"], options["label_column"], method=options["method"],
                folds=options["folds"], test_share=options["test_share"],
            )  # fmt: skip
        regress_to_file(
            source, fitted, out, overwrite=overwrite,
            progress=scaled(progress, 0.1 if saved is None else 0.0, 1.0), progress_bar=bar, **run,
        )  # fmt: skip
        if saved is None:
            save_fitted_outputs(fitted, paths, overwrite, validation)
        return out

    run_with_progress(mode, work)
