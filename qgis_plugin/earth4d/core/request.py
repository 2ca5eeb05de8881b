"""What the user asked for, independent of QGIS widgets and of where the core runs."""

from __future__ import annotations

import datetime as _dt
import math
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from .errors import PluginError


class LayerKind(str, Enum):
    """The layers the dialog makes: rasterize's three, and the analyses that need nothing but the area."""

    RGB = "rgb"
    EMBEDDINGS = "embeddings"
    SIMILARITY = "similarity"
    CLUSTERS = "clusters"
    CHANGE = "change"

    @property
    def label(self) -> str:
        return {
            "rgb": "RGB",
            "embeddings": "Embeddings",
            "similarity": "Similarity",
            "clusters": "Clusters",
            "change": "Change",
        }[self.value]

    @property
    def is_analysis(self) -> bool:
        """Made by an analysis command (``cluster``, ``change``) rather than rasterize/similarity."""
        return self in (LayerKind.CLUSTERS, LayerKind.CHANGE)


Bbox = tuple[float, float, float, float]


def check_date(text: str) -> str:
    """Return ``text`` stripped if it is YYYY, YYYY-MM-DD or an ISO datetime; else raise naming it."""
    value = str(text).strip()
    if len(value) == 4 and value.isdigit():
        return value
    try:
        _dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise PluginError(f"Date {text!r} is not YYYY, YYYY-MM-DD or an ISO datetime.") from None
    return value


def check_bbox(bbox: Bbox) -> Bbox:
    """A finite (west, south, east, north) in degrees with south < north; west > east crosses 180°."""
    west, south, east, north = (float(v) for v in bbox)
    if not all(math.isfinite(v) for v in (west, south, east, north)):
        raise PluginError(f"Area {bbox} has a coordinate that is not a finite number.")
    if not (-90.0 <= south < north <= 90.0):
        raise PluginError(
            f"Area latitudes {south:.6f} .. {north:.6f} are not an increasing range in [-90, 90]."
        )
    if west == east:
        raise PluginError(f"Area longitudes {west:.6f} .. {east:.6f} have no width.")
    return west, south, east, north


def _fmt(value: float) -> str:
    return f"{value:.4f}".rstrip("0").rstrip(".")


@dataclass(frozen=True)
class LayerRequest:
    """One raster to predict: everything is plain Python so it can cross into a task thread or a CLI.

    ``bbox`` is (west, south, east, north) in EPSG:4326. ``resolution`` is in units of ``crs`` (metres for
    the default UTM grid). ``crs`` None means the UTM zone of the area's centre. ``point`` is (lat, lon).
    """

    model: Path
    output: Path
    kind: LayerKind
    date: str
    bbox: Bbox
    resolution: float | None = None
    crs: str | None = None
    aoi: Path | None = None
    point: tuple[float, float] | None = None
    overwrite: bool = False
    area_label: str = ""
    since: str | None = None
    """CHANGE: the earlier date the change is measured from."""

    def validated(self) -> LayerRequest:
        """Check what can be checked without the core; raise ``PluginError`` naming the bad value."""
        if not str(self.model).strip() or not self.model.is_file():
            raise PluginError(
                f"Model file {str(self.model) or '(none)'} does not exist; choose an earth4d-gis model."
            )
        if not str(self.output).strip() or self.output.name == "":
            raise PluginError("Choose an output file.")
        if not self.output.parent.is_dir():
            raise PluginError(f"Output folder {self.output.parent} does not exist.")
        if self.output.exists() and not self.overwrite:
            raise PluginError(
                f"Output {self.output} already exists; choose another name or allow overwriting."
            )
        check_date(self.date)
        check_bbox(self.bbox)
        if self.resolution is not None and not (math.isfinite(self.resolution) and self.resolution > 0):
            raise PluginError(f"Resolution {self.resolution} is not a positive number.")
        if self.kind is LayerKind.SIMILARITY:
            if self.point is None:
                raise PluginError("Similarity needs a point: pick one on the map.")
            lat, lon = self.point
            if not (math.isfinite(lat) and math.isfinite(lon) and -90.0 <= lat <= 90.0):
                raise PluginError(f"Point latitude {lat} is outside [-90, 90].")
        if self.kind is LayerKind.CHANGE:
            if not self.since:
                raise PluginError("Change needs a second date to compare with.")
            check_date(self.since)
            if self.since == self.date:
                raise PluginError(f"Change between {self.since} and {self.date} compares a date with itself.")
        if self.aoi is not None and not self.aoi.is_file():
            raise PluginError(f"Area file {self.aoi} does not exist.")
        return self

    def area_text(self) -> str:
        """A short name for the area: the user's label or the bbox in degrees."""
        if self.area_label:
            return self.area_label
        return " ".join(_fmt(v) for v in self.bbox)

    def layer_name(self) -> str:
        """The map layer's short name (it sits in the "Earth4D" group): kind and date, the reference point
        of a similarity, the polygon layer's name when the area came from one.
        E.g. ``RGB 2024-06-01``, ``Similarity to 47.2500, 11.4000 2024-06-01``."""
        name = f"{self.kind.label} {self.date}"
        if self.kind is LayerKind.CHANGE and self.since:
            name = f"{self.kind.label} {self.since} to {self.date}"
        if self.kind is LayerKind.SIMILARITY and self.point is not None:
            name = f"{self.kind.label} to {self.point[0]:.4f}, {self.point[1]:.4f} {self.date}"
        return f"{name} {self.area_label}" if self.area_label else name

    def task_name(self) -> str:
        """The longer description of the background task: the layer's name and the area."""
        return f"Earth4D: {self.layer_name()} ({self.area_text()})"


@dataclass(frozen=True)
class SampleRequest:
    """Embeddings at the points of a vector file (written by the plugin in EPSG:4326)."""

    model: Path
    points: Path
    output: Path
    date: str | None = None
    date_field: str | None = None
