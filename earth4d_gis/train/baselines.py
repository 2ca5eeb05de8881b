"""Trivial and honest baselines on the model's test set: zeros, the training mean, kNN interpolation.

k-nearest-neighbour interpolation of the training samples (in ECEF metres, inverse-distance weighted)
needs no training; a model that does not beat it has not learned the field between the samples.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.spatial import cKDTree

from ..geodesy import geodetic_to_ecef
from . import distance_bands
from .metrics import evaluate

log = logging.getLogger(__name__)

DEFAULT_KS = (1, 4, 16)
_MIN_DISTANCE_M = 1e-3
_QUERY_CHUNK = 65536


def knn_predict(
    train_xyz: np.ndarray,
    train_embeddings: np.ndarray,
    query_xyz: np.ndarray,
    k: int,
    workers: int = -1,
) -> np.ndarray:
    """Inverse-distance-weighted mean of the ``k`` nearest training embeddings of each query point (ECEF)."""
    tree = cKDTree(train_xyz)
    k = min(k, train_xyz.shape[0])
    out = np.empty((query_xyz.shape[0], train_embeddings.shape[1]), dtype=np.float64)
    for start in range(0, query_xyz.shape[0], _QUERY_CHUNK):
        stop = start + _QUERY_CHUNK
        dist, idx = tree.query(query_xyz[start:stop], k=k, workers=workers)
        if k == 1:
            dist, idx = dist[:, None], idx[:, None]
        weights = 1.0 / np.maximum(dist, _MIN_DISTANCE_M)
        weights /= weights.sum(axis=1, keepdims=True)
        out[start:stop] = np.einsum("qk,qkd->qd", weights, train_embeddings[idx].astype(np.float64))
    return out


def baseline_metrics(
    train_lat: np.ndarray,
    train_lon: np.ndarray,
    train_elevation: np.ndarray,
    train_embeddings: np.ndarray,
    test_lat: np.ndarray,
    test_lon: np.ndarray,
    test_elevation: np.ndarray,
    test_embeddings: np.ndarray,
    ks: Sequence[int] = DEFAULT_KS,
) -> dict[str, Any]:
    """Metrics of the zeros, training-mean and kNN (each k) predictors on the test rows.

    Returns ``{"zeros": {...}, "mean": {...}, "knn_1": {...}, ..., "best_knn": "knn_16",
    "best_knn_mape": "knn_4"}``: the kNN with the highest mean cosine, and the one with the lowest MAPE.
    """
    target = np.asarray(test_embeddings, dtype=np.float64)
    results: dict[str, Any] = {
        "zeros": evaluate(np.zeros_like(target), target),
        "mean": evaluate(
            np.broadcast_to(np.mean(train_embeddings, axis=0, dtype=np.float64), target.shape), target
        ),
    }
    train_xyz = geodetic_to_ecef(train_lat, train_lon, train_elevation)
    test_xyz = geodetic_to_ecef(test_lat, test_lon, test_elevation)
    for k in ks:
        results[f"knn_{k}"] = evaluate(knn_predict(train_xyz, train_embeddings, test_xyz, k), target)
        log.debug("kNN k=%d: cosine %.4f", k, results[f"knn_{k}"]["cosine"])
    knn_names = [f"knn_{k}" for k in ks]
    if knn_names:
        results["best_knn"] = max(knn_names, key=lambda name: results[name]["cosine"])
        results["best_knn_mape"] = min(knn_names, key=lambda name: results[name]["mape"])
    return results


def beats_knn(model_metrics: dict[str, Any], baselines: dict[str, Any]) -> tuple[bool, bool]:
    """Whether the model beats the best kNN on mean cosine, and the lowest-MAPE kNN on MAPE."""
    best, best_mape = baselines.get("best_knn"), baselines.get("best_knn_mape")
    on_cosine = best is not None and model_metrics["cosine"] > baselines[best]["cosine"]
    on_mape = best_mape is not None and model_metrics["mape"] < baselines[best_mape]["mape"]
    return on_cosine, on_mape


def verdict(
    model_metrics: dict[str, Any], baselines: dict[str, Any], bands: list[dict[str, Any]] | None = None
) -> str:
    """Plain sentences: does the model beat the best kNN baseline on mean cosine (and on MAPE), and
    does it lose to kNN-16 anywhere along the distance to the nearest training sample (``bands``)?"""
    best = baselines.get("best_knn")
    if best is None:
        return "no kNN baseline was computed"
    on_cosine, on_mape = beats_knn(model_metrics, baselines)
    model_cos, knn_cos = model_metrics["cosine"], baselines[best]["cosine"]
    if not on_cosine:
        text = (
            f"the model does NOT beat the best kNN baseline ({best}): "
            f"mean cosine {model_cos:.4f} <= {knn_cos:.4f}; it has not learned the field better than "
            "interpolating the training samples"
        )
    else:
        text = f"the model beats the best kNN baseline ({best}): mean cosine {model_cos:.4f} > {knn_cos:.4f}"
        best_mape = baselines.get("best_knn_mape")
        if best_mape is not None:
            model_mape, knn_mape = model_metrics["mape"], baselines[best_mape]["mape"]
            if on_mape:
                text += f", and on MAPE too ({model_mape:.3f}% < {knn_mape:.3f}%, {best_mape})"
            else:
                text += f"; on MAPE {best_mape} is still ahead ({knn_mape:.3f}% <= {model_mape:.3f}%)"
    if bands:
        losses = [
            r
            for r in bands
            if r["n"] and r["knn_16_cosine"] - r["model_cosine"] > distance_bands.WORST_ALLOWED_LOSS
        ]
        if losses:
            spans = ", ".join(f"{r['from_m']:,.0f}-{r['to_m']:,.0f} m" for r in losses)
            text += f". By distance to the nearest training sample, knn_16 is ahead by over 0.005 at {spans}"
        else:
            text += (
                ". By distance to the nearest training sample, the model is within 0.005 of knn_16 or "
                "better in every quintile"
            )
    return text
