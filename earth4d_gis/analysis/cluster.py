"""Unsupervised clustering of embeddings: k-means (mini-batch for large areas), k given or by silhouette.

The clusters are fitted on a random sample of the area's pixels (a model source predicts just those
pixels; a raster is read window by window), then every pixel gets its nearest centroid.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..conventions import EMBEDDING_BANDS, EMBEDDING_DIM
from ..errors import InputError
from ..files import check_output_path
from ..raster.cog import TILE
from .products import MAX_CLASSES, ClassKind
from .report import write_csv
from .source import EmbeddingSource, ModelSource, as_source
from .windows import AnalysisJob, Operation, base_tags, compute_arrays, write_outputs

if TYPE_CHECKING:
    import xarray

logger = logging.getLogger(__name__)

DEFAULT_SAMPLE = 20_000
MINI_BATCH_ABOVE = 2_000_000
"""Areas with more pixels than this are clustered with mini-batch k-means by default."""
SILHOUETTE_SAMPLE = 3_000


def sample_pixels(source: EmbeddingSource, n: int, seed: int = 0) -> np.ndarray:
    """Up to ``n`` valid embeddings drawn uniformly from the source's pixels (float32 ``[m, 64]``)."""
    rng = np.random.default_rng(seed)
    grid = source.grid
    if isinstance(source, ModelSource):
        count = min(n, grid.n_pixels)
        flat = rng.choice(grid.n_pixels, count, replace=False)
        rows, cols = np.divmod(flat, grid.width)
        x = grid.transform.c + (cols + 0.5) * grid.transform.a
        y = grid.transform.f + (rows + 0.5) * grid.transform.e
        values = source.at_points(x, y)
        return values[np.isfinite(values).all(axis=1)]
    share = min(1.0, n / max(1, grid.n_pixels))
    parts = []
    for window in grid.windows(TILE):
        stack = source.read(window).reshape(EMBEDDING_DIM, -1)
        valid = np.flatnonzero(np.isfinite(stack).all(axis=0))
        take = min(len(valid), math.ceil(share * stack.shape[1]))
        if take:
            parts.append(stack[:, rng.choice(valid, take, replace=False)].T)
    return np.concatenate(parts) if parts else np.zeros((0, EMBEDDING_DIM), np.float32)


@dataclass
class Clustering:
    """Fitted centroids, the silhouette score of each k tried, and the chosen k."""

    estimator: Any
    k: int
    silhouettes: dict[int, float] = field(default_factory=dict)
    sample_size: int = 0

    @property
    def centroids(self) -> np.ndarray:
        return np.asarray(self.estimator.cluster_centers_, dtype=np.float32)


def _kmeans(k: int, mini_batch: bool, seed: int) -> Any:
    from sklearn.cluster import KMeans, MiniBatchKMeans

    if mini_batch:
        return MiniBatchKMeans(n_clusters=k, random_state=seed, n_init=3, batch_size=4096)
    return KMeans(n_clusters=k, random_state=seed, n_init=4)


def fit_clusters(
    source: Any,
    *,
    k: int | None = None,
    k_range: tuple[int, int] = (2, 12),
    sample_size: int = DEFAULT_SAMPLE,
    mini_batch: bool | None = None,
    seed: int = 0,
) -> Clustering:
    """k-means on a pixel sample; without ``k``, the k in ``k_range`` with the best silhouette score."""
    from sklearn.metrics import silhouette_score

    src = as_source(source)
    if k is not None and not 2 <= int(k) <= MAX_CLASSES:
        raise InputError(f"k {k} is not between 2 and {MAX_CLASSES}")
    low, high = (int(v) for v in k_range)
    if k is None and not 2 <= low <= high <= MAX_CLASSES:
        raise InputError(f"k range {low}..{high} is not an increasing range within 2..{MAX_CLASSES}")
    if int(sample_size) < 10:
        raise InputError(f"sample size {sample_size} is too small")
    sample = sample_pixels(src, int(sample_size), seed)
    candidates = [int(k)] if k is not None else list(range(low, high + 1))
    if len(sample) <= max(candidates):
        raise InputError(
            f"the area has only {len(sample)} pixels with data, too few for {max(candidates)} clusters"
        )
    mini = src.grid.n_pixels > MINI_BATCH_ABOVE if mini_batch is None else bool(mini_batch)
    scores: dict[int, float] = {}
    best: Any = None
    for candidate in candidates:
        estimator = _kmeans(candidate, mini, seed).fit(sample)
        if len(candidates) > 1:
            labels = estimator.labels_
            if len(np.unique(labels)) < 2:
                continue
            scores[candidate] = float(
                silhouette_score(
                    sample, labels, sample_size=min(SILHOUETTE_SAMPLE, len(sample)), random_state=seed
                )
            )
            logger.info("k %d: silhouette %.3f", candidate, scores[candidate])
            if best is None or scores[candidate] > scores[best[0]]:
                best = (candidate, estimator)
        else:
            best = (candidate, estimator)
    if best is None:
        raise InputError("the area's embeddings are all alike; there is nothing to cluster")
    return Clustering(best[1], best[0], scores, len(sample))


class ClusterOperation(Operation):
    def __init__(self, clustering: Clustering) -> None:
        self.centroids = clustering.centroids
        self.squared = (self.centroids**2).sum(axis=1)
        self.kinds = (
            ClassKind(name="clusters", class_names=tuple(f"cluster {i + 1}" for i in range(clustering.k))),
        )

    def apply(self, embeddings: Sequence[np.ndarray]) -> tuple[np.ndarray, ...]:
        x = embeddings[0]
        distances = self.squared[None, :] - 2.0 * x @ self.centroids.T
        return (distances.argmin(axis=1).astype(np.uint8)[None],)


def cluster(source: Any, clustering: Clustering | None = None, **fit: Any) -> xarray.DataArray:
    """Cluster numbers per pixel of a small area, in memory (fits the clusters unless given)."""
    src = as_source(source)
    clustering = clustering or fit_clusters(src, **fit)
    array = compute_arrays(AnalysisJob((src,), ClusterOperation(clustering)))[0]
    array.attrs["silhouettes"] = dict(clustering.silhouettes)
    return array


def cluster_to_files(
    source: Any,
    out: str | os.PathLike[str],
    *,
    clustering: Clustering,
    centroids_out: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    **run: Any,
) -> tuple[Path, Path]:
    """Write the cluster COG and the centroids CSV (cluster, pixel share in the sample, A00..A63)."""
    src = as_source(source)
    job = AnalysisJob((src,), ClusterOperation(clustering))
    tags = {**base_tags(job, "cluster"), "k": str(clustering.k)}
    if clustering.silhouettes:
        tags["silhouettes"] = " ".join(f"{k}:{v:.4f}" for k, v in clustering.silhouettes.items())
    centroids_path = check_output_path(
        Path(centroids_out) if centroids_out else Path(out).with_suffix(".centroids.csv"), overwrite
    )
    raster = write_outputs(job, [Path(out)], tags=[tags], overwrite=overwrite, what="cluster", **run)[0]
    labels = np.asarray(clustering.estimator.labels_)
    shares = np.bincount(labels, minlength=clustering.k) / max(1, len(labels))
    rows = [
        [i + 1, f"{shares[i]:.6f}", *(f"{v:.6f}" for v in centre)]
        for i, centre in enumerate(clustering.centroids)
    ]
    header = ["cluster", "sample_share", *EMBEDDING_BANDS]
    return raster, write_csv(header, rows, centroids_path, overwrite=overwrite)
