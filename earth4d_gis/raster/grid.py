"""The output grid: CRS, affine transform and size of a raster, derived from a bbox or an AOI.

Defaults follow the official AlphaEarth product: the UTM zone of the area's centre at 10 m pixels.
A geographic bbox whose west edge is east of its east edge crosses the antimeridian.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from affine import Affine
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError
from rasterio.windows import Window

from ..errors import InputError

logger = logging.getLogger(__name__)

DEFAULT_RESOLUTION_M = 10.0
METRES_PER_DEGREE = 111_320.0
"""Length of one degree of latitude (and of longitude at the equator), for a default resolution in degrees."""
WGS84 = CRS.from_epsg(4326)
_EDGE_POINTS = 101


def on_the_map(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Which points are places: finite coordinates and a latitude within [-90, 90] (a grid's pixels outside
    its CRS's domain come back NaN or beyond the poles)."""
    return np.isfinite(lat) & np.isfinite(lon) & (np.abs(lat) <= 90.0)


def parse_crs(value: Any, what: str = "CRS") -> CRS:
    """A pyproj CRS from anything pyproj understands (EPSG code, 'EPSG:32633', WKT, PROJ string)."""
    if isinstance(value, CRS):
        return value
    if hasattr(value, "to_wkt"):
        value = value.to_wkt()
    try:
        return CRS.from_user_input(value)
    except (CRSError, TypeError, ValueError):
        raise InputError(f"unknown {what} {value!r}") from None


