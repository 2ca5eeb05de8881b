"""TileJSON (titiler.core's model) and OGC WMTS 1.0 capabilities (titiler.core's matrix helpers)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import jinja2
from titiler.core.models.mapbox import TileJSON
from titiler.core.utils import tms_to_xml

from .tiles import MAX_ZOOM, MIN_ZOOM, TMS

if TYPE_CHECKING:
    from .service import TileService

WORLD = (-180.0, -85.0511287798066, 180.0, 85.0511287798066)
TMS_ID = "WebMercatorQuad"
_TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("earth4d_gis.serve", "templates"),
    autoescape=jinja2.select_autoescape(["xml"]),
)


@dataclass(frozen=True)
class Layer:
    """One tile layer: its kind (rgb, bands, similarity, change), query parameters and title."""

    kind: str
    params: dict[str, str]
    title: str

    @property
    def path(self) -> str:
        """The tile path after ``tiles/{z}/{x}/{y}``."""
        return ".png" if self.kind in ("rgb", "bands") else f"/{self.kind}.png"

    @property
    def identifier(self) -> str:
        return "earth4d-" + "-".join([self.kind, *self.params.values()]).replace(" ", "")


def _bounds(service: TileService) -> tuple[float, float, float, float]:
    """The training extent clipped to Web Mercator, or the whole world."""
    extent = service.describe()["extent"]
    if not extent:
        return WORLD
    west, south, east, north = extent
    return (west, max(south, WORLD[1]), east, min(north, WORLD[3]))


def tilejson(service: TileService, layer: Layer, base_url: str) -> dict[str, Any]:
    """TileJSON 3.0.0 for ``layer``; the map is centred on the model's training extent."""
    url = f"{base_url}tiles/{{z}}/{{x}}/{{y}}{layer.path}?{urlencode(layer.params)}"
    bounds = _bounds(service)
    centre = ((bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2, 10 if bounds != WORLD else 2)
    document = TileJSON(
        name=f"{service.name} {layer.title}",
        description=f"Earth4D model {service.name} ({service.model.fingerprint[:12]}): {layer.title}",
        attribution=service.describe()["attribution"],
        tiles=[url],
        minzoom=MIN_ZOOM,
        maxzoom=MAX_ZOOM,
        bounds=list(WORLD),
        center=centre,
    )
    return document.model_dump(exclude_none=True)


def wmts(service: TileService, layers: list[Layer], base_url: str, capabilities_url: str) -> str:
    """The WMTS capabilities XML listing ``layers`` in Web Mercator (RESTful tile URLs)."""
    described = [
        {
            "title": f"{service.name} {layer.title}",
            "identifier": layer.identifier,
            "template": f"{base_url}tiles/{{TileMatrix}}/{{TileCol}}/{{TileRow}}{layer.path}?"
            + urlencode(layer.params),
        }
        for layer in layers
    ]
    return _TEMPLATES.get_template("wmts.xml").render(
        name=service.name,
        attribution=service.describe()["attribution"],
        base_url=base_url,
        capabilities_url=capabilities_url,
        layers=described,
        bbox=_bounds(service),
        tms_id=TMS_ID,
        supported_crs="urn:ogc:def:crs:EPSG::3857",
        matrices=tms_to_xml(TMS, MIN_ZOOM, MAX_ZOOM),
    )
