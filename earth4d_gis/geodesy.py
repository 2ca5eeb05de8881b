"""Geodesy and time: the one place where (lat, lon, elevation, time) become encoder coordinates.

Everything here is float64: the finest encoder levels resolve centimetres on a 12,800 km axis,
which needs about 1e-9 relative precision.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import InputError

WGS84_A = 6378137.0
WGS84_F = 1.0 / 298.257223563
WGS84_E2 = WGS84_F * (2.0 - WGS84_F)
ECEF_SCALE = 6.4e6
"""ECEF metres are divided by this so each axis lies in about [-1, 1]."""

_SECONDS_PER_DAY = 86400.0


def _as_float64(values: Any) -> np.ndarray:
    return np.atleast_1d(np.asarray(values, dtype=np.float64))


def _first_bad(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def validate_coordinates(lat: Any, lon: Any, elevation: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return lat, lon, elevation as float64 arrays of one length, or raise naming the bad value and row.

    Latitude must lie in [-90, 90]; every value must be finite; longitude may be any finite number.
    """
    lat_a, lon_a, elev_a = _as_float64(lat), _as_float64(lon), _as_float64(elevation)
    n = max(lat_a.size, lon_a.size, elev_a.size)
    try:
        lat_a, lon_a, elev_a = (np.broadcast_to(a, (n,)) for a in (lat_a, lon_a, elev_a))
    except ValueError:
        raise InputError(
            f"latitude, longitude and elevation have different lengths "
            f"({lat_a.size}, {lon_a.size}, {elev_a.size})"
        ) from None
    for name, arr in (("latitude", lat_a), ("longitude", lon_a), ("elevation", elev_a)):
        bad = ~np.isfinite(arr)
        if bad.any():
            row = _first_bad(bad)
            raise InputError(f"{name} {arr[row]} at row {row} is not a finite number")
    bad = np.abs(lat_a) > 90.0
    if bad.any():
        row = _first_bad(bad)
        raise InputError(f"latitude {lat_a[row]} at row {row} is outside [-90, 90]")
    return lat_a, lon_a, elev_a


def wrap_longitude(lon: Any) -> np.ndarray:
    """Wrap longitudes into [-180, 180)."""
    return np.remainder(_as_float64(lon) + 180.0, 360.0) - 180.0


def geodetic_to_ecef(lat: Any, lon: Any, elevation: Any) -> np.ndarray:
    """WGS84 geodetic (degrees, degrees, metres) to ECEF metres, float64 ``[N, 3]``."""
    lat_a, lon_a, h = validate_coordinates(lat, lon, elevation)
    phi = np.radians(lat_a)
    lam = np.radians(wrap_longitude(lon_a))
    sin_phi, cos_phi = np.sin(phi), np.cos(phi)
    n = WGS84_A / np.sqrt(1.0 - WGS84_E2 * sin_phi * sin_phi)
    x = (n + h) * cos_phi * np.cos(lam)
    y = (n + h) * cos_phi * np.sin(lam)
    z = (n * (1.0 - WGS84_E2) + h) * sin_phi
    return np.stack([x, y, z], axis=1)


def ecef_to_unit(xyz: np.ndarray) -> np.ndarray:
    """Map ECEF metres to the encoder's [0, 1] cube (clipped: above ~21 km altitude it saturates)."""
    return np.clip((np.asarray(xyz, dtype=np.float64) / ECEF_SCALE + 1.0) * 0.5, 0.0, 1.0)


def _fractional_year_to_datetime64(years: np.ndarray) -> np.ndarray:
    whole = np.floor(years)
    start = (whole - 1970).astype("int64").astype("datetime64[Y]").astype("datetime64[s]")
    end = (whole - 1969).astype("int64").astype("datetime64[Y]").astype("datetime64[s]")
    length = (end - start).astype(np.float64)
    offset = np.round((years - whole) * length).astype("int64").astype("timedelta64[s]")
    return start + offset


