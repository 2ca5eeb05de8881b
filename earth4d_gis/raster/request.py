"""One validated raster request: grid, output kind, date, elevation source, AOI and tags.

Every user-facing option is checked here, before any work starts, so a bad value fails fast with one
line naming it, and ``rasterize``, ``predict_grid`` and the analyses share the same rules.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .._version import __version__
from ..errors import InputError
from .aoi import AreaOfInterest
from .elevation import ElevationSource, elevation_source
from .grid import OutputGrid, output_grid, parse_crs
from .options import RasterOptions
from .products import OutputKind, output_kind
from .refine import DEFAULT_REFINE_TOLERANCE, check_refine_tolerance

if TYPE_CHECKING:
    from ..predictor import Earth4D

logger = logging.getLogger(__name__)

@dataclass(frozen=True)
class RasterRequest:
    grid: OutputGrid
    kind: OutputKind
    date: np.datetime64
    elevation: ElevationSource
    aoi: AreaOfInterest | None = None
    tags: dict[str, str] = field(default_factory=dict)
    refine_tolerance: float = 0.0


def _human_bytes(n: float) -> str:
    for unit in ("bytes", "kB", "MB", "GB", "TB"):
        if n < 1000.0 or unit == "TB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1000.0
    return f"{n:.1f} TB"


def check_size(grid: OutputGrid, kind: OutputKind, max_pixels: int) -> None:
    """Refuse a grid larger than ``max_pixels``, naming its size in pixels and bytes."""
    n_bytes = grid.n_pixels * kind.count * np.dtype(kind.dtype).itemsize
    if grid.n_pixels > int(max_pixels):
        raise InputError(
            f"the {kind.name} output would be {grid.width:,} x {grid.height:,} = {grid.n_pixels:,} pixels "
            f"({_human_bytes(n_bytes)} uncompressed), over the limit of {int(max_pixels):,} pixels; "
            "use a smaller area or a coarser resolution, or raise the limit with max_pixels=N"
        )


def read_aoi(aoi: Any) -> AreaOfInterest | None:
    """An ``AreaOfInterest`` from a vector-file path, a GeoDataFrame/GeoSeries, or one as is."""
    if aoi is None or isinstance(aoi, AreaOfInterest):
        return aoi
    if isinstance(aoi, (str, os.PathLike)):
        return AreaOfInterest.read(aoi)
    geometry = getattr(aoi, "geometry", None)
    if geometry is not None and getattr(aoi, "crs", None) is not None:
        polygons = tuple(g for g in geometry if g is not None and g.geom_type in ("Polygon", "MultiPolygon"))
        if not polygons:
            raise InputError("the AOI holds no polygons")
        return AreaOfInterest(polygons, parse_crs(aoi.crs, "AOI CRS"))
    raise InputError(f"AOI must be a vector file or a GeoDataFrame with a CRS, not {type(aoi).__name__}")


def check_point(point: Sequence[float]) -> tuple[float, float]:
    """(lat, lon) of a reference point, or ``InputError`` naming the value that is not a place."""
    try:
        lat, lon = (float(v) for v in point)
    except (TypeError, ValueError):
        raise InputError(f"point {point!r} is not two numbers LAT LON") from None
    if not (np.isfinite(lat) and -90.0 <= lat <= 90.0):
        raise InputError(f"point latitude {lat:g} is outside [-90, 90] (the point is LAT LON)")
    if not (np.isfinite(lon) and -180.0 <= lon <= 180.0):
        raise InputError(f"point longitude {lon:g} is outside [-180, 180] (the point is LAT LON)")
    return lat, lon


def check_aoi_overlaps(area: AreaOfInterest, grid: OutputGrid) -> None:
    """Refuse an AOI that misses the grid: every pixel would be nodata."""
    import shapely

    box = shapely.box(*grid.bounds)
    if not any(geom.intersects(box) for geom in area.to_crs(grid.crs).geometries):
        west, south, east, north = area.bounds()
        raise InputError(
            f"{area.name} (bounds {west:g} {south:g} {east:g} {north:g} in its CRS) does not overlap the "
            "bbox: every pixel would be nodata"
        )


def refine_tolerance(value: float | None, output: str) -> float:
    """The request's refinement tolerance: ``value``, or by default 0.005 for rgb and 0 (exact) otherwise."""
    if value is None:
        return DEFAULT_REFINE_TOLERANCE if output == "rgb" else 0.0
    return check_refine_tolerance(value)


def _reference_embedding(
    model: Earth4D, point: Sequence[float] | None, date: np.datetime64, elevation: ElevationSource
) -> np.ndarray | None:
    if point is None:
        return None
    lat, lon = check_point(point)
    elev = elevation.at_points(np.array([lat]), np.array([lon]), model.elevation_prior)
    return model.predict([lat], [lon], elev, date)[0]


def plan_request(model: Earth4D, options: RasterOptions) -> RasterRequest:
    """Validate every option against the model and the disk and derive the grid; raises ``InputError``
    naming the first bad value."""
    when = options.date
    if when is None:
        raise InputError("a date is required (YYYY, YYYY-MM-DD or an ISO datetime)")
    model.time_span.to_unit(when)
    output, point = options.output, options.point
    tolerance = refine_tolerance(options.refine_tolerance, output)
    if output == "similarity" and point is None:
        raise InputError("a similarity map needs a reference point (LAT LON)")
    area = read_aoi(options.aoi)
    bbox, bbox_crs = options.bbox, options.bbox_crs
    if bbox is None:
        if area is None:
            raise InputError("give a bbox (W S E N) or an AOI file")
        bbox, bbox_crs = area.bounds(), area.crs
    grid = output_grid(
        bbox,
        bbox_crs=bbox_crs,
        crs=options.crs,
        resolution=options.resolution,
        width=options.width,
        height=options.height,
    )
    if area is not None:
        check_aoi_overlaps(area, grid)
    if point is not None and output == "similarity":
        check_point(point)
    source = elevation_source(options.dem, options.elevation)
    source.check_covers(grid)
    reference = _reference_embedding(model, point, when, source) if output == "similarity" else None
    kind = output_kind(output, projection=model.rgb_projection, reference=reference)
    check_size(grid, kind, options.max_pixels)
    logger.info("elevation: %s", source.description)
    logger.info(
        "grid: %s, %d x %d pixels of %.6g x %.6g", grid.crs.name, grid.width, grid.height, *grid.resolution
    )
    tags = {
        "software": "earth4d-gis",
        "software_version": __version__,
        "model_fingerprint": model.fingerprint,
        "dataset_fingerprint": model.dataset_fingerprint,
        "date": str(when),
        "time_span": f"{model.time_span.start}/{model.time_span.end}",
        "output": kind.name,
        "elevation_source": source.description,
        "sampling": (
            f"every other pixel predicted, the rest where neighbours differ by more than {tolerance:g} "
            "(1 - cosine), interpolated elsewhere"
            if tolerance > 0
            else "every pixel predicted"
        ),
    }
    if kind.name == "int8":
        tags["dequantization"] = "sign(q) * (q / 127.5) ** 2; nodata -128"
    if kind.name == "similarity":
        tags["reference_point"] = f"{float(point[0])} {float(point[1])}"  # type: ignore[index]
    return RasterRequest(grid, kind, when, source, area.to_crs(grid.crs) if area else None, tags, tolerance)
