"""Regression of a numeric attribute (biomass, canopy height, ...) on embeddings: fit, validate, map."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import InputError
from .features import Tick
from .products import ValueKind
from .source import as_source
from .supervised import (
    PREDICT_CHUNK,
    Fitted,
    as_fitted,
    labelled_embeddings,
    make_estimator,
    split_plan,
    validation_predictions,
)
from .windows import AnalysisJob, Operation, base_tags, compute_arrays, write_outputs

if TYPE_CHECKING:
    import xarray

logger = logging.getLogger(__name__)


class RegressOperation(Operation):
    def __init__(self, fitted: Fitted) -> None:
        self.estimator = fitted.estimator
        self.kinds = (ValueKind(name="regression", descriptions=(fitted.label_column,)),)

    def apply(self, embeddings: Sequence[np.ndarray]) -> tuple[np.ndarray, ...]:
        x = embeddings[0]
        out = np.empty(len(x), dtype=np.float32)
        for start in range(0, len(x), PREDICT_CHUNK):
            out[start : start + PREDICT_CHUNK] = self.estimator.predict(x[start : start + PREDICT_CHUNK])
        return (out[None],)


def regression_report(true: np.ndarray, predicted: np.ndarray, scheme: str) -> dict[str, Any]:
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    return {
        "task": "regression",
        "scheme": scheme,
        "n_samples": int(len(true)),
        "r2": float(r2_score(true, predicted)),
        "rmse": float(np.sqrt(mean_squared_error(true, predicted))),
        "mae": float(mean_absolute_error(true, predicted)),
        "target_mean": float(np.mean(true)),
        "target_std": float(np.std(true)),
    }


def fit_regressor(
    source: Any,
    labels: Any,
    column: str,
    *,
    method: str = "random-forest",
    folds: int = 5,
    test_share: float | None = None,
    max_pixels_per_polygon: int = 1000,
    seed: int = 0,
    estimator: Any = None,
    tick: Tick | None = None,
) -> tuple[Fitted, np.ndarray, np.ndarray]:
    """Fit a regressor on a numeric label column; returns it and the validation's (true, predicted).

    ``estimator``: any scikit-learn regressor to use instead of ``method``'s.
    """
    src = as_source(source)
    folds, test_share = split_plan(folds, test_share)
    data = labelled_embeddings(
        src, labels, column, numeric=True, max_pixels_per_polygon=max_pixels_per_polygon, seed=seed, tick=tick
    )
    targets = data.values.astype(np.float64)
    if np.unique(targets).size < 2:
        raise InputError(f"label column {column!r} holds one value inside the area; nothing to regress")
    if estimator is None:
        estimator = make_estimator("regression", method, seed)
    else:
        method = type(estimator).__name__
    true, predicted, scheme = validation_predictions(
        estimator, data, targets, folds, test_share, seed, stratify=False
    )
    report = regression_report(true, predicted, scheme)
    report.update(method=method, label_column=column, n_features=data.n_features, source=src.description)
    logger.info("%s: R^2 %.3f, RMSE %.4g from %s", method, report["r2"], report["rmse"], scheme)
    estimator.fit(data.x, targets)
    return Fitted(estimator, "regression", method, column, src.identity, [], report), true, predicted


def regress_job(source: Any, fitted: Fitted) -> AnalysisJob:
    src = as_source(source)
    fitted.check_source(src)
    return AnalysisJob((src,), RegressOperation(fitted))


def regress(source: Any, regressor: Fitted | str | os.PathLike[str]) -> xarray.DataArray:
    """The predicted value per pixel of a small area, in memory (float32, NaN nodata)."""
    return compute_arrays(regress_job(source, as_fitted(regressor, "regression")))[0]


def regress_to_file(
    source: Any, regressor: Fitted | str | os.PathLike[str], out: str | os.PathLike[str], *,
    overwrite: bool = False, **run: Any,
) -> Path:  # fmt: skip
    """Write the predicted value per pixel as a float32 COG."""
    fitted = as_fitted(regressor, "regression")
    job = regress_job(source, fitted)
    tags = {**base_tags(job, "regress"), "method": fitted.method, "label_column": fitted.label_column}
    return write_outputs(job, [Path(out)], tags=[tags], overwrite=overwrite, what="regress", **run)[0]
