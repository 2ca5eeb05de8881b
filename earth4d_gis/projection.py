"""A fixed 64 -> 3 colour projection, fitted once on ground truth and stored in the model.

Every map the project draws (training visualisations, RGB GeoTIFFs, the QGIS layers) uses the same
projection, so the same place has the same colour everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

_LOW_PERCENTILE, _HIGH_PERCENTILE = 2.0, 98.0


@dataclass(frozen=True)
class RGBProjection:
    """PCA onto the first three components, each stretched between its 2nd and 98th percentile."""

    mean: np.ndarray  # [64]
    components: np.ndarray  # [3, 64]
    low: np.ndarray  # [3]
    high: np.ndarray  # [3]

    @classmethod
    def fit(cls, embeddings: np.ndarray, max_samples: int = 200_000, seed: int = 0) -> RGBProjection:
        """Fit on ground-truth embeddings ``[N, 64]`` (a random subset of at most ``max_samples`` rows)."""
        emb = np.asarray(embeddings, dtype=np.float64)
        emb = emb[np.isfinite(emb).all(axis=1)]
        if emb.shape[0] < 3:
            raise ValueError("an RGB projection needs at least 3 finite embeddings")
        if emb.shape[0] > max_samples:
            emb = emb[np.random.default_rng(seed).choice(emb.shape[0], max_samples, replace=False)]
        mean = emb.mean(axis=0)
        _, _, vt = np.linalg.svd(emb - mean, full_matrices=False)
        components = vt[:3]
        # Make the sign of each component deterministic: its largest loading is positive.
        signs = np.sign(components[np.arange(3), np.abs(components).argmax(axis=1)])
        components = components * signs[:, None]
        projected = (emb - mean) @ components.T
        low = np.percentile(projected, _LOW_PERCENTILE, axis=0)
        high = np.percentile(projected, _HIGH_PERCENTILE, axis=0)
        high = np.where(high - low > 1e-12, high, low + 1e-12)
        return cls(
            mean.astype(np.float32),
            components.astype(np.float32),
            low.astype(np.float32),
            high.astype(np.float32),
        )

    def to_unit_rgb(self, embeddings: np.ndarray | torch.Tensor) -> np.ndarray:
        """``[N, 64]`` -> float32 ``[N, 3]`` in [0, 1]; NaN rows stay NaN."""
        if isinstance(embeddings, torch.Tensor):
            embeddings = embeddings.detach().cpu().numpy()
        emb = np.asarray(embeddings, dtype=np.float32)
        projected = (emb - self.mean) @ self.components.T
        return np.clip((projected - self.low) / (self.high - self.low), 0.0, 1.0)

    def to_rgb(self, embeddings: np.ndarray | torch.Tensor) -> np.ndarray:
        """``[N, 64]`` -> uint8 ``[N, 3]`` (NaN rows become 0)."""
        unit = np.nan_to_num(self.to_unit_rgb(embeddings), nan=0.0)
        return np.round(unit * 255.0).astype(np.uint8)

    def to_dict(self) -> dict[str, Any]:
        return {
            name: torch.from_numpy(np.ascontiguousarray(getattr(self, name)))
            for name in ("mean", "components", "low", "high")
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RGBProjection:
        def arr(value: Any) -> np.ndarray:
            return value.numpy() if isinstance(value, torch.Tensor) else np.asarray(value, dtype=np.float32)

        return cls(arr(d["mean"]), arr(d["components"]), arr(d["low"]), arr(d["high"]))
