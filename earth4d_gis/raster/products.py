"""What a raster holds: embeddings, RGB, int8 or similarity bands, and how each becomes an overview.

Each kind turns unit-length embeddings ``[N, 64]`` into its bands, knows its dtype, nodata and band
descriptions, and halves a block of its own pixels for an overview level. Embedding overviews are the
2x2 mean re-normalised to unit length (GDAL's resamplers cannot do that), as the official product's are.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..conventions import EMBEDDING_BANDS, RGB_BANDS
from ..errors import InputError
from ..projection import RGBProjection
from ..quantization import INT8_NODATA, dequantize_int8, quantize_int8

OUTPUT_KINDS = ("embeddings", "rgb", "int8", "similarity")


def _blocks(values: np.ndarray) -> np.ndarray:
    """[bands, 2h, 2w] -> [bands, h, 2, w, 2] view for 2x2 reductions."""
    bands, rows, cols = values.shape
    return values.reshape(bands, rows // 2, 2, cols // 2, 2)


def _unit_mean(values: np.ndarray) -> np.ndarray:
    """2x2 mean of finite vectors re-normalised to unit length; NaN where all four are nodata."""
    valid = np.isfinite(values[0])
    summed = _blocks(np.where(valid, values, np.float32(0.0))).sum(axis=(2, 4), dtype=np.float32)
    norm = np.sqrt(np.einsum("bij,bij->ij", summed, summed))
    with np.errstate(invalid="ignore", divide="ignore"):
        out = summed / norm
    out[:, norm == 0.0] = np.nan
    return out


def _valid_mean(values: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """2x2 mean over valid pixels, float32, and the mask of output pixels with any valid input."""
    weights = _blocks(valid[None].astype(np.float32)).sum(axis=(2, 4))
    summed = _blocks(np.where(valid, values, 0).astype(np.float32)).sum(axis=(2, 4))
    with np.errstate(invalid="ignore", divide="ignore"):
        return summed / weights, weights[0] > 0


@dataclass(frozen=True)
class OutputKind:
    """Base class for one kind of output raster."""

    name: str = ""
    dtype: str = "float32"
    nodata: float = float("nan")
    descriptions: tuple[str, ...] = ()

    @property
    def count(self) -> int:
        return len(self.descriptions)

    def empty(self, height: int, width: int) -> np.ndarray:
        """An all-nodata block ``[count, height, width]``."""
        return np.full((self.count, height, width), self.nodata, dtype=self.dtype)

    def encode(self, embeddings: np.ndarray) -> np.ndarray:
        """Unit-length float32 ``[N, 64]`` -> ``[count, N]`` in this kind's dtype."""
        raise NotImplementedError

    def halve(self, block: np.ndarray) -> np.ndarray:
        """``[count, 2h, 2w]`` of this kind (nodata-padded to even size) -> ``[count, h, w]``."""
        raise NotImplementedError


@dataclass(frozen=True)
class EmbeddingsOutput(OutputKind):
    """64 float32 bands A00..A63, NaN nodata."""

    name: str = "embeddings"
    descriptions: tuple[str, ...] = EMBEDDING_BANDS

    def encode(self, embeddings: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(embeddings.T, dtype=np.float32)

    def halve(self, block: np.ndarray) -> np.ndarray:
        return _unit_mean(block)


@dataclass(frozen=True)
class Int8Output(OutputKind):
    """64 int8 bands A00..A63 in the official quantisation, nodata -128."""

    name: str = "int8"
    dtype: str = "int8"
    nodata: float = INT8_NODATA
    descriptions: tuple[str, ...] = EMBEDDING_BANDS

    def encode(self, embeddings: np.ndarray) -> np.ndarray:
        return quantize_int8(embeddings.T)

    def halve(self, block: np.ndarray) -> np.ndarray:
        return quantize_int8(_unit_mean(dequantize_int8(block)))


@dataclass(frozen=True)
class RGBOutput(OutputKind):
    """3 uint8 bands through the model's RGB projection; 0 is nodata, so valid values are 1..255."""

    name: str = "rgb"
    dtype: str = "uint8"
    nodata: float = 0
    descriptions: tuple[str, ...] = RGB_BANDS
    projection: RGBProjection | None = None

    def encode(self, embeddings: np.ndarray) -> np.ndarray:
        if self.projection is None:
            raise InputError("this model has no RGB projection; use output='embeddings' or output='int8'")
        rgb = self.projection.to_rgb(embeddings)
        np.maximum(rgb, 1, out=rgb)
        return np.ascontiguousarray(rgb.T)

    def halve(self, block: np.ndarray) -> np.ndarray:
        valid = (block != 0).all(axis=0)
        mean, any_valid = _valid_mean(block, valid)
        out = np.clip(np.rint(np.where(any_valid, mean, 0.0)), 0, 255).astype(np.uint8)
        out[:, any_valid] = np.maximum(out[:, any_valid], 1)
        return out


@dataclass(frozen=True)
class SimilarityOutput(OutputKind):
    """1 float32 band: cosine similarity to a reference embedding, NaN nodata."""

    name: str = "similarity"
    descriptions: tuple[str, ...] = ("cosine_similarity",)
    reference: np.ndarray | None = None

    def encode(self, embeddings: np.ndarray) -> np.ndarray:
        if self.reference is None:
            raise InputError("a similarity map needs a reference point")
        ref = np.asarray(self.reference, dtype=np.float32)
        ref = ref / max(float(np.linalg.norm(ref)), 1e-12)
        return (embeddings @ ref).astype(np.float32)[None]

    def halve(self, block: np.ndarray) -> np.ndarray:
        mean, any_valid = _valid_mean(block, np.isfinite(block[0]))
        mean[:, ~any_valid] = np.nan
        return mean


def output_kind(
    name: str, *, projection: RGBProjection | None = None, reference: np.ndarray | None = None
) -> OutputKind:
    """The output kind called ``name``; raises ``InputError`` for an unknown one."""
    if name == "embeddings":
        return EmbeddingsOutput()
    if name == "int8":
        return Int8Output()
    if name == "rgb":
        if projection is None:
            raise InputError("this model has no RGB projection; use output='embeddings' or output='int8'")
        return RGBOutput(projection=projection)
    if name == "similarity":
        if reference is None:
            raise InputError("a similarity map needs a reference point")
        return SimilarityOutput(reference=np.asarray(reference, dtype=np.float32))
    raise InputError(f"output {name!r} is not one of {', '.join(OUTPUT_KINDS)}")
