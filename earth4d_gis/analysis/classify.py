"""Supervised classification of embeddings: fit on labelled points or polygons, map classes and confidence.

fitted = fit_classifier(source, "labels.gpkg", "landcover")       # random forest, 5-fold accuracy
classes, confidence = classify(source, fitted)                    # xarray, in memory
classify_to_files(source, fitted, "classes.tif")                  # COGs, window by window
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import InputError
from .features import Tick
from .products import MAX_CLASSES, ClassKind, ValueKind
from .source import EmbeddingSource, as_source
from .supervised import (
    PREDICT_CHUNK,
    Fitted,
    as_fitted,
    labelled_embeddings,
    make_estimator,
    split_plan,
    validation_predictions,
)
from .windows import AnalysisJob, Operation, base_tags, compute_arrays, sibling, write_outputs

if TYPE_CHECKING:
    import xarray

logger = logging.getLogger(__name__)


class ClassifyOperation(Operation):
    """Class (most probable) and confidence (its probability) per pixel."""

    def __init__(self, fitted: Fitted) -> None:
        self.estimator = fitted.estimator
        self.kinds = (
            ClassKind(class_names=tuple(fitted.class_names)),
            ValueKind(name="confidence", descriptions=("confidence",)),
        )

    def apply(self, embeddings: Sequence[np.ndarray]) -> tuple[np.ndarray, ...]:
        x = embeddings[0]
        classes = np.empty(len(x), dtype=np.uint8)
        confidence = np.empty(len(x), dtype=np.float32)
        labels = np.asarray(self.estimator.classes_)
        for start in range(0, len(x), PREDICT_CHUNK):
            rows = slice(start, start + PREDICT_CHUNK)
            probabilities = self.estimator.predict_proba(x[rows])
            best = probabilities.argmax(axis=1)
            classes[rows] = labels[best]
            confidence[rows] = probabilities[np.arange(len(best)), best]
        return classes[None], confidence[None]


def classification_report(
    true: np.ndarray, predicted: np.ndarray, names: list[str], scheme: str
) -> dict[str, Any]:
    """Overall accuracy, per-class precision/recall/F1, confusion matrix, and the majority-class baseline."""
    from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

    labels = list(range(len(names)))
    precision, recall, f1, support = precision_recall_fscore_support(
        true, predicted, labels=labels, zero_division=0
    )
    counts = np.bincount(true, minlength=len(names))
    return {
        "task": "classification",
        "scheme": scheme,
        "n_samples": int(len(true)),
        "overall_accuracy": float(accuracy_score(true, predicted)),
        "chance_accuracy": float(counts.max() / max(1, counts.sum())),
        "macro_f1": float(np.mean(f1[support > 0])) if (support > 0).any() else 0.0,
        "class_names": list(names),
        "per_class": {
            name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for name, p, r, f, s in zip(names, precision, recall, f1, support, strict=True)
        },
        "confusion_matrix": confusion_matrix(true, predicted, labels=labels).tolist(),
    }


def fit_classifier(
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
) -> Fitted:
    """Fit a classifier on the embeddings under labelled points/polygons (a vector file or GeoDataFrame).

    Accuracy comes from k-fold cross-validation (``folds``) or a held-out share of the features
    (``test_share``), grouped by feature; the final model is then fitted on all of them. ``estimator``: any
    scikit-learn classifier to use instead of ``method``'s (e.g. a forest of another size).
    """
    src = as_source(source)
    folds, test_share = split_plan(folds, test_share)
    data = labelled_embeddings(
        src,
        labels,
        column,
        numeric=False,
        max_pixels_per_polygon=max_pixels_per_polygon,
        seed=seed,
        tick=tick,
    )
    names = sorted({str(v) for v in data.values})
    if len(names) < 2:
        raise InputError(
            f"the labels inside the area hold only one class ({names[0]!r}); a classifier needs at least two"
        )
    if len(names) > MAX_CLASSES:
        raise InputError(f"label column {column!r} has {len(names)} classes, more than {MAX_CLASSES}")
    codes = np.searchsorted(np.array(names), np.array([str(v) for v in data.values]))
    if estimator is None:
        estimator = make_estimator("classification", method, seed)
    else:
        method = type(estimator).__name__
    true, predicted, scheme = validation_predictions(
        estimator, data, codes, folds, test_share, seed, stratify=True
    )
    report = classification_report(true, predicted, names, scheme)
    report.update(method=method, label_column=column, n_features=data.n_features, source=src.description)
    logger.info(
        "%s: overall accuracy %.3f (chance %.3f) from %s",
        method, report["overall_accuracy"], report["chance_accuracy"], scheme,
    )  # fmt: skip
    estimator.fit(data.x, codes)
    return Fitted(estimator, "classification", method, column, src.identity, names, report)


def classify_job(source: Any, fitted: Fitted) -> AnalysisJob:
    src: EmbeddingSource = as_source(source)
    fitted.check_source(src)
    return AnalysisJob((src,), ClassifyOperation(fitted))


def classify(
    source: Any, classifier: Fitted | str | os.PathLike[str]
) -> tuple[xarray.DataArray, xarray.DataArray]:
    """Class (uint8, names in ``attrs['class_names']``) and confidence maps of a small area, in memory."""
    job = classify_job(source, as_fitted(classifier, "classification"))
    classes, confidence = compute_arrays(job, names=("class", "confidence"))
    return classes, confidence


def classify_to_files(
    source: Any,
    classifier: Fitted | str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    confidence_out: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    **run: Any,
) -> tuple[Path, Path]:
    """Write the class COG (names and colours in the file) and the confidence COG beside it."""
    fitted = as_fitted(classifier, "classification")
    job = classify_job(source, fitted)
    tags = {**base_tags(job, "classify"), "method": fitted.method, "label_column": fitted.label_column}
    confidence_path = Path(confidence_out) if confidence_out else sibling(out, "confidence")
    paths = write_outputs(
        job, [Path(out), confidence_path], tags=[tags, tags], overwrite=overwrite, what="classify", **run
    )
    return paths[0], paths[1]
