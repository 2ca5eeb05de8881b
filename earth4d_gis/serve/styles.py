"""How a tile of unit-length embeddings becomes colours: RGB, official bands, similarity, change.

Every style turns float32 embeddings ``[h, w, 64]`` (pixel-major, as the model predicts them; NaN where
there is no prediction) into uint8 bands
``[count, h, w]`` plus a validity mask, and optionally a colour map for one-band styles. The ``rgb`` style is
the model's own RGB projection through ``RGBOutput``, the same code ``rasterize --output rgb`` runs, so a tile
and a raster of the same grid have the same colours.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from rio_tiler.colormap import cmap

from ..errors import InputError
from ..projection import RGBProjection
from ..raster.products import RGBOutput

STYLES = ("rgb", "bands")
"""Styles of a plain tile; similarity and change have their own endpoints."""
OFFICIAL_BANDS = (1, 16, 9)
"""A01, A16, A09: the bands of the official AlphaEarth visualisation, as red, green and blue."""
OFFICIAL_STRETCH = 0.3
"""Those bands are shown from -0.3 (0) to +0.3 (255)."""
SIMILARITY_COLORMAP = "viridis"
CHANGE_COLORMAP = "inferno"
SIMILARITY_RANGE = (0.0, 1.0)
CHANGE_RANGE = (0.0, 1.0)


@dataclass(frozen=True)
class Rendered:
    """Colours of one tile: uint8 ``data [count, h, w]``, ``valid [h, w]``, and a colour map if one band."""

    data: np.ndarray
    valid: np.ndarray
    colormap: dict[int, tuple[int, int, int, int]] | None = None


def _flat(embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``[h, w, 64]`` -> rows ``[h*w, 64]`` (a view) and the flat validity mask."""
    rows = embeddings.reshape(-1, embeddings.shape[-1])
    return rows, np.isfinite(rows).all(axis=1)


def rgb_style(embeddings: np.ndarray, projection: RGBProjection | None) -> Rendered:
    """The model's RGB projection (``rasterize --output rgb``'s colours)."""
    if projection is None:
        raise InputError("this model has no RGB projection; use style=bands")
    height, width, _ = embeddings.shape
    rows, valid = _flat(embeddings)
    data = np.zeros((3, rows.shape[0]), dtype=np.uint8)
    if valid.all():
        data[:] = RGBOutput(projection=projection).encode(rows)
    elif valid.any():
        data[:, valid] = RGBOutput(projection=projection).encode(rows[valid])
    return Rendered(data.reshape(3, height, width), valid.reshape(height, width))


def bands_style(embeddings: np.ndarray) -> Rendered:
    """A01/A16/A09 as red/green/blue, stretched linearly from -0.3 to +0.3."""
    picked = np.moveaxis(embeddings[..., list(OFFICIAL_BANDS)], -1, 0)
    valid = np.isfinite(picked).all(axis=0)
    scaled = (np.nan_to_num(picked, nan=-OFFICIAL_STRETCH) + OFFICIAL_STRETCH) / (2 * OFFICIAL_STRETCH)
    data = np.round(np.clip(scaled, 0.0, 1.0) * 255.0).astype(np.uint8)
    return Rendered(data, valid)


def scalar_style(values: np.ndarray, value_range: tuple[float, float], colormap: str) -> Rendered:
    """One float band ``[h, w]`` through a rio-tiler colour map, ``value_range`` stretched over 0..255."""
    low, high = value_range
    valid = np.isfinite(values)
    scaled = (np.nan_to_num(values, nan=low) - low) / (high - low)
    data = np.round(np.clip(scaled, 0.0, 1.0) * 255.0).astype(np.uint8)[None]
    return Rendered(data, valid, cmap.get(colormap))


def cosine(embeddings: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Cosine similarity ``[h, w]`` of unit embeddings ``[h, w, 64]`` to a reference (NaN stays NaN)."""
    ref = np.asarray(reference, dtype=np.float32)
    ref = ref / max(float(np.linalg.norm(ref)), 1e-12)
    return embeddings @ ref


def similarity_style(embeddings: np.ndarray, reference: np.ndarray) -> Rendered:
    """Cosine similarity to the reference embedding, 0..1 on viridis (below 0 shows as 0)."""
    return scalar_style(cosine(embeddings, reference), SIMILARITY_RANGE, SIMILARITY_COLORMAP)


def change_style(before: np.ndarray, after: np.ndarray) -> Rendered:
    """How much each pixel changed between two dates: 1 - cosine, 0..1 on inferno."""
    change = 1.0 - np.einsum("ijb,ijb->ij", before, after)
    return scalar_style(change, CHANGE_RANGE, CHANGE_COLORMAP)


def check_style(style: str) -> str:
    """``style`` if it is one of ``STYLES``; ``InputError`` naming it otherwise."""
    if style not in STYLES:
        raise InputError(f"style {style!r} is not one of {', '.join(STYLES)}")
    return style
