"""Where embeddings come from: a model (an area and a date) or a 64-band raster (ours or official AlphaEarth).

Every analysis reads an ``EmbeddingSource`` window by window on its north-up ``OutputGrid``: float32
``[64, h, w]`` unit vectors, NaN where there is no data. ``open_raster`` decides what a GeoTIFF holds from its
dtype and tags (float embeddings as they are; int8 with nodata -128 in the official quantisation,
``sign(q) * (q / 127.5)^2``) and refuses what it cannot tell. A bottom-up file (positive y resolution, as the
mirror's COGs are) is read upside down so that it comes out north-up. ``identity`` names the embedding space,
so that a classifier trained on one source is not applied to another.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import rasterio
from affine import Affine
from pyproj import CRS
from rasterio.errors import RasterioError
from rasterio.windows import Window

from ..conventions import EMBEDDING_BANDS, EMBEDDING_DIM
from ..errors import InputError, first_line
from ..quantization import INT8_NODATA, dequantize_int8
from ..raster.cog import TILE
from ..raster.compute import WindowJob
from ..raster.grid import WGS84, OutputGrid, parse_crs, transformer
from ..raster.options import RasterOptions

if TYPE_CHECKING:
    import xarray

    from ..predictor import Earth4D

logger = logging.getLogger(__name__)

OFFICIAL = "alphaearth-v1"
"""Identity of official AlphaEarth (Satellite Embedding V1) rasters and of untagged float embeddings."""


def model_identity(fingerprint: str) -> str:
    return f"earth4d-model:{fingerprint}"


class EmbeddingSource:
    """Base class: a grid, an identity, and the embeddings of any window or point of it."""

    grid: OutputGrid
    identity: str
    description: str
    date: np.datetime64 | None = None

    def read(self, window: Window) -> np.ndarray:
        """float32 ``[64, h, w]`` unit vectors of ``window``; NaN where there is no data."""
        raise NotImplementedError

    def at_points(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """float32 ``[N, 64]`` at points given in the grid's CRS (NaN rows outside the grid or data)."""
        rows, cols = pixel_indices(self.grid, x, y)
        out = np.full((len(rows), EMBEDDING_DIM), np.nan, dtype=np.float32)
        inside = np.flatnonzero(
            (rows >= 0) & (rows < self.grid.height) & (cols >= 0) & (cols < self.grid.width)
        )
        # One read per 512-pixel tile that holds points, of just the rows and columns they span.
        tiles = (rows[inside] // TILE) * (self.grid.width // TILE + 1) + cols[inside] // TILE
        for tile in np.unique(tiles):
            members = inside[tiles == tile]
            r0, c0 = int(rows[members].min()), int(cols[members].min())
            window = Window(c0, r0, int(cols[members].max()) - c0 + 1, int(rows[members].max()) - r0 + 1)
            block = self.read(window)
            out[members] = block[:, rows[members] - r0, cols[members] - c0].T
        return out


def pixel_indices(grid: OutputGrid, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row and column (int64) of the pixels containing CRS points; outside the grid they fall out of range."""
    cols, rows = ~grid.transform * (np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
    return np.floor(rows).astype(np.int64), np.floor(cols).astype(np.int64)


@dataclass
class ModelSource(EmbeddingSource):
    """A model's prediction on a planned grid and date (``raster.request.plan_request``), window by window."""

    job: WindowJob
    description: str = "model"

    def __post_init__(self) -> None:
        self.grid = self.job.grid
        self.date = self.job.date
        self.identity = model_identity(self.job.model.fingerprint)
        self.description = f"model {self.job.model.fingerprint[:12]} on {str(self.job.date)[:10]}"

    @property
    def model(self) -> Earth4D:
        return self.job.model

    def read(self, window: Window) -> np.ndarray:
        return self.job.compute(window)

    def at_points(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The model's prediction at the exact points (not at pixel centres)."""
        rows, cols = pixel_indices(self.grid, x, y)
        inside = (rows >= 0) & (rows < self.grid.height) & (cols >= 0) & (cols < self.grid.width)
        out = np.full((len(rows), EMBEDDING_DIM), np.nan, dtype=np.float32)
        if inside.any():
            lon, lat = transformer(self.grid.crs, WGS84).transform(
                np.asarray(x)[inside], np.asarray(y)[inside], errcheck=False
            )
            lat, lon = np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64)
            elev = self.job.elevation.at_points(lat, lon, self.model.elevation_prior)
            out[inside] = self.model.predict(lat, lon, elev, self.job.date)
        return out


def model_source(
    model: Earth4D | str | os.PathLike[str], options: RasterOptions | None = None, **option_fields: Any
) -> ModelSource:
    """A model's embeddings for an area and date, on the grid ``rasterize`` would write.

    The request is ``options`` with any ``RasterOptions`` field given as a keyword on top (``bbox=``,
    ``date=``, ...); its ``output`` is always embeddings.
    """
    from ..predictor import as_model
    from ..raster.request import plan_request

    loaded = as_model(model)
    request = RasterOptions.build(options, **option_fields)
    request = dataclasses.replace(request, output="embeddings", point=None)
    return ModelSource(WindowJob.for_request(loaded, plan_request(loaded, request)))


@dataclass
class RasterSource(EmbeddingSource):
    """A 64-band GeoTIFF; opened per read so that it travels to worker processes as a path."""

    path: Path
    quantized: bool
    bottom_up: bool
    grid: OutputGrid
    identity: str
    description: str
    file_height: int = 0
    tags: dict[str, str] = field(default_factory=dict)

    def read(self, window: Window) -> np.ndarray:
        row_off = int(window.row_off)
        if self.bottom_up:
            row_off = self.file_height - row_off - int(window.height)
        file_window = Window(int(window.col_off), row_off, int(window.width), int(window.height))
        try:
            with rasterio.open(self.path) as src:
                data = src.read(window=file_window)
                mask = src.read_masks(1, window=file_window) if not self.quantized else None
        except RasterioError as exc:
            raise InputError(f"cannot read {self.path} ({first_line(exc)})") from None
        if self.bottom_up:
            data = data[:, ::-1, :]
            mask = mask[::-1, :] if mask is not None else None
        if self.quantized:
            return dequantize_int8(data)
        values = data.astype(np.float32, copy=False)
        if mask is not None and not mask.all():
            values = values.copy()
            values[:, mask == 0] = np.nan
        return values


def _identity_of(tags: dict[str, str]) -> tuple[str, str]:
    """(identity, description) from a GeoTIFF's tags."""
    if tags.get("software") == "earth4d-gis" and tags.get("model_fingerprint"):
        fingerprint = tags["model_fingerprint"]
        return model_identity(
            fingerprint
        ), f"earth4d-gis model {fingerprint[:12]} on {tags.get('date', '?')[:10]}"
    return OFFICIAL, "AlphaEarth embeddings"


def open_raster(path: str | os.PathLike[str]) -> RasterSource:
    """A ``RasterSource`` for a 64-band GeoTIFF; ``InputError`` naming what cannot be read or told apart."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise InputError(f"embedding raster {p} does not exist")
    try:
        with rasterio.open(p) as src:
            count, dtype, nodata = src.count, src.dtypes[0], src.nodata
            transform, crs, width, height = src.transform, src.crs, src.width, src.height
            tags = src.tags()
    except RasterioError as exc:
        raise InputError(f"cannot read {p} as a raster ({first_line(exc)})") from None
    if count != EMBEDDING_DIM:
        raise InputError(
            f"{p} has {count} band{'s' if count != 1 else ''}, not the 64 of an embedding raster"
        )
    if crs is None:
        raise InputError(f"{p} has no CRS; embeddings need to know where they are")
    if transform.b != 0 or transform.d != 0:
        raise InputError(f"{p} has a rotated geotransform, which is not supported")
    if dtype == "int8":
        if nodata is None or int(nodata) != INT8_NODATA:
            raise InputError(
                f"{p} is int8 with nodata {nodata}, not -128: cannot tell its quantisation "
                "(official AlphaEarth tiles use nodata -128)"
            )
        quantized = True
    elif np.dtype(dtype).kind == "f":
        quantized = False
    else:
        raise InputError(f"{p} holds {dtype} values; embeddings are float or int8 (official quantisation)")
    bottom_up = transform.e > 0
    if bottom_up:
        transform = Affine(
            transform.a, 0.0, transform.c, 0.0, -transform.e, transform.f + transform.e * height
        )
        logger.info("%s is stored bottom-up; reading it north-up", p)
    identity, description = _identity_of(tags)
    if quantized:
        description += " (int8, de-quantised)"
    grid = OutputGrid(parse_crs(crs.to_wkt(), f"CRS of {p}"), transform, width, height)
    return RasterSource(
        path=p,
        quantized=quantized,
        bottom_up=bottom_up,
        grid=grid,
        identity=identity,
        description=f"{description} from {p.name}",
        file_height=height,
        tags=dict(tags),
    )


@dataclass
class ArraySource(EmbeddingSource):
    """Embeddings held in memory: ``[64, h, w]`` on a grid (from an xarray with a CRS, or numpy + grid)."""

    data: np.ndarray
    grid: OutputGrid
    identity: str = OFFICIAL
    description: str = "in-memory embeddings"

    def read(self, window: Window) -> np.ndarray:
        rows = slice(int(window.row_off), int(window.row_off + window.height))
        cols = slice(int(window.col_off), int(window.col_off + window.width))
        return self.data[:, rows, cols]


def array_source(
    data: Any, *, transform: Affine | None = None, crs: Any = None, identity: str | None = None
) -> ArraySource:
    """An ``ArraySource`` from an ``xarray.DataArray`` (band, y, x) with rio CRS/transform, or a numpy array.

    int8 arrays are de-quantised as official AlphaEarth; a DataArray from ``predict_grid`` keeps its model's
    identity.
    """
    attrs: dict[str, Any] = {}
    if hasattr(data, "rio"):
        attrs = dict(getattr(data, "attrs", {}))
        transform = transform or data.rio.transform()
        crs = crs or data.rio.crs
        values = np.asarray(data.values)
    else:
        values = np.asarray(data)
    if values.ndim != 3 or values.shape[0] != EMBEDDING_DIM:
        raise InputError(f"embeddings must be an array of shape (64, height, width), not {values.shape}")
    if transform is None or crs is None:
        raise InputError("in-memory embeddings need a transform and a CRS")
    if transform.e > 0:
        values = values[:, ::-1, :]
        transform = Affine(
            transform.a, 0.0, transform.c, 0.0, -transform.e, transform.f + transform.e * values.shape[1]
        )
    floats = dequantize_int8(values) if values.dtype == np.int8 else values.astype(np.float32, copy=False)
    grid = OutputGrid(parse_crs(crs, "embedding CRS"), transform, values.shape[2], values.shape[1])
    if identity is None:
        identity = _identity_of({k: str(v) for k, v in attrs.items()})[0]
    return ArraySource(np.ascontiguousarray(floats), grid, identity)


def as_source(source: Any) -> EmbeddingSource:
    """An ``EmbeddingSource`` as is, a GeoTIFF path, or in-memory embeddings (xarray or numpy with rio)."""
    if isinstance(source, EmbeddingSource):
        return source
    if isinstance(source, (str, os.PathLike)):
        return open_raster(source)
    return array_source(source)


def same_grid(sources: list[EmbeddingSource]) -> None:
    """Refuse sources whose grids differ (change needs pixel-for-pixel comparable embeddings)."""
    first = sources[0].grid
    for other in sources[1:]:
        g = other.grid
        if (
            (g.width, g.height) != (first.width, first.height)
            or not np.allclose(tuple(g.transform)[:6], tuple(first.transform)[:6])
            or not CRS(g.crs).equals(first.crs)
        ):
            raise InputError(
                f"{other.description} is on another grid ({g.width} x {g.height}, {g.crs.name}) than "
                f"{sources[0].description} ({first.width} x {first.height}, {first.crs.name})"
            )


def source_as_array(source: EmbeddingSource) -> xarray.DataArray:
    """All of a source's embeddings in memory as (band, y, x) with CRS and transform (small areas only)."""
    import rioxarray  # noqa: F401 - registers the .rio accessor
    import xarray

    grid = source.grid
    data = source.read(Window(0, 0, grid.width, grid.height))
    array = xarray.DataArray(
        data,
        dims=("band", "y", "x"),
        coords={
            "band": list(EMBEDDING_BANDS),
            "y": grid.y_coords(),
            "x": grid.x_coords(),
        },
        name="embeddings",
    )
    return array.rio.write_crs(grid.crs.to_wkt()).rio.write_transform(grid.transform)
