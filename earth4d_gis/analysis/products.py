"""The rasters analyses write: classes (uint8 with names and colours), continuous values, masks.

Each is a ``raster.products.OutputKind`` (dtype, nodata, band descriptions, and the 2x2 reduction its
overviews are built with), so the raster package's COG writer builds them as it builds embeddings.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from ..raster.products import OutputKind, _blocks, _valid_mean

CLASS_NODATA = 255
MAX_CLASSES = 255
MASK_NODATA = 255


@dataclass(frozen=True)
class ClassKind(OutputKind):
    """One uint8 band of class numbers 0..K-1 (255 nodata); names and colours travel in the file."""

    name: str = "classes"
    dtype: str = "uint8"
    nodata: float = CLASS_NODATA
    descriptions: tuple[str, ...] = ("class",)
    class_names: tuple[str, ...] = ()

    def halve(self, block: np.ndarray) -> np.ndarray:
        """The most frequent valid class of each 2x2 block (ties: the first in row-major order)."""
        values = _blocks(block)[0]  # [h, 2, w, 2]
        candidates = np.stack(
            [values[:, 0, :, 0], values[:, 0, :, 1], values[:, 1, :, 0], values[:, 1, :, 1]]
        )
        valid = candidates != CLASS_NODATA
        counts = ((candidates[:, None] == candidates[None, :]) & valid[None, :]).sum(axis=1)
        counts[~valid] = -1
        best = np.take_along_axis(candidates, counts.argmax(axis=0)[None], axis=0)
        return best.astype(np.uint8)

    def colormap(self) -> dict[int, tuple[int, int, int, int]]:
        return {i: class_colour(i, len(self.class_names)) for i in range(len(self.class_names))}

    def tags(self) -> dict[str, str]:
        tags = {"class_names": json.dumps(list(self.class_names))}
        tags.update({f"class_{i}": name for i, name in enumerate(self.class_names)})
        return tags


@dataclass(frozen=True)
class ValueKind(OutputKind):
    """float32 bands (NaN nodata): confidence, regression, similarity, change; overviews are means."""

    name: str = "values"

    def halve(self, block: np.ndarray) -> np.ndarray:
        mean, any_valid = _valid_mean(block, np.isfinite(block[0]))
        mean[:, ~any_valid] = np.nan
        return mean


@dataclass(frozen=True)
class MaskKind(OutputKind):
    """One uint8 band: 1 where a condition holds, 0 where not, 255 nodata; overviews by majority (ties 1)."""

    name: str = "mask"
    dtype: str = "uint8"
    nodata: float = MASK_NODATA
    descriptions: tuple[str, ...] = ("mask",)

    def halve(self, block: np.ndarray) -> np.ndarray:
        valid = block != MASK_NODATA
        ones = _blocks(((block == 1) & valid).astype(np.int16)).sum(axis=(2, 4))
        n_valid = _blocks(valid.astype(np.int16)).sum(axis=(2, 4))
        out = np.where(2 * ones >= n_valid, 1, 0).astype(np.uint8)
        out[n_valid == 0] = MASK_NODATA
        return out


_PALETTE = (
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
    (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207), (174, 199, 232), (255, 187, 120),
    (152, 223, 138), (255, 152, 150), (197, 176, 213), (196, 156, 148), (247, 182, 210), (199, 199, 199),
    (219, 219, 141), (158, 218, 229),
)  # fmt: skip
"""matplotlib's tab20 (reordered so that the first ten are its strong colours)."""


def class_colour(index: int, n_classes: int) -> tuple[int, int, int, int]:
    """A distinct opaque RGBA colour for class ``index``; beyond 20 classes, evenly spaced hues."""
    if n_classes <= len(_PALETTE):
        return (*_PALETTE[index], 255)
    import colorsys

    r, g, b = colorsys.hsv_to_rgb((index * 0.618034) % 1.0, 0.65, 0.9)
    return (round(r * 255), round(g * 255), round(b * 255), 255)
