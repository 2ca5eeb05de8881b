"""``RasterOptions``: what to draw, where, when and how, in one frozen object parsed once.

``rasterize``, ``plan_request``, ``predict_grid``, the analyses' ``model_source``, the CLI and the plugin
all describe a raster request with it. Values are parsed when the object is made: the date becomes a
``numpy.datetime64``, the CRSs ``pyproj.CRS``; values that already are those types (what the CLI's click
types produce) are taken as they are. What needs the model (the date inside its time span, the reference
embedding) or the disk (the AOI, the DEM) is checked by ``plan_request``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pyproj import CRS

from ..conventions import DEFAULT_MAX_PIXELS
from ..geodesy import parse_time
from .grid import WGS84, parse_crs


@dataclass(frozen=True)
class RasterOptions:
    """One raster request, as the user gave it. Fields:

    - where: ``bbox`` (W S E N in ``bbox_crs``; W > E in degrees crosses the antimeridian), or ``aoi``
      (a vector file or GeoDataFrame; outside its polygons is nodata); the output grid's ``crs`` (default:
      UTM zone of the centre), ``resolution`` in its units (default 10 m) or ``width``/``height`` in pixels;
    - when: ``date`` (YYYY, YYYY-MM-DD, an ISO datetime, a datetime or datetime64);
    - what: ``output`` ("embeddings", "rgb", "int8" or "similarity"); for similarity a ``point`` (LAT, LON);
    - how: elevation from a ``dem`` raster, one constant ``elevation`` in metres, or the model's prior;
      ``max_pixels``, the largest output accepted; ``refine_tolerance`` 0 predicts every pixel, above 0
      pixels are interpolated where the map is smooth (``refine``; None: 0.005 for rgb, 0 otherwise).
    """

    bbox: Sequence[float] | None = None
    bbox_crs: CRS = WGS84
    aoi: Any = None
    crs: CRS | None = None
    resolution: float | Sequence[float] | None = None
    width: int | None = None
    height: int | None = None
    date: np.datetime64 | None = None
    output: str = "embeddings"
    point: Sequence[float] | None = None
    dem: str | os.PathLike[str] | None = None
    elevation: float | None = None
    max_pixels: int = DEFAULT_MAX_PIXELS
    refine_tolerance: float | None = None

    def __post_init__(self) -> None:
        if self.date is not None:
            object.__setattr__(self, "date", parse_time(self.date))
        object.__setattr__(self, "bbox_crs", parse_crs(self.bbox_crs, "bbox CRS"))
        if self.crs is not None:
            object.__setattr__(self, "crs", parse_crs(self.crs))

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def build(cls, base: RasterOptions | None = None, /, **changes: Any) -> RasterOptions:
        """``base`` (default: all defaults) with ``changes``; a name that is no field is a ``TypeError``.

        Lets the keyword API (``rasterize(model, out, bbox=..., date=...)``) and an options object meet.
        """
        unknown = sorted(set(changes) - set(cls.field_names()))
        if unknown:
            raise TypeError(f"unknown raster option(s): {', '.join(unknown)}")
        return dataclasses.replace(base, **changes) if base is not None else cls(**changes)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> RasterOptions:
        """The options among ``values`` (e.g. a command's parameters); other keys are ignored."""
        return cls(**{name: values[name] for name in cls.field_names() if name in values})