def utm_crs(lon: float, lat: float) -> CRS:
    """The WGS84 UTM zone (EPSG 326xx north, 327xx south) that contains a point."""
    lon = (lon + 180.0) % 360.0 - 180.0
    zone = min(int((lon + 180.0) // 6.0) + 1, 60)
    return CRS.from_epsg((32600 if lat >= 0.0 else 32700) + zone)


@functools.lru_cache(maxsize=16)
def _transformer(src_wkt: str, dst_wkt: str) -> Transformer:
    return Transformer.from_crs(CRS.from_wkt(src_wkt), CRS.from_wkt(dst_wkt), always_xy=True)


def transformer(src: CRS, dst: CRS) -> Transformer:
    """A cached always-xy transformer (x = easting or longitude)."""
    return _transformer(src.to_wkt(), dst.to_wkt())


@dataclass(frozen=True)
class OutputGrid:
    """A north-up raster grid: ``transform`` maps (col, row) of pixel corners to CRS coordinates."""

    crs: CRS
    transform: Affine
    width: int
    height: int

    @property
    def n_pixels(self) -> int:
        return self.width * self.height

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(left, bottom, right, top) in the grid's CRS."""
        left, top = self.transform * (0, 0)
        right, bottom = self.transform * (self.width, self.height)
        return left, bottom, right, top

    @property
    def resolution(self) -> tuple[float, float]:
        return abs(self.transform.a), abs(self.transform.e)

    def windows(self, size: int = 512) -> Iterator[Window]:
        """Row-major windows of ``size`` x ``size`` pixels (smaller at the right and bottom edges)."""
        for row in range(0, self.height, size):
            for col in range(0, self.width, size):
                yield Window(col, row, min(size, self.width - col), min(size, self.height - row))

    def window_transform(self, window: Window) -> Affine:
        return self.transform * Affine.translation(window.col_off, window.row_off)

    def x_coords(self, col_off: int = 0, width: int | None = None) -> np.ndarray:
        """CRS x of the pixel-centre columns ``col_off .. col_off + width``."""
        width = self.width - col_off if width is None else width
        centres = np.arange(col_off, col_off + width, dtype=np.float64) + 0.5
        return self.transform.c + centres * self.transform.a

    def y_coords(self, row_off: int = 0, height: int | None = None) -> np.ndarray:
        """CRS y of the pixel-centre rows ``row_off .. row_off + height``."""
        height = self.height - row_off if height is None else height
        centres = np.arange(row_off, row_off + height, dtype=np.float64) + 0.5
        return self.transform.f + centres * self.transform.e

    def pixel_centres(self, window: Window) -> tuple[np.ndarray, np.ndarray]:
        """CRS x and y of each pixel centre in ``window``, float64 arrays of shape (height, width)."""
        xs = self.x_coords(int(window.col_off), int(window.width))
        ys = self.y_coords(int(window.row_off), int(window.height))
        shape = (ys.size, xs.size)
        return np.broadcast_to(xs, shape), np.broadcast_to(ys[:, None], shape)

    def pixel_lonlat(self, window: Window) -> tuple[np.ndarray, np.ndarray]:
        """Latitude and longitude (degrees, WGS84) of each pixel centre, flat float64 arrays (row-major).

        Pixels outside the CRS's domain come back as non-finite values.
        """
        xs, ys = self.pixel_centres(window)
        lon, lat = transformer(self.crs, WGS84).transform(xs.ravel(), ys.ravel(), errcheck=False)
        return np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64)


def _bbox_values(bbox: Sequence[float]) -> tuple[float, float, float, float]:
    try:
        values = tuple(float(v) for v in bbox)
    except (TypeError, ValueError):
        raise InputError(f"bbox {bbox!r} is not four numbers W S E N") from None
    if len(values) != 4:
        raise InputError(f"bbox {bbox!r} is not four numbers W S E N")
    for name, v in zip(("west", "south", "east", "north"), values, strict=True):
        if not math.isfinite(v):
            raise InputError(f"bbox {name} {v} is not a finite number")
    return values  # type: ignore[return-value]


def _checked_bbox(bbox: Sequence[float], bbox_crs: CRS) -> tuple[float, float, float, float]:
    """Validate a bbox; a geographic one with W > E is returned with E + 360 (it crosses the antimeridian)."""
    west, south, east, north = _bbox_values(bbox)
    if south >= north:
        raise InputError(f"bbox south {south} is not below north {north}")
    if bbox_crs.is_geographic:
        for name, v in (("south", south), ("north", north)):
            if not -90.0 <= v <= 90.0:
                raise InputError(f"bbox {name} {v} is outside [-90, 90] degrees")
        for name, v in (("west", west), ("east", east)):
            if not -180.0 <= v <= 360.0:
                raise InputError(f"bbox {name} {v} is outside [-180, 360] degrees")
        if west > east:
            logger.info("bbox %s .. %s crosses the antimeridian", west, east)
            east += 360.0
        elif west == east:
            raise InputError(f"bbox west {west} equals east {east}")
    elif west >= east:
        raise InputError(
            f"bbox west {west} is not left of east {east} (only a geographic bbox may cross the antimeridian)"
        )
    return west, south, east, north


def _edge_points(west: float, south: float, east: float, north: float) -> tuple[np.ndarray, np.ndarray]:
    """Points along the four edges and through the interior, so curved edges bound the area correctly."""
    xs = np.linspace(west, east, _EDGE_POINTS)
    ys = np.linspace(south, north, _EDGE_POINTS)
    gx, gy = np.meshgrid(xs, ys)
    return gx.ravel(), gy.ravel()


def _unwrap_longitudes(lon: np.ndarray, centre: float) -> np.ndarray:
    return centre + np.remainder(lon - centre + 180.0, 360.0) - 180.0


def bbox_centre_lonlat(bbox: Sequence[float], bbox_crs: Any = "EPSG:4326") -> tuple[float, float]:
    """Longitude and latitude (WGS84) of a bbox's centre; handles the antimeridian."""
    src = parse_crs(bbox_crs, "bbox CRS")
    west, south, east, north = _checked_bbox(bbox, src)
    lon, lat = transformer(src, WGS84).transform((west + east) / 2.0, (south + north) / 2.0, errcheck=False)
    if not (math.isfinite(lon) and math.isfinite(lat)):
        raise InputError(f"bbox centre cannot be expressed in WGS84 from {src.name}")
    return float((lon + 180.0) % 360.0 - 180.0), float(lat)


def _resolution_pair(resolution: float | Sequence[float]) -> tuple[float, float]:
    values = [resolution] * 2 if np.isscalar(resolution) else list(resolution)
    if len(values) == 1:
        values = values * 2
    try:
        xres, yres = (float(v) for v in values)
    except (TypeError, ValueError):
        raise InputError(f"resolution {resolution!r} is not one or two numbers") from None
    for v in (xres, yres):
        if not (math.isfinite(v) and v > 0.0):
            raise InputError(f"resolution {v} is not a positive number")
    return xres, yres


def _snap(value: float, step: float, rounding: Any) -> float:
    """``value`` rounded to a multiple of ``step``, forgiving float noise (179.9 / 0.01 is 17989.999...)."""
    ratio = value / step
    nearest = round(ratio)
    return (nearest if abs(ratio - nearest) < 1e-6 else rounding(ratio)) * step


def default_resolution(crs: CRS) -> float:
    """10 m, expressed in the CRS's units (degrees at the equator for a geographic CRS)."""
    if crs.is_geographic:
        return DEFAULT_RESOLUTION_M / METRES_PER_DEGREE
    unit = crs.axis_info[0].unit_conversion_factor if crs.axis_info else 1.0
    return DEFAULT_RESOLUTION_M / (unit or 1.0)


def output_grid(
    bbox: Sequence[float],
    *,
    bbox_crs: Any = "EPSG:4326",
    crs: Any = None,
    resolution: float | Sequence[float] | None = None,
    width: int | None = None,
    height: int | None = None,
) -> OutputGrid:
    """The grid covering ``bbox`` (W S E N in ``bbox_crs``) in ``crs`` (default: UTM zone of the centre).

    ``resolution`` is in ``crs`` units (default 10 m; degrees in a geographic CRS); with it the grid snaps
    to multiples of the resolution, like the official product. ``width``/``height`` (one or both) instead
    fit that many pixels exactly to the bbox.
    """
    src = parse_crs(bbox_crs, "bbox CRS")
    west, south, east, north = _checked_bbox(bbox, src)
    centre_lon, centre_lat = bbox_centre_lonlat(bbox, src)
    dst = utm_crs(centre_lon, centre_lat) if crs is None else parse_crs(crs)
    xs, ys = _edge_points(west, south, east, north)
    tx, ty = transformer(src, dst).transform(xs, ys, errcheck=False)
    tx, ty = np.asarray(tx), np.asarray(ty)
    ok = np.isfinite(tx) & np.isfinite(ty)
    if not ok.any():
        raise InputError(f"bbox {list(bbox)} cannot be expressed in CRS {dst.name}")
    tx, ty = tx[ok], ty[ok]
    if dst.is_geographic:
        centre = ((west + east) / 2.0, (south + north) / 2.0)
        tx = _unwrap_longitudes(tx, transformer(src, dst).transform(*centre, errcheck=False)[0])
    left, right, bottom, top = tx.min(), tx.max(), ty.min(), ty.max()
    if not (right > left and top > bottom):
        raise InputError(f"bbox {list(bbox)} has no area in CRS {dst.name}")
    for name, v in (("width", width), ("height", height)):
        if v is not None and int(v) < 1:
            raise InputError(f"{name} {v} is not a positive number of pixels")
    if width is not None or height is not None:
        if resolution is not None:
            raise InputError("give either a resolution or a width/height, not both")
        if width is None:
            height = int(height)  # type: ignore[arg-type]
            width = max(1, round((right - left) / ((top - bottom) / height)))
        elif height is None:
            width = int(width)
            height = max(1, round((top - bottom) / ((right - left) / width)))
        transform = Affine.translation(left, top) * Affine.scale(
            (right - left) / int(width), -(top - bottom) / int(height)
        )
        return OutputGrid(dst, transform, int(width), int(height))
    xres, yres = _resolution_pair(default_resolution(dst) if resolution is None else resolution)
    left, right = _snap(left, xres, math.floor), _snap(right, xres, math.ceil)
    bottom, top = _snap(bottom, yres, math.floor), _snap(top, yres, math.ceil)
    width_px = max(1, round((right - left) / xres))
    height_px = max(1, round((top - bottom) / yres))
    return OutputGrid(dst, Affine(xres, 0.0, left, 0.0, -yres, top), width_px, height_px)