def parse_time(value: Any) -> np.datetime64:
    """One calendar instant from a date string, datetime/date, numpy datetime64 or fractional year.

    Strings: ``YYYY``, ``YYYY-MM``, ``YYYY-MM-DD`` or an ISO 8601 datetime (a timezone is converted
    to UTC). Raises ``InputError`` naming the value when it is not a date.
    """
    if isinstance(value, np.datetime64):
        if np.isnat(value):
            raise InputError("date NaT is not a date")
        return value.astype("datetime64[s]")
    if isinstance(value, _dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(_dt.UTC).replace(tzinfo=None)
        return np.datetime64(value, "s")
    if isinstance(value, _dt.date):
        return np.datetime64(value, "D").astype("datetime64[s]")
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        year = float(value)
        if not np.isfinite(year) or not 1.0 <= year < 10000.0:
            raise InputError(f"date {value!r} is not a year between 1 and 9999")
        return _fractional_year_to_datetime64(np.array([year]))[0]
    if isinstance(value, str):
        text = value.strip()
        if len(text) == 4 and text.isdigit():
            return np.datetime64(text, "Y").astype("datetime64[s]")
        try:
            parsed = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            if len(text) == 7 and text[4] == "-":
                try:
                    return np.datetime64(text, "M").astype("datetime64[s]")
                except ValueError:
                    pass
            raise InputError(f"date {value!r} is not YYYY, YYYY-MM-DD or an ISO datetime") from None
        return parse_time(parsed)
    raise InputError(f"date {value!r} is not a date")


def parse_times(values: Iterable[Any] | np.ndarray) -> np.ndarray:
    """Many instants at once, as ``datetime64[s]``; raises ``InputError`` naming the first bad value, row."""
    arr = np.asarray(values) if not isinstance(values, np.ndarray) else values
    if arr.dtype.kind == "M":
        out = arr.astype("datetime64[s]").reshape(-1)
        bad = np.isnat(out)
        if bad.any():
            row = _first_bad(bad)
            raise InputError(f"date NaT at row {row} is not a date")
        return out
    if arr.dtype.kind in "iuf":
        years = arr.astype(np.float64).reshape(-1)
        bad = ~np.isfinite(years) | (years < 1.0) | (years >= 10000.0)
        if bad.any():
            row = _first_bad(bad)
            raise InputError(f"date {years[row]!r} at row {row} is not a year between 1 and 9999")
        return _fractional_year_to_datetime64(years)
    flat = arr.reshape(-1)
    out = np.empty(flat.shape[0], dtype="datetime64[s]")
    for row, item in enumerate(flat):
        try:
            out[row] = parse_time(item.item() if isinstance(item, np.generic) else item)
        except InputError as exc:
            raise InputError(f"{exc} (row {row})") from None
    return out


@dataclass(frozen=True)
class TimeSpan:
    """The calendar interval the model's time axis covers; instants map linearly onto [0, 1]."""

    start: str = "1900-01-01"
    end: str = "2100-01-01"

    def __post_init__(self) -> None:
        if self._end_s <= self._start_s:
            raise InputError(f"time span end {self.end} is not after its start {self.start}")

    @property
    def _start_s(self) -> np.datetime64:
        return parse_time(self.start)

    @property
    def _end_s(self) -> np.datetime64:
        return parse_time(self.end)

    @property
    def seconds(self) -> float:
        """Length of the span in seconds."""
        return float((self._end_s - self._start_s).astype(np.float64))

    def to_unit(self, times: Any) -> np.ndarray:
        """Instants (anything ``parse_times`` takes, or one value) to float64 fractions of the span.

        Raises ``InputError`` naming the first instant outside the span.
        """
        single = isinstance(times, (str, _dt.date, np.datetime64, int, float))
        parsed = np.array([parse_time(times)]) if single else parse_times(times)
        unit = (parsed - self._start_s).astype(np.float64) / self.seconds
        bad = (unit < 0.0) | (unit > 1.0)
        if bad.any():
            row = _first_bad(bad)
            where = "" if single else f" at row {row}"
            raise InputError(
                f"date {parsed[row]}{where} is outside the model's time span {self.start} .. {self.end}"
            )
        return unit

    def from_unit(self, unit: Any) -> np.ndarray:
        """Fractions of the span back to ``datetime64[s]``."""
        offset = np.round(_as_float64(unit) * self.seconds).astype("int64").astype("timedelta64[s]")
        return self._start_s + offset

    def hours(self, fraction: float) -> float:
        """A fraction of the span expressed in hours (for resolution tables)."""
        return fraction * self.seconds / 3600.0

    def to_dict(self) -> dict[str, str]:
        return {"start": str(self.start), "end": str(self.end)}

    @classmethod
    def from_dict(cls, d: dict[str, str]) -> TimeSpan:
        return cls(start=d["start"], end=d["end"])


DEFAULT_TIME_SPAN = TimeSpan()


def normalized_coordinates(
    lat: Any, lon: Any, elevation: Any, time: Any, span: TimeSpan = DEFAULT_TIME_SPAN
) -> np.ndarray:
    """Encoder input: float64 ``[N, 4]`` of (x, y, z, t) in [0, 1].

    ``time`` is one instant for all points or one per point (anything ``parse_times`` takes).
    """
    xyz = ecef_to_unit(geodetic_to_ecef(lat, lon, elevation))
    t = span.to_unit(time)
    if t.size == 1:
        t = np.full(xyz.shape[0], t[0])
    elif t.size != xyz.shape[0]:
        raise InputError(f"{t.size} dates given for {xyz.shape[0]} points")
    return np.concatenate([xyz, t[:, None]], axis=1)


def days_to_unit(days: float, span: TimeSpan = DEFAULT_TIME_SPAN) -> float:
    """A duration in days as a fraction of the span (used to derive temporal levels)."""
    return days * _SECONDS_PER_DAY / span.seconds
