"""The one int8 quantisation module: every code, a dense sweep of floats, and the official formula exactly."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from earth4d_gis.errors import InputError
from earth4d_gis.quantization import (
    INT8_NODATA,
    dequantize,
    dequantize_int8,
    quantize,
    quantize_int8,
)

ALL_CODES = np.arange(-128, 128, dtype=np.int16).astype(np.int8)


def _exact_official_code(value: float) -> int:
    """``round(sign(v) * sqrt(|v|) * 127.5)`` clipped to [-127, 127], decided in exact rational arithmetic.

    |q| = k is the integer with (k - 1/2)^2 <= |v| * 127.5^2 < (k + 1/2)^2; a value exactly on a midpoint
    goes to the even k, as numpy's rint does.
    """
    target = Fraction(abs(value)) * Fraction(255, 2) ** 2
    k = 0
    while k < 127 and (Fraction(2 * k + 1, 2)) ** 2 <= target:
        k += 1
    if k > 0 and Fraction(2 * k - 1, 2) ** 2 == target and k % 2 == 1:
        k -= 1
    return int(np.sign(value)) * k


def test_every_code_round_trips_and_decodes_as_the_official_formula() -> None:
    values = dequantize_int8(ALL_CODES)
    assert np.isnan(values[0]) and not np.isnan(values[1:]).any()
    q = ALL_CODES[1:].astype(np.float64)
    np.testing.assert_allclose(values[1:], np.sign(q) * (q / 127.5) ** 2, rtol=1e-6, atol=0)
    assert np.all(np.diff(values[1:]) > 0), "decoded values rise strictly with the code"
    np.testing.assert_array_equal(quantize_int8(values), ALL_CODES)
    np.testing.assert_array_equal(quantize(dequantize(ALL_CODES, "aef"), "aef"), ALL_CODES)
    linear = dequantize(ALL_CODES, "linear127")
    np.testing.assert_array_equal(quantize(linear[1:], "linear127"), ALL_CODES[1:])
    assert linear[0] == pytest.approx(-128 / 127)


def test_dense_sweep_agrees_with_the_formula_and_round_trips_within_half_a_step() -> None:
    values = np.linspace(-1.0, 1.0, 2_000_001, dtype=np.float64).astype(np.float32)
    codes = quantize_int8(values)
    exact = values.astype(np.float64)
    expected = np.clip(np.rint(np.sign(exact) * np.sqrt(np.abs(exact)) * 127.5), -127, 127)
    np.testing.assert_array_equal(codes, expected.astype(np.int8))
    assert np.all(np.diff(codes.astype(np.int16)) >= 0), "codes never fall as the value rises"
    assert set(np.unique(codes)) == set(range(-127, 128)), "the sweep reaches every valid code"
    # Round trip: in the companded domain sqrt(|v|) * 127.5 the decoded value is within half a code.
    back = dequantize_int8(codes).astype(np.float64)
    companded = np.sqrt(np.abs(values.astype(np.float64))) * 127.5
    assert np.abs(np.sqrt(np.abs(back)) * 127.5 - companded).max() <= 0.5 + 1e-5  # float32 decoding
    assert np.all((np.sign(back) == np.sign(values)) | (codes == 0))


def test_values_next_to_every_midpoint_get_the_exactly_rounded_code() -> None:
    """float32 and float64 arithmetic disagree only next to midpoints: check those against exact rationals."""
    k = np.arange(0, 128, dtype=np.float64)
    midpoints = ((k + 0.5) / 127.5) ** 2
    near = [midpoints.astype(np.float32)]
    for _ in range(3):
        near.append(np.nextafter(near[-1], np.float32(2)))
    for _ in range(3):
        near.insert(0, np.nextafter(near[0], np.float32(-2)))
    values = np.concatenate(near)
    values = values[(values >= 0) & (values <= 1)]
    values = np.concatenate([values, -values])
    codes = quantize_int8(values)
    exact = np.array([_exact_official_code(float(v)) for v in values])
    np.testing.assert_array_equal(codes.astype(np.int64), exact)


def test_float32_and_float64_inputs_give_the_same_codes() -> None:
    rng = np.random.default_rng(7)
    values = rng.uniform(-1, 1, 200_000).astype(np.float32)
    np.testing.assert_array_equal(quantize_int8(values), quantize_int8(values.astype(np.float64)))


def test_nodata_and_the_linear_scheme_refusing_nan() -> None:
    codes = quantize_int8(np.array([np.nan, np.inf, -np.inf, 0.5], dtype=np.float32))
    assert codes.tolist() == [INT8_NODATA, INT8_NODATA, INT8_NODATA, 90]
    with pytest.raises(InputError, match="linear127 has no nodata"):
        quantize(np.array([np.nan]), "linear127")
    with pytest.raises(InputError, match="'int4' is not one of"):
        quantize(np.zeros(3), "int4")
    with pytest.raises(InputError, match="integer codes"):
        dequantize(np.zeros(3, dtype=np.float32), "aef")
