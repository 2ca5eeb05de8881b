"""int8 embeddings: the two quantisation schemes in use, one implementation of each (never guessed).

- ``aef``: the official AlphaEarth rasters (Satellite Embedding V1): square-root companding,
  ``q = round(sign(v) * sqrt(|v|) * 127.5)`` clipped to [-127, 127], -128 is nodata; the inverse is
  ``sign(q) * (q / 127.5) ** 2``. Rasters (``--output int8``), official tiles read by the analyses and
  ``--quantization aef`` training files all go through ``quantize_int8`` / ``dequantize_int8``.
- ``linear127``: the original sample tensor, ``q = round(v * 127)``, decoded as ``q / 127``; it has no
  nodata code (-128 decodes to about -1.008).

Codes are computed in float64 whatever the input's dtype, so a value has one code however it was stored
(a float32 computation rounds a few values near the midpoint between two codes the other way).
"""

from __future__ import annotations

import numpy as np

from .errors import InputError

SCHEMES = ("linear127", "aef")
INT8_NODATA = -128
"""The official rasters' nodata code (``aef``)."""
AEF_SCALE = 127.5
LINEAR_SCALE = 127.0


def check_scheme(scheme: str) -> str:
    """Return ``scheme`` if it is a known quantisation, else raise ``InputError`` naming it."""
    if scheme not in SCHEMES:
        raise InputError(f"quantization {scheme!r} is not one of {', '.join(SCHEMES)}")
    return scheme


def quantize_int8(values: np.ndarray) -> np.ndarray:
    """Official (``aef``) int8 codes of float embeddings; non-finite values become the nodata code -128."""
    v = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(v)
    filled = np.where(finite, v, 0.0)
    codes = np.clip(np.rint(np.sign(filled) * np.sqrt(np.abs(filled)) * AEF_SCALE), -127, 127)
    out = codes.astype(np.int8)
    out[~finite] = INT8_NODATA
    return out


def dequantize_int8(codes: np.ndarray) -> np.ndarray:
    """Official (``aef``) int8 codes -> float32 values; the nodata code -128 becomes NaN."""
    raw = np.asarray(codes)
    q = raw.astype(np.float32)
    out = np.sign(q) * np.square(q / np.float32(AEF_SCALE))
    out[raw == INT8_NODATA] = np.nan
    return out


def quantize(values: np.ndarray, scheme: str) -> np.ndarray:
    """float values in [-1, 1] -> int8 codes in ``scheme``, the inverse of ``dequantize``."""
    if check_scheme(scheme) == "aef":
        return quantize_int8(values)
    v = np.asarray(values, dtype=np.float64)
    if np.isnan(v).any():
        raise InputError("linear127 has no nodata code: the values contain NaN")
    return np.clip(np.rint(v * LINEAR_SCALE), -127, 127).astype(np.int8)


def dequantize(codes: np.ndarray, scheme: str) -> np.ndarray:
    """int8 codes -> float32 in ``scheme``: ``aef`` nodata (-128) becomes NaN, ``linear127`` has none."""
    check_scheme(scheme)
    raw = np.asarray(codes)
    if raw.dtype.kind not in "iu":
        raise InputError(f"dequantize expects integer codes, got {raw.dtype}")
    if scheme == "aef":
        return dequantize_int8(raw)
    return raw.astype(np.float32) / np.float32(LINEAR_SCALE)
