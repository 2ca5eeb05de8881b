"""What the server computes, independent of HTTP: rendered tiles, point embeddings, the model's description.

Every method here is synchronous and thread-safe; the web app runs them in its worker pool. Request values
are validated here too (``InputError`` with one line naming the bad value), so the app only maps errors to
HTTP statuses.
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from rio_tiler.models import ImageData

from .._version import __version__
from ..errors import InputError
from ..geodesy import parse_time
from . import styles
from .cache import TileCache
from .sampling import PredictionPool
from .tiles import (
    DEFAULT_OVERSAMPLE,
    DEFAULT_REFINE_TOLERANCE,
    MAX_ZOOM,
    MIN_ZOOM,
    TileEmbeddings,
    check_tile,
)

if TYPE_CHECKING:
    from ..predictor import Earth4D

ATTRIBUTION = (
    "Predicted by an Earth4D model (earth4d-gis) of Google DeepMind's AlphaEarth Satellite Embedding"
)
DEFAULT_EMBEDDING_CACHE_MB = 192
DEFAULT_DATE = "2024-06-01"
PNG_ZLEVEL = 1
"""zlib level of tile PNGs: level 1 encodes in about half the time of GDAL's default 6, ~12 % larger."""


def encode_png(rendered: styles.Rendered) -> bytes:
    """A PNG (RGBA: transparent where nothing was predicted) of a rendered tile, through rio-tiler."""
    mask = np.broadcast_to(~rendered.valid, rendered.data.shape)
    image = ImageData(np.ma.MaskedArray(rendered.data, mask=mask))
    return image.render(img_format="PNG", colormap=rendered.colormap, ZLEVEL=PNG_ZLEVEL)


def parse_coordinate(value: Any, name: str, limit: float) -> float:
    """A finite number within ``[-limit, limit]``; ``InputError`` naming it otherwise."""
    if value is None or str(value).strip() == "":
        raise InputError(f"{name} is required (degrees)")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} {value!r} is not a number") from None
    if not math.isfinite(number) or abs(number) > limit:
        raise InputError(f"{name} {value!r} is outside [-{limit:g}, {limit:g}] degrees")
    return number


def training_extent(model: Earth4D) -> list[float] | None:
    """W, S, E N of the cells where the model's training samples lie (from its elevation prior)."""
    levels = model.elevation_prior.levels
    if not levels:
        return None
    coarse = max(levels, key=lambda level: level.cell_deg)
    if coarse.keys.size == 0:
        return None
    cell = coarse.cell_deg
    n_cols = int(np.ceil(360.0 / cell))
    rows, cols = np.divmod(coarse.keys, n_cols)
    south = max(-90.0, float(rows.min()) * cell - 90.0)
    north = min(90.0, float(rows.max() + 1) * cell - 90.0)
    west = max(-180.0, float(cols.min()) * cell - 180.0)
    east = min(180.0, float(cols.max() + 1) * cell - 180.0)
    return [west, south, east, north]


def headline_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    """The few figures a map viewer shows: test cosine and MAPE, the best kNN's, sample count, verdict."""
    model = metrics.get("model") if isinstance(metrics.get("model"), dict) else {}
    baselines = metrics.get("baselines") if isinstance(metrics.get("baselines"), dict) else {}
    best = baselines.get(str(baselines.get("best_knn", "")), {})
    shown: dict[str, Any] = {}
    for label, value in (
        ("test_cosine", model.get("cosine")),
        ("test_mape_percent", model.get("mape")),
        ("best_knn_cosine", best.get("cosine") if isinstance(best, dict) else None),
        ("training_samples", metrics.get("n_train")),
        ("verdict", metrics.get("verdict")),
    ):
        if isinstance(value, (int, float, str)) and not isinstance(value, bool):
            shown[label] = value
    return shown


