"""Accuracy by distance to the nearest training sample, the model beside IDW kNN-16.

A map's pixels are mostly far from any sample, so a single mean over test points that sit next to
samples flatters an interpolator; the table per quintile of that distance says where a model wins.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.spatial import cKDTree

from .metrics import cosine_per_sample

N_BANDS = 5
WORST_ALLOWED_LOSS = 0.005
"""A band where the model's mean cosine is below kNN-16's by more than this counts as a loss."""


def nearest_distance(train_xyz: np.ndarray, query_xyz: np.ndarray) -> np.ndarray:
    """Metres from each query point to its nearest training sample (ECEF)."""
    return cKDTree(train_xyz).query(query_xyz, k=1, workers=-1)[0]


def band_table(
    nearest_m: np.ndarray, truth: np.ndarray, predictions: dict[str, np.ndarray], n_bands: int = N_BANDS
) -> list[dict[str, Any]]:
    """Per quantile band of ``nearest_m``: its bounds, count, and each predictor's mean cosine and MAPE.

    Band edges are the quantiles of the distances; a point on an inner edge belongs to the lower band.
    """
    nearest_m = np.asarray(nearest_m, dtype=np.float64)
    edges = np.quantile(nearest_m, np.linspace(0.0, 1.0, n_bands + 1))
    band = np.clip(np.searchsorted(edges, nearest_m, side="left") - 1, 0, n_bands - 1)
    truth = np.asarray(truth, dtype=np.float64)
    scores = {
        name: (
            cosine_per_sample(pred, truth),
            np.abs(np.asarray(pred, dtype=np.float64) - truth).mean(1) * 50.0,
        )
        for name, pred in predictions.items()
    }
    rows = []
    for b in range(n_bands):
        inside = band == b
        row: dict[str, Any] = {"from_m": float(edges[b]), "to_m": float(edges[b + 1]), "n": int(inside.sum())}
        for name, (cos, ape) in scores.items():
            row[f"{name}_cosine"] = float(cos[inside].mean()) if inside.any() else float("nan")
            row[f"{name}_mape"] = float(ape[inside].mean()) if inside.any() else float("nan")
        rows.append(row)
    return rows


def worst_band_gap(rows: list[dict[str, Any]], model: str = "model", reference: str = "knn_16") -> float:
    """The largest amount by which ``reference`` beats ``model`` in any band (negative: model wins all)."""
    gaps = [r[f"{reference}_cosine"] - r[f"{model}_cosine"] for r in rows if r["n"]]
    return max(gaps) if gaps else float("nan")
