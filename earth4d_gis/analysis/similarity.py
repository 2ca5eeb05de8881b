"""Similarity search: how alike every pixel is to one or several seed places (points or polygons).

The seeds' embeddings (one per point, the pixels of a polygon) are reduced to one reference vector: their
mean re-normalised to unit length, or their medoid (the seed embedding most similar to all the others,
robust to an odd seed). The map is the cosine similarity to it; ``threshold`` adds a mask of the pixels
at least that similar.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import InputError
from ..raster.grid import WGS84, transformer
from .features import feature_embeddings, on_grid, read_features
from .products import MaskKind, ValueKind
from .source import EmbeddingSource, as_source
from .windows import AnalysisJob, Operation, base_tags, compute_arrays, sibling, write_outputs

if TYPE_CHECKING:
    import xarray

REDUCTIONS = ("mean", "medoid")


def _unit(rows: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(rows, axis=-1, keepdims=True)
    return rows / np.maximum(norms, 1e-12)


def reference_vector(embeddings: np.ndarray, reduce: str = "mean") -> np.ndarray:
    """One unit vector from seed embeddings ``[n, 64]``: normalised mean or medoid."""
    if reduce not in REDUCTIONS:
        raise InputError(f"reduction {reduce!r} is not one of {', '.join(REDUCTIONS)}")
    if len(embeddings) == 0:
        raise InputError("no seed has an embedding inside the area")
    unit = _unit(np.asarray(embeddings, dtype=np.float64))
    if reduce == "mean":
        mean = unit.mean(axis=0)
        if np.linalg.norm(mean) < 1e-9:
            raise InputError("the seeds' embeddings cancel out; their mean has no direction (try medoid)")
        return _unit(mean).astype(np.float32)
    if len(unit) > 4000:
        unit = unit[np.random.default_rng(0).choice(len(unit), 4000, replace=False)]
    return unit[(unit @ unit.T).sum(axis=1).argmax()].astype(np.float32)


def seed_embeddings(
    source: EmbeddingSource, points: Sequence[Sequence[float]] = (), seeds: Any = None
) -> np.ndarray:
    """Embeddings of seed points ``(lat, lon)`` and of the features of a seeds file/GeoDataFrame."""
    parts = []
    if points:
        try:
            lat, lon = (np.array([float(p[i]) for p in points]) for i in (0, 1))
        except (TypeError, ValueError, IndexError):
            raise InputError(f"seed points {list(points)!r} are not pairs of numbers LAT LON") from None
        x, y = transformer(WGS84, source.grid.crs).transform(lon, lat, errcheck=False)
        values = source.at_points(np.asarray(x), np.asarray(y))
        outside = ~np.isfinite(values).all(axis=1)
        if outside.any():
            first = int(np.flatnonzero(outside)[0])
            raise InputError(f"seed point {lat[first]:g} {lon[first]:g} lies outside the area or on nodata")
        parts.append(values)
    if seeds is not None:
        frame = on_grid(read_features(seeds, "seeds"), source, "seeds")
        values, _ = feature_embeddings(source, frame.reset_index(drop=True))
        parts.append(values)
    if not parts:
        raise InputError("give at least one seed: a point LAT LON or a file of points or polygons")
    return np.concatenate(parts)


class SimilarityOperation(Operation):
    def __init__(self, reference: np.ndarray, threshold: float | None) -> None:
        self.reference = np.asarray(reference, dtype=np.float32)
        self.threshold = threshold
        kinds: list[Any] = [ValueKind(name="similarity", descriptions=("cosine_similarity",))]
        if threshold is not None:
            kinds.append(
                MaskKind(name="similarity mask", descriptions=(f"similarity_at_least_{threshold:g}",))
            )
        self.kinds = tuple(kinds)

    def apply(self, embeddings: Sequence[np.ndarray]) -> tuple[np.ndarray, ...]:
        x = embeddings[0]
        norms = np.sqrt(np.einsum("ij,ij->i", x, x))
        similarity = ((x @ self.reference) / np.maximum(norms, 1e-12)).astype(np.float32)
        if self.threshold is None:
            return (similarity[None],)
        return similarity[None], (similarity >= self.threshold).astype(np.uint8)[None]


def check_threshold(threshold: float | None) -> float | None:
    if threshold is not None and not (math.isfinite(threshold) and -1.0 <= threshold <= 1.0):
        raise InputError(f"threshold {threshold} is not a cosine similarity between -1 and 1")
    return threshold


def similarity_job(
    source: Any,
    *,
    points: Sequence[Sequence[float]] = (),
    seeds: Any = None,
    reduce: str = "mean",
    threshold: float | None = None,
) -> tuple[AnalysisJob, np.ndarray, int]:
    """The job, its reference vector and the number of seed embeddings it was made from."""
    src = as_source(source)
    check_threshold(threshold)
    if reduce not in REDUCTIONS:
        raise InputError(f"reduction {reduce!r} is not one of {', '.join(REDUCTIONS)}")
    embeddings = seed_embeddings(src, points, seeds)
    reference = reference_vector(embeddings, reduce)
    return AnalysisJob((src,), SimilarityOperation(reference, threshold)), reference, len(embeddings)


def similarity(source: Any, **options: Any) -> list[xarray.DataArray]:
    """The similarity map (and the mask when ``threshold`` is given) of a small area, in memory."""
    job, _, _ = similarity_job(source, **options)
    return compute_arrays(job)


def similarity_to_files(
    source: Any,
    out: str | os.PathLike[str],
    *,
    points: Sequence[Sequence[float]] = (),
    seeds: Any = None,
    reduce: str = "mean",
    threshold: float | None = None,
    mask_out: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    **run: Any,
) -> list[Path]:
    """Write the similarity COG and, with ``threshold``, the mask COG beside it (``<name>.mask.tif``)."""
    job, _, n_seeds = similarity_job(source, points=points, seeds=seeds, reduce=reduce, threshold=threshold)
    tags = {**base_tags(job, "similarity"), "reduce": reduce, "seed_embeddings": str(n_seeds)}
    if len(points) == 1:
        tags["reference_point"] = f"{float(points[0][0])} {float(points[0][1])}"
    elif points:
        tags["reference_points"] = "; ".join(f"{float(p[0])} {float(p[1])}" for p in points)
    if threshold is not None:
        tags["threshold"] = f"{threshold:g}"
    outputs = [Path(out)]
    if threshold is not None:
        outputs.append(Path(mask_out) if mask_out else sibling(out, "mask"))
    return write_outputs(
        job, outputs, tags=[tags] * len(outputs), overwrite=overwrite, what="similarity", **run
    )
