"""WGS84 -> ECEF, coordinate validation, time parsing and the encoder's [0, 1] coordinates."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from pyproj import Transformer

from earth4d_gis.errors import InputError
from earth4d_gis.geodesy import (
    TimeSpan,
    ecef_to_unit,
    geodetic_to_ecef,
    normalized_coordinates,
    parse_time,
    parse_times,
    validate_coordinates,
    wrap_longitude,
)


def test_ecef_matches_pyproj() -> None:
    rng = np.random.default_rng(0)
    lat = np.concatenate([rng.uniform(-90, 90, 200), [90.0, -90.0, 0.0]])
    lon = np.concatenate([rng.uniform(-180, 180, 200), [0.0, 45.0, 180.0]])
    h = np.concatenate([rng.uniform(-500, 9000, 200), [0.0, 100.0, -500.0]])
    ours = geodetic_to_ecef(lat, lon, h)
    to_ecef = Transformer.from_crs("EPSG:4979", "EPSG:4978", always_xy=True)
    x, y, z = to_ecef.transform(lon, lat, h)
    np.testing.assert_allclose(ours, np.stack([x, y, z], axis=1), atol=1e-6, rtol=0)


def test_ecef_known_points() -> None:
    np.testing.assert_allclose(geodetic_to_ecef(0.0, 0.0, 0.0), [[6378137.0, 0.0, 0.0]], atol=1e-9)
    north = geodetic_to_ecef(90.0, 0.0, 0.0)[0]
    assert north[2] == pytest.approx(6356752.314245, abs=1e-6)
    assert abs(north[0]) < 1e-6


def test_longitude_wraps() -> None:
    np.testing.assert_allclose(
        wrap_longitude([180.0, -180.0, 540.0, -190.0, 359.0]), [-180, -180, -180, 170, -1]
    )
    np.testing.assert_allclose(
        geodetic_to_ecef(10.0, 190.0, 5.0), geodetic_to_ecef(10.0, -170.0, 5.0), atol=1e-6
    )


@pytest.mark.parametrize(
    ("lat", "lon", "elev", "message"),
    [
        ([0.0, 91.5], [0.0, 0.0], [0.0, 0.0], "latitude 91.5 at row 1 is outside [-90, 90]"),
        ([0.0, -90.001], [0.0, 0.0], [0.0, 0.0], "latitude -90.001 at row 1"),
        ([0.0, float("nan")], [0.0, 0.0], [0.0, 0.0], "latitude nan at row 1 is not a finite number"),
        (
            [0.0, 1.0, 2.0],
            [0.0, float("inf"), 0.0],
            [0.0] * 3,
            "longitude inf at row 1 is not a finite number",
        ),
        ([0.0], [0.0], [float("-inf")], "elevation -inf at row 0 is not a finite number"),
    ],
)
def test_bad_coordinates_name_value_and_row(lat: list, lon: list, elev: list, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        validate_coordinates(lat, lon, elev)


def test_mismatched_lengths() -> None:
    with pytest.raises(InputError, match="different lengths"):
        validate_coordinates([0.0, 1.0], [0.0, 1.0, 2.0], [0.0])


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2020", "2020-01-01T00:00:00"),
        ("2020-07", "2020-07-01T00:00:00"),
        ("2020-07-15", "2020-07-15T00:00:00"),
        ("2020-07-15T12:30:00", "2020-07-15T12:30:00"),
        ("2020-07-15T12:30:00+02:00", "2020-07-15T10:30:00"),
        ("2020-07-15T12:30:00Z", "2020-07-15T12:30:00"),
        (dt.datetime(2020, 7, 15, 6), "2020-07-15T06:00:00"),
        (dt.date(2020, 7, 15), "2020-07-15T00:00:00"),
        (np.datetime64("2020-07-15T06:00"), "2020-07-15T06:00:00"),
        (2020.5, "2020-07-02T00:00:00"),
        (2021, "2021-01-01T00:00:00"),
    ],
)
def test_parse_time(value: object, expected: str) -> None:
    assert parse_time(value) == np.datetime64(expected)


@pytest.mark.parametrize("value", ["yesterday", "2020-13-01", "", None, float("nan"), np.datetime64("NaT")])
def test_parse_time_rejects(value: object) -> None:
    with pytest.raises(InputError, match="date"):
        parse_time(value)


def test_parse_times_names_bad_row() -> None:
    with pytest.raises(InputError, match="row 2"):
        parse_times(["2020-01-01", "2021-05-05", "not a date"])
    with pytest.raises(InputError, match="row 1"):
        parse_times(np.array([2020.0, np.nan]))
    out = parse_times(["2020-01-01", dt.date(2021, 1, 1)])
    assert out.dtype == np.dtype("datetime64[s]") and out[1] == np.datetime64("2021-01-01")


def test_time_span_unit_round_trip() -> None:
    span = TimeSpan()
    unit = span.to_unit(["1900-01-01", "2000-01-01", "2100-01-01"])
    assert unit[0] == 0.0 and unit[2] == 1.0
    assert unit[1] == pytest.approx(36524 / 73049)
    assert span.from_unit(unit)[1] == np.datetime64("2000-01-01")
    with pytest.raises(InputError, match="outside the model's time span"):
        span.to_unit("2150-01-01")
    with pytest.raises(InputError, match="is not after its start"):
        TimeSpan("2000-01-01", "1999-01-01")
    assert TimeSpan.from_dict(TimeSpan("2017", "2025").to_dict()) == TimeSpan("2017", "2025")


def test_normalized_coordinates() -> None:
    coords = normalized_coordinates(
        [0.0, 90.0, -90.0], [0.0, 180.0, -180.0], [0.0, 9000.0, -500.0], "2000-01-01"
    )
    assert coords.dtype == np.float64 and coords.shape == (3, 4)
    assert ((coords >= 0.0) & (coords <= 1.0)).all()
    assert coords[0, 0] == pytest.approx((6378137.0 / 6.4e6 + 1) / 2)
    assert coords[1, 2] > 0.99 and coords[2, 2] < 0.01
    np.testing.assert_allclose(ecef_to_unit(np.zeros((1, 3))), [[0.5, 0.5, 0.5]])
    with pytest.raises(InputError, match="3 points"):
        normalized_coordinates([0.0, 1.0, 2.0], [0.0] * 3, [0.0] * 3, ["2000", "2001"])
