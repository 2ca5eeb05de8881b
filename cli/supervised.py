"""Options and outputs that ``classify`` and ``regress`` share (labels, method, accuracy, saved model)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from .options import FILE_PATH, _compose

F = TypeVar("F", bound=Callable[..., Any])


def fit_options(what: str) -> Callable[[F], F]:
    """--labels, --label-column, --method, --folds, --test-share, --<what> (load), --save-<what>, --report."""
    return _compose(
        click.option("--labels", type=FILE_PATH, default=None,
                     help="Labelled points or polygons (any vector file, any CRS; reprojected)."),
        click.option("--label-column", default=None, help="The column holding each feature's label."),
        click.option("--method", type=click.Choice(["random-forest", "gradient-boosting"]),
                     default="random-forest", show_default=True, help="scikit-learn estimator."),
        click.option("--folds", type=click.IntRange(min=2), default=5, show_default=True,
                     help="k of the k-fold accuracy estimate (grouped by feature)."),
        click.option("--test-share", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=None,
                     help="Instead of k-fold: hold out this share of the features (0..1) for the accuracy."),
        click.option(f"--{what}", "saved", type=FILE_PATH, default=None,
                     help=f"Apply a saved {what} (.skops) instead of training one."),
        click.option(f"--save-{what}", "save_to", type=FILE_PATH, default=None,
                     help=f"Where to save the fitted {what}. Default: OUT with .{what}.skops."),
        click.option("--report", "report_to", type=FILE_PATH, default=None,
                     help="Accuracy report (JSON; a PNG beside it). Default: OUT with .report.json."),
    )  # fmt: skip


def report_paths(
    out: Path, options: dict[str, Any], what: str, overwrite: bool, training: bool
) -> dict[str, Path]:
    """The saved-model, JSON and PNG report paths, checked before any work starts."""
    from earth4d_gis.files import check_output_path

    save_to = options.pop("save_to")
    report_to = options.pop("report_to")
    if not training:
        return {}
    model = save_to or out.with_suffix(f".{what}.skops")
    report = report_to or out.with_suffix(".report.json")
    paths = {"model": model, "json": report, "png": report.with_suffix(".png")}
    for path in paths.values():
        check_output_path(path, overwrite)
    return paths


def save_fitted_outputs(fitted: Any, paths: dict[str, Path], overwrite: bool, validation: Any = None) -> None:
    """Write the fitted model and its accuracy report (JSON and PNG)."""
    from earth4d_gis.analysis.report import classification_figure, regression_figure, write_json

    fitted.save(paths["model"], overwrite=overwrite)
    write_json(fitted.report, paths["json"], overwrite=overwrite)
    if fitted.task == "classification":
        classification_figure(fitted.report, paths["png"], overwrite=overwrite)
    else:
        regression_figure(fitted.report, *validation, paths["png"], overwrite=overwrite)
    click.echo(_summary(fitted.report), err=True)


def _summary(report: dict[str, Any]) -> str:
    if report["task"] == "classification":
        return (
            f"overall accuracy {report['overall_accuracy']:.3f} "
            f"(majority class {report['chance_accuracy']:.3f}), "
            f"macro F1 {report['macro_f1']:.3f}; {report['scheme']}, {report['n_samples']} samples"
        )
    return (
        f"R^2 {report['r2']:.3f}, RMSE {report['rmse']:.4g}; "
        f"{report['scheme']}, {report['n_samples']} samples"
    )
