"""Accuracy and change reports: JSON for programs, PNG for people, written atomically."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..files import atomic_output, check_output_path


def write_json(data: dict[str, Any], path: str | os.PathLike[str], overwrite: bool = False) -> Path:
    out = check_output_path(path, overwrite)
    with atomic_output(out, overwrite=overwrite) as staged:
        staged.write_text(json.dumps(data, indent=2) + "\n")
    return out


def _save_figure(figure: Any, path: str | os.PathLike[str], overwrite: bool) -> Path:
    import matplotlib.pyplot as plt

    out = check_output_path(path, overwrite)
    try:
        with atomic_output(out, overwrite=overwrite, extension=out.suffix) as staged:
            figure.savefig(staged, dpi=110, bbox_inches="tight")
    finally:
        plt.close(figure)
    return out


def classification_figure(
    report: dict[str, Any], path: str | os.PathLike[str], overwrite: bool = False
) -> Path:
    """Confusion matrix (row-normalised) and per-class F1 as one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = report["class_names"]
    matrix = np.asarray(report["confusion_matrix"], dtype=np.float64)
    shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    size = max(5.0, 0.45 * len(names) + 3)
    figure, (left, right) = plt.subplots(
        1, 2, figsize=(2 * size + 2, size), layout="constrained", gridspec_kw={"width_ratios": (1.3, 1)}
    )
    image = left.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    left.set_xticks(range(len(names)), names, rotation=60, ha="right")
    left.set_yticks(range(len(names)), names)
    left.set_xlabel("predicted")
    left.set_ylabel("true")
    for (i, j), count in np.ndenumerate(matrix):
        if count:
            left.text(j, i, f"{int(count)}", ha="center", va="center", fontsize=7,
                      color="white" if shares[i, j] > 0.5 else "black")  # fmt: skip
    figure.colorbar(image, ax=left, fraction=0.046, pad=0.02, label="share of the true class")
    f1 = [report["per_class"][n]["f1"] for n in names]
    right.barh(range(len(names)), f1, color="tab:blue")
    right.set_yticks(range(len(names)), names)
    right.invert_yaxis()
    right.set_xlim(0, 1)
    right.set_xlabel("F1")
    for i, value in enumerate(f1):
        right.text(min(value, 0.9) + 0.01, i, f"{value:.2f}", va="center", fontsize=8)
    figure.suptitle(
        f"overall accuracy {report['overall_accuracy']:.3f} (chance {report['chance_accuracy']:.3f}), "
        f"{report['scheme']}, {report['n_samples']} samples"
    )
    return _save_figure(figure, path, overwrite)


def regression_figure(report: dict[str, Any], true: np.ndarray, predicted: np.ndarray,
                      path: str | os.PathLike[str], overwrite: bool = False) -> Path:  # fmt: skip
    """Predicted against true values of the validation, with R^2 and RMSE."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(5.5, 5))
    axis.scatter(true, predicted, s=6, alpha=0.5)
    low, high = float(min(true.min(), predicted.min())), float(max(true.max(), predicted.max()))
    axis.plot([low, high], [low, high], color="grey", linewidth=1)
    axis.set_xlabel("true")
    axis.set_ylabel("predicted")
    axis.set_title(f"R² {report['r2']:.3f}, RMSE {report['rmse']:.4g} ({report['scheme']})")
    return _save_figure(figure, path, overwrite)


def change_figure(thresholds: np.ndarray, shares: np.ndarray, title: str,
                  path: str | os.PathLike[str], overwrite: bool = False) -> Path:  # fmt: skip
    """Share of the area changed by more than each threshold."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 4))
    axis.plot(thresholds, 100 * shares, marker="o")
    axis.set_xlabel("change threshold (1 - cosine)")
    axis.set_ylabel("changed area (%)")
    axis.set_ylim(0, 100)
    axis.grid(alpha=0.3)
    axis.set_title(title)
    return _save_figure(figure, path, overwrite)


def write_csv(
    header: list[str], rows: list[list[Any]], path: str | os.PathLike[str], overwrite: bool = False
) -> Path:
    out = check_output_path(path, overwrite)
    lines = [",".join(header)] + [",".join(str(v) for v in row) for row in rows]
    with atomic_output(out, overwrite=overwrite) as staged:
        staged.write_text("\n".join(lines) + "\n")
    return out
