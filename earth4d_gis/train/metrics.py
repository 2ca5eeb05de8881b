"""Accuracy measures for predicted embeddings, computed the same way for the model and every baseline.

MAPE is the original pipeline's figure, mean(|pred - target|) / 2 * 100: a mean absolute error
normalised by the [-1, 1] range, not a percentage error. Mean cosine similarity and the per-dimension
R^2 say more about a 64-D unit-vector field, so all three are reported side by side.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

_EPS = 1e-12


def _as_float64(values: np.ndarray | torch.Tensor) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().to("cpu", torch.float64).numpy()
    return np.asarray(values, dtype=np.float64)


def mape(pred: np.ndarray | torch.Tensor, target: np.ndarray | torch.Tensor) -> float:
    """The original's "MAPE": mean absolute error over all elements, divided by the range 2, in percent."""
    p, t = _as_float64(pred), _as_float64(target)
    return float(np.mean(np.abs(p - t)) / 2.0 * 100.0)


def cosine_per_sample(pred: np.ndarray | torch.Tensor, target: np.ndarray | torch.Tensor) -> np.ndarray:
    """Cosine similarity of each predicted row with its target row (0 where either row is all zeros)."""
    p, t = _as_float64(pred), _as_float64(target)
    norms = np.linalg.norm(p, axis=1) * np.linalg.norm(t, axis=1)
    dots = np.einsum("ij,ij->i", p, t)
    return np.where(norms > _EPS, dots / np.maximum(norms, _EPS), 0.0)


def mean_cosine(pred: np.ndarray | torch.Tensor, target: np.ndarray | torch.Tensor) -> float:
    """Mean cosine similarity between predicted and target rows."""
    return float(np.mean(cosine_per_sample(pred, target)))


def r2_per_dimension(pred: np.ndarray | torch.Tensor, target: np.ndarray | torch.Tensor) -> np.ndarray:
    """Coefficient of determination of each embedding dimension (target mean taken over these rows)."""
    p, t = _as_float64(pred), _as_float64(target)
    ss_res = np.sum((t - p) ** 2, axis=0)
    ss_tot = np.sum((t - t.mean(axis=0)) ** 2, axis=0)
    return 1.0 - ss_res / np.maximum(ss_tot, _EPS)


def evaluate(pred: np.ndarray | torch.Tensor, target: np.ndarray | torch.Tensor) -> dict[str, Any]:
    """MAPE, MSE, mean cosine, and R^2 (mean and per dimension) of ``pred`` against ``target``."""
    p, t = _as_float64(pred), _as_float64(target)
    if p.shape != t.shape:
        raise ValueError(f"prediction shape {p.shape} differs from target shape {t.shape}")
    r2 = r2_per_dimension(p, t)
    return {
        "mape": mape(p, t),
        "mse": float(np.mean((p - t) ** 2)),
        "cosine": mean_cosine(p, t),
        "r2_mean": float(np.mean(r2)),
        "r2_per_dim": [float(v) for v in r2],
        "n": int(t.shape[0]),
    }


def summary(metrics: dict[str, Any]) -> str:
    """One short line: MAPE, cosine, mean R^2."""
    return f"MAPE {metrics['mape']:.3f}%  cos {metrics['cosine']:.4f}  R2 {metrics['r2_mean']:.4f}"
