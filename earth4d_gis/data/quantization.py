"""int8 embeddings: the two quantisation schemes in use, made explicit (never guessed)."""

from __future__ import annotations

import numpy as np

from ..errors import InputError

SCHEMES = ("linear127", "aef")
"""``linear127``: the original sample tensor, ``q / 127``. ``aef``: the official AlphaEarth
(Satellite Embedding V1) rasters, ``sign(q) * (q / 127.5) ** 2``, with -128 as nodata."""

AEF_NODATA = -128


def check_scheme(scheme: str) -> str:
    """Return ``scheme`` if it is a known quantisation, else raise ``InputError`` naming it."""
    if scheme not in SCHEMES:
        raise InputError(f"quantization {scheme!r} is not one of {', '.join(SCHEMES)}")
    return scheme


def dequantize(q: np.ndarray, scheme: str) -> np.ndarray:
    """int8 codes to float32. ``aef`` nodata (-128) becomes NaN; ``linear127`` maps -128 to about -1.008."""
    check_scheme(scheme)
    codes = np.asarray(q)
    if codes.dtype.kind not in "iu":
        raise InputError(f"dequantize expects integer codes, got {codes.dtype}")
    values = codes.astype(np.float32)
    if scheme == "linear127":
        return values / np.float32(127.0)
    out = np.sign(values) * np.square(values / np.float32(127.5))
    out[codes == AEF_NODATA] = np.nan
    return out


def quantize(values: np.ndarray, scheme: str) -> np.ndarray:
    """float values in [-1, 1] to int8 codes, the inverse of ``dequantize`` (NaN -> -128 for ``aef``)."""
    check_scheme(scheme)
    v = np.asarray(values, dtype=np.float64)
    if scheme == "linear127":
        if np.isnan(v).any():
            raise InputError("linear127 has no nodata code: the values contain NaN")
        return np.clip(np.rint(v * 127.0), -127, 127).astype(np.int8)
    filled = np.nan_to_num(v)
    codes = np.sign(filled) * np.rint(np.sqrt(np.abs(filled)) * 127.5)
    codes = np.clip(codes, -127, 127).astype(np.int8)
    codes[np.isnan(v)] = AEF_NODATA
    return codes
