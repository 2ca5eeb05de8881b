"""``sample_points``: the predicted 64-D embedding at each point of a vector layer, as columns A00..A63."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import InputError, first_line
from ..files import check_output_path, publish, staged_result, staging_folder, write_error, write_errors
from ..geodesy import parse_time, parse_times
from .elevation import elevation_source
from .grid import WGS84

if TYPE_CHECKING:
    import geopandas

    from ..predictor import Earth4D

logger = logging.getLogger(__name__)

WRITERS = {".gpkg": "GPKG", ".geojson": "GeoJSON", ".fgb": "FlatGeobuf", ".parquet": "parquet"}
_LAT_NAMES = ("latitude", "lat")
_LON_NAMES = ("longitude", "lon", "lng")


def _column(frame: Any, names: tuple[str, ...]) -> str | None:
    lower = {str(c).lower(): c for c in frame.columns}
    return next((lower[n] for n in names if n in lower), None)


def read_points(path: str | os.PathLike[str], layer: str | None = None) -> geopandas.GeoDataFrame:
    """Points from any vector file geopandas reads, or a CSV with latitude/longitude columns."""
    import geopandas
    import pandas

    p = Path(path)
    if not p.exists():
        raise InputError(f"points file {p} does not exist")
    try:
        if p.suffix.lower() == ".csv":
            table = pandas.read_csv(p)
            lat_col, lon_col = _column(table, _LAT_NAMES), _column(table, _LON_NAMES)
            if lat_col is None or lon_col is None:
                raise InputError(f"points file {p} has no latitude/longitude columns")
            geometry = geopandas.points_from_xy(table[lon_col], table[lat_col])
            return geopandas.GeoDataFrame(table, geometry=geometry, crs=WGS84)
        frame = geopandas.read_file(p, layer=layer)
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - any reader failure is a bad input file
        raise InputError(f"cannot read points file {p} ({first_line(exc)})") from None
    if frame.crs is None:
        logger.warning("points file %s has no CRS; assuming EPSG:4326", p)
        frame = frame.set_crs(WGS84)
    return frame


def _lat_lon(frame: geopandas.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    geometry = frame.geometry
    for row, geom in enumerate(geometry):
        if geom is None or geom.is_empty:
            raise InputError(f"point at row {row} has no geometry")
        if geom.geom_type != "Point":
            raise InputError(f"feature at row {row} is a {geom.geom_type}, not a point")
    lonlat = geometry.to_crs(WGS84)
    return np.asarray(lonlat.y, dtype=np.float64), np.asarray(lonlat.x, dtype=np.float64)


def _times(frame: Any, date: Any, date_column: str | None) -> Any:
    if (date is None) == (date_column is None):
        raise InputError("give either a date or a date column")
    if date is not None:
        return parse_time(date)
    if date_column not in frame.columns:
        columns = ", ".join(str(c) for c in frame.columns)
        raise InputError(f"date column {date_column!r} is not in the points file (columns: {columns})")
    return parse_times(np.asarray(frame[date_column]))


def _check_written(staged: Path, out: Path, driver: str, n_rows: int) -> None:
    """Read the written file's row count back: some drivers ignore a failed write (a full disk)."""
    try:
        if driver == "parquet":
            import pyarrow.parquet as pq

            written = pq.read_metadata(staged).num_rows
        else:
            import pyogrio

            written = pyogrio.read_info(staged, layer=out.stem if driver == "GPKG" else None)["features"]
    except Exception as exc:  # noqa: BLE001 - an unreadable result is a failed write, whatever the reader says
        raise write_error(out, exc) from None
    if written != n_rows:
        raise write_error(out, OSError(f"{written} of {n_rows} points were written"))


def sample_points(
    model: Earth4D | str | os.PathLike[str],
    points: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    *,
    date: Any = None,
    date_column: str | None = None,
    dem: str | os.PathLike[str] | None = None,
    elevation: float | None = None,
    overwrite: bool = False,
    layer: str | None = None,
) -> Path:
    """Write ``points`` with 64 float32 columns A00..A63 added (the embedding at each point) to ``out_path``.

    The date is one for all points (``date``) or per point (``date_column``); elevation comes from ``dem``,
    a constant ``elevation`` or the model's prior. Output formats: .gpkg, .geojson, .fgb, .parquet.
    """
    from ..predictor import as_model

    out = check_output_path(out_path, overwrite)
    driver = WRITERS.get(out.suffix.lower())
    if driver is None:
        raise InputError(f"output {out} must end in one of {', '.join(WRITERS)}")
    model = as_model(model)
    frame = read_points(points, layer=layer)
    if len(frame) == 0:
        raise InputError(f"points file {points} holds no features")
    times = _times(frame, date, date_column)
    lat, lon = _lat_lon(frame)
    source = elevation_source(dem, elevation)
    source.check_covers_points(lat, lon)
    logger.info("elevation: %s", source.description)
    embeddings = model.predict(lat, lon, source.at_points(lat, lon, model.elevation_prior), times)
    result = frame.copy()
    for i, band in enumerate(model.bands):
        result[band] = embeddings[:, i]
    with staging_folder(out) as folder, write_errors(out):
        staged = staged_result(folder, out)
        if driver == "parquet":
            result.to_parquet(staged)
        else:
            result.to_file(staged, driver=driver, layer=out.stem if driver == "GPKG" else None)
        _check_written(staged, out, driver, len(result))
        publish(staged, out, overwrite)
    logger.info("wrote %d points to %s", len(result), out)
    return out
