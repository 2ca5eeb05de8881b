"""What classify and regress share: labelled embeddings, scikit-learn estimators, and saved fitted models.

A ``Fitted`` model is the estimator plus what it needs to be reused safely elsewhere: the task, the label
column and names, and the identity of the embedding source it learned from. It is saved with skops (no
pickle code execution on load: only scikit-learn and numpy types are accepted).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._version import __version__
from ..errors import InputError
from ..files import atomic_output, check_output_path
from .features import Tick, feature_embeddings, on_grid, read_features
from .source import EmbeddingSource

if TYPE_CHECKING:
    import geopandas

logger = logging.getLogger(__name__)

FORMAT = "earth4d-gis-fitted"
METHODS = ("random-forest", "gradient-boosting")
_TRUSTED_PREFIXES = ("sklearn.", "numpy.", "builtins.")
PREDICT_CHUNK = 32_768
"""Pixels per call to an estimator: a forest's per-tree outputs for a whole window would cost a lot."""


@dataclass
class Fitted:
    """A fitted estimator with its task, labels and the embedding source it was trained on."""

    estimator: Any
    task: str  # "classification" | "regression"
    method: str
    label_column: str
    source_identity: str
    class_names: list[str] = field(default_factory=list)
    report: dict[str, Any] = field(default_factory=dict)

    def check_source(self, source: EmbeddingSource) -> None:
        """Refuse a source whose embeddings are not the ones this model learned from."""
        if source.identity != self.source_identity:
            raise InputError(
                f"the saved {self.task} model was trained on embeddings from {self.source_identity}, "
                f"not {source.identity} ({source.description}); train it on this source"
            )

    def save(self, path: str | os.PathLike[str], overwrite: bool = False) -> Path:
        """Write the model as a skops file (temp file, then rename)."""
        import skops.io

        out = check_output_path(path, overwrite)
        payload = {
            "format": FORMAT,
            "software_version": __version__,
            "estimator": self.estimator,
            "task": self.task,
            "method": self.method,
            "label_column": self.label_column,
            "source_identity": self.source_identity,
            "class_names": list(self.class_names),
            "report": self.report,
        }
        with atomic_output(out, overwrite=overwrite, extension=out.suffix) as staged:
            skops.io.dump(payload, staged)
        return out


def load_fitted(path: str | os.PathLike[str]) -> Fitted:
    """Read a model saved by ``Fitted.save``; refuses files holding anything but scikit-learn/numpy types."""
    import skops.io

    p = Path(path).expanduser()
    if not p.is_file():
        raise InputError(f"saved model {p} does not exist")
    try:
        untrusted = skops.io.get_untrusted_types(file=p)
    except Exception as exc:  # noqa: BLE001 - skops raises several types for a file that is not its own
        raise InputError(f"{p} is not a saved earth4d-gis model ({type(exc).__name__})") from None
    foreign = [t for t in untrusted if not t.startswith(_TRUSTED_PREFIXES)]
    if foreign:
        raise InputError(f"{p} holds types this program does not load: {', '.join(foreign[:3])}")
    payload = skops.io.load(p, trusted=untrusted)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise InputError(f"{p} is not a saved earth4d-gis model")
    return Fitted(
        estimator=payload["estimator"],
        task=str(payload["task"]),
        method=str(payload["method"]),
        label_column=str(payload["label_column"]),
        source_identity=str(payload["source_identity"]),
        class_names=[str(n) for n in payload.get("class_names", [])],
        report=dict(payload.get("report", {})),
    )


def as_fitted(model: Fitted | str | os.PathLike[str], task: str) -> Fitted:
    fitted = model if isinstance(model, Fitted) else load_fitted(model)
    if fitted.task != task:
        raise InputError(f"the saved model is a {fitted.task} model, not a {task} model")
    return fitted


def check_method(method: str) -> str:
    if method not in METHODS:
        raise InputError(f"method {method!r} is not one of {', '.join(METHODS)}")
    return method


@dataclass
class Labelled:
    """Embeddings under labelled features: ``x [M, 64]``, the label and the feature (group) of each row."""

    x: np.ndarray
    values: np.ndarray
    groups: np.ndarray
    n_features: int


