"""The official AlphaEarth int8 quantisation (Satellite Embedding V1): square-root companding.

``q = round(sign(v) * sqrt(|v|) * 127.5)`` clipped to [-127, 127]; -128 is nodata; the inverse is
``sign(q) * (q / 127.5) ** 2``.
"""

from __future__ import annotations

import numpy as np

INT8_NODATA = -128
_SCALE = 127.5


def quantize_int8(values: np.ndarray) -> np.ndarray:
    """float embeddings -> int8 codes; non-finite values become the nodata code -128."""
    v = np.asarray(values, dtype=np.float32)
    finite = np.isfinite(v)
    out = np.full(v.shape, INT8_NODATA, dtype=np.int8)
    f = v[finite]
    out[finite] = np.clip(np.rint(np.sign(f) * np.sqrt(np.abs(f)) * np.float32(_SCALE)), -127, 127)
    return out


def dequantize_int8(codes: np.ndarray) -> np.ndarray:
    """int8 codes -> float32 embeddings; the nodata code -128 becomes NaN."""
    q = np.asarray(codes).astype(np.float32)
    out = np.sign(q) * np.square(q / np.float32(_SCALE))
    out[np.asarray(codes) == INT8_NODATA] = np.nan
    return out