class TileService:
    """Renders tiles and answers point queries for one model; PNGs are cached by key."""

    def __init__(
        self,
        model: Earth4D,
        *,
        cache_bytes: int,
        oversample: int = DEFAULT_OVERSAMPLE,
        refine_tolerance: float | None = DEFAULT_REFINE_TOLERANCE,
        embedding_cache_bytes: int = DEFAULT_EMBEDDING_CACHE_MB << 20,
        pool: PredictionPool | None = None,
    ) -> None:
        self.model = model
        self.cache = TileCache(cache_bytes)
        self.embeddings = TileEmbeddings(
            model, oversample, embedding_cache_bytes, refine_tolerance=refine_tolerance, pool=pool
        )
        self.name = Path(model.path).stem if model.path is not None else "model"

    # ---- validation
    def parse_date(self, value: Any, name: str = "date") -> np.datetime64:
        """A date inside the model's time span; ``InputError`` naming the parameter otherwise."""
        if value is None or str(value).strip() == "":
            raise InputError(f"{name} is required (YYYY-MM-DD)")
        text = str(value).strip()
        try:
            when = parse_time(text)
        except InputError:
            raise InputError(f"{name} {text!r} is not a date (YYYY-MM-DD)") from None
        span = self.model.time_span
        try:
            span.to_unit(when)
        except InputError:
            raise InputError(
                f"{name} {text} is outside the model's time span {span.start} .. {span.end}"
            ) from None
        return when

    def default_date(self) -> str:
        """The date the page opens on: 2024-06-01 (AlphaEarth's latest year), or the middle of the span."""
        try:
            self.model.time_span.to_unit(DEFAULT_DATE)
            return DEFAULT_DATE
        except InputError:
            start, end = parse_time(self.model.time_span.start), parse_time(self.model.time_span.end)
            return str((start + (end - start) // 2).astype("datetime64[D]"))

    # ---- tiles
    def tile_key(self, kind: str, z: int, x: int, y: int, *params: Any) -> tuple[Hashable, ...]:
        return (self.model.fingerprint, kind, *(str(p) for p in params), z, x, y)

    def cached(self, key: Hashable) -> bytes | None:
        return self.cache.get(key)

    def render_tile(self, z: int, x: int, y: int, date: np.datetime64, style: str) -> bytes:
        tile = check_tile(z, x, y)
        embeddings = self.embeddings.get(tile, date)
        if style == "rgb":
            rendered = styles.rgb_style(embeddings, self.model.rgb_projection)
        else:
            rendered = styles.bands_style(embeddings)
        return encode_png(rendered)

    def reference(self, lat: float, lon: float, date: np.datetime64) -> np.ndarray:
        """The embedding at a point on a date (elevation from the model's prior)."""
        return self.model.predict([lat], [lon], None, date)[0]

    def render_similarity(self, z: int, x: int, y: int, date: np.datetime64, lat: float, lon: float) -> bytes:
        tile = check_tile(z, x, y)
        reference = self.reference(lat, lon, date)
        return encode_png(styles.similarity_style(self.embeddings.get(tile, date), reference))

    def render_change(self, z: int, x: int, y: int, before: np.datetime64, after: np.datetime64) -> bytes:
        tile = check_tile(z, x, y)
        rendered = styles.change_style(self.embeddings.get(tile, before), self.embeddings.get(tile, after))
        return encode_png(rendered)

    # ---- points and description
    def point(self, lat: float, lon: float, date: np.datetime64) -> dict[str, Any]:
        """The 64-D embedding at a point as JSON-able values, with its elevation and RGB colour."""
        elevation = float(self.model.elevation_prior.lookup(np.array([lat]), np.array([lon]))[0])
        embedding = self.model.predict([lat], [lon], elevation, date)[0]
        answer: dict[str, Any] = {
            "lat": lat,
            "lon": lon,
            "date": str(date.astype("datetime64[D]")),
            "elevation_m": elevation,
            "bands": list(self.model.bands),
            "embedding": [round(float(v), 6) for v in embedding],
        }
        if self.model.rgb_projection is not None:
            answer["rgb"] = [int(v) for v in self.model.rgb_projection.to_rgb(embedding[None])[0]]
        return answer

    def describe(self) -> dict[str, Any]:
        """The model's name, span, training extent and metrics, for the page and clients."""
        shown = headline_metrics(self.model.metrics if isinstance(self.model.metrics, dict) else {})
        return {
            "name": self.name,
            "fingerprint": self.model.fingerprint,
            "software_version": __version__,
            "time_span": [self.model.time_span.start, self.model.time_span.end],
            "default_date": self.default_date(),
            "extent": training_extent(self.model),
            "metrics": shown,
            "styles": list(styles.STYLES),
            "has_rgb": self.model.rgb_projection is not None,
            "minzoom": MIN_ZOOM,
            "maxzoom": MAX_ZOOM,
            "oversample": self.embeddings.max_oversample,
            "refine_tolerance": self.embeddings.refine_tolerance,
            "attribution": ATTRIBUTION,
        }