def labelled_embeddings(
    source: EmbeddingSource,
    labels: Any,
    column: str,
    *,
    numeric: bool,
    max_pixels_per_polygon: int = 1000,
    seed: int = 0,
    tick: Tick | None = None,
) -> Labelled:
    """The embeddings under each labelled point or polygon inside the source's area, with their labels."""
    frame: geopandas.GeoDataFrame = read_features(labels, "labels")
    if column not in frame.columns or column == frame.geometry.name:
        columns = ", ".join(str(c) for c in frame.columns if c != frame.geometry.name)
        raise InputError(f"label column {column!r} is not in the labels (columns: {columns})")
    frame = frame[frame[column].notna()]
    if len(frame) == 0:
        raise InputError(f"label column {column!r} has no values")
    if numeric:
        try:
            frame = frame.assign(**{column: frame[column].astype(np.float64)})
        except (TypeError, ValueError):
            raise InputError(f"label column {column!r} is not numeric") from None
    frame = on_grid(frame, source, "labelled features")
    x, owner = feature_embeddings(
        source,
        frame.reset_index(drop=True),
        max_pixels_per_polygon=max_pixels_per_polygon,
        seed=seed,
        tick=tick,
    )
    if len(x) == 0:
        raise InputError("no labelled feature has embeddings inside the area (all of them fall on nodata)")
    values = np.asarray(frame[column])[owner]
    return Labelled(x, values, owner, len(frame))


def make_estimator(task: str, method: str, seed: int) -> Any:
    """The scikit-learn estimator for a task and method (forests use every core)."""
    from sklearn.ensemble import (
        HistGradientBoostingClassifier,
        HistGradientBoostingRegressor,
        RandomForestClassifier,
        RandomForestRegressor,
    )

    check_method(method)
    if task == "classification":
        if method == "random-forest":
            return RandomForestClassifier(n_estimators=100, n_jobs=-1, random_state=seed)
        return HistGradientBoostingClassifier(max_iter=100, random_state=seed)
    if method == "random-forest":
        return RandomForestRegressor(n_estimators=100, n_jobs=-1, random_state=seed)
    return HistGradientBoostingRegressor(max_iter=100, random_state=seed)


def split_plan(folds: int, test_share: float | None) -> tuple[int, float | None]:
    """Validate the accuracy options: k-fold (k >= 2) unless a held-out share in (0, 1) is given."""
    if test_share is not None:
        if not 0.0 < float(test_share) < 1.0:
            raise InputError(f"test share {test_share} is not between 0 and 1")
        return 0, float(test_share)
    if int(folds) < 2:
        raise InputError(f"folds {folds} must be at least 2")
    return int(folds), None


def validation_predictions(
    estimator: Any,
    data: Labelled,
    targets: np.ndarray,
    folds: int,
    test_share: float | None,
    seed: int,
    stratify: bool,
) -> tuple[np.ndarray, np.ndarray, str]:
    """Out-of-sample predictions for honest accuracy: (true, predicted, scheme description).

    Pixels of one polygon stay together (grouped splits), so a polygon never helps to predict itself.
    """
    import warnings

    from sklearn.base import clone
    from sklearn.model_selection import GroupKFold, GroupShuffleSplit, StratifiedGroupKFold

    n_groups = len(np.unique(data.groups))
    if test_share is not None:
        splitter = GroupShuffleSplit(n_splits=1, test_size=test_share, random_state=seed)
        train, test = next(splitter.split(data.x, targets, data.groups))
        model = clone(estimator).fit(data.x[train], targets[train])
        return targets[test], model.predict(data.x[test]), f"held-out share {test_share:g} of the features"
    k = min(folds, n_groups)
    if k < 2:
        raise InputError("accuracy needs at least two labelled features; add labels or use more of them")
    splitter: Any = (
        StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
        if stratify
        else GroupKFold(n_splits=k)
    )
    predicted = np.empty(len(targets), dtype=targets.dtype)
    with warnings.catch_warnings():
        # A rare class cannot be in every fold; the report's per-class support shows it.
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        splits = list(splitter.split(data.x, targets, data.groups))
    for train, test in splits:
        model = clone(estimator).fit(data.x[train], targets[train])
        predicted[test] = model.predict(data.x[test])
    return targets, predicted, f"{k}-fold cross-validation grouped by feature"
