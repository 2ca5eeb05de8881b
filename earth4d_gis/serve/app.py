"""The ASGI app: XYZ tiles, TileJSON, WMTS capabilities, point queries and the map page.

Tiles are computed in a thread pool (``run_in_executor``): the event loop only validates parameters, looks
up the cache and sends bytes, so the server answers other requests while tiles are being computed. Two
requests for the same uncached tile share one computation. A tile's predictions run in chunks on a second
pool of as many threads, each with one torch thread: one tile uses every core, and no core waits for
another (torch's own threads spin at every operation's barrier, which on a busy machine was measured 3 to
8 times slower than one thread). Bad requests get a 4xx JSON ``{"detail": ...}``
with one line naming the bad value; a tile that does not exist is 404.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import torch
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import Earth4DError, InputError
from . import capabilities
from .cache import DEFAULT_CACHE_MB
from .sampling import PredictionPool
from .service import TileService, parse_coordinate
from .styles import check_style
from .tiles import DEFAULT_OVERSAMPLE, DEFAULT_REFINE_TOLERANCE, TileOutOfRange, check_tile

if TYPE_CHECKING:
    from ..predictor import Earth4D

logger = logging.getLogger(__name__)

STATIC = Path(__file__).with_name("static")
DEFAULT_WORKERS = 2
PNG = "image/png"
TILE_HEADERS = {"Cache-Control": "public, max-age=3600"}

OptionalText = Annotated[str | None, Query()]


class TileRunner:
    """Runs tile work in a thread pool, one computation per key at a time, and caches the PNGs."""

    def __init__(
        self, service: TileService, workers: int, predictions: PredictionPool | None = None
    ) -> None:
        self.service = service
        self.workers = workers
        self.predictions = predictions
        self._pool: ThreadPoolExecutor | None = None
        self._inflight: dict[Hashable, asyncio.Future[bytes]] = {}

    @property
    def pool(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="earth4d-tile")
        return self._pool

    async def run(self, work: Callable[[], Any]) -> Any:
        """Run ``work`` in the pool without blocking the event loop."""
        return await asyncio.get_running_loop().run_in_executor(self.pool, work)

    async def tile(self, key: Hashable, work: Callable[[], bytes]) -> Response:
        cached = self.service.cached(key)
        if cached is not None:
            return Response(cached, media_type=PNG, headers={**TILE_HEADERS, "X-Tile-Cache": "hit"})
        pending = self._inflight.get(key)
        if pending is None:
            pending = asyncio.ensure_future(self.run(work))
            self._inflight[key] = pending
            pending.add_done_callback(lambda _f: self._inflight.pop(key, None))
        data = await asyncio.shield(pending)
        self.service.cache.put(key, data)
        return Response(data, media_type=PNG, headers={**TILE_HEADERS, "X-Tile-Cache": "miss"})

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        if self.predictions is not None:
            self.predictions.shutdown(wait=False, cancel_futures=True)
            self.predictions = None


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"detail": message}, status_code=status)


def _validation_message(exc: RequestValidationError) -> str:
    """One line for FastAPI's validation errors, e.g. ``z: Input should be a valid integer ('a')``."""
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(part) for part in first.get("loc", ())[1:]) or "request"
    given = first.get("input")
    suffix = f" ({given!r})" if isinstance(given, (str, int, float)) else ""
    return f"{where}: {first.get('msg', 'invalid value')}{suffix}"


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(TileOutOfRange)
    async def tile_out_of_range(_request: Request, exc: TileOutOfRange) -> JSONResponse:
        return _error(404, str(exc))

    @app.exception_handler(InputError)
    async def bad_input(_request: Request, exc: InputError) -> JSONResponse:
        return _error(400, str(exc))

    @app.exception_handler(Earth4DError)
    async def core_error(_request: Request, exc: Earth4DError) -> JSONResponse:
        return _error(422, str(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(400, _validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unexpected error")
        return _error(500, f"internal error ({type(exc).__name__}); see the server log")


def create_app(
    model: Earth4D,
    *,
    workers: int = DEFAULT_WORKERS,
    cache_mb: float = DEFAULT_CACHE_MB,
    oversample: int = DEFAULT_OVERSAMPLE,
    refine_tolerance: float | None = DEFAULT_REFINE_TOLERANCE,
    torch_threads: int | None = 1,
) -> FastAPI:
    """The web app serving ``model``: ``workers`` tile threads, ``cache_mb`` of cached PNG tiles.

    ``oversample`` and ``refine_tolerance`` say how tiles are sampled (``tiles``, ``sampling``; None:
    every lattice point is predicted). ``torch_threads`` sets torch's threads for the whole process
    (None leaves them): the server spreads each tile over its own ``workers`` threads instead.
    """
    if int(workers) < 1:
        raise InputError(f"workers {workers} is not a positive number")
    if not float(cache_mb) >= 0:
        raise InputError(f"cache size {cache_mb} MB is not a non-negative number")
    if torch_threads is not None:
        torch.set_num_threads(int(torch_threads))
    predictions = PredictionPool(int(workers))
    service = TileService(
        model,
        cache_bytes=int(float(cache_mb) * (1 << 20)),
        oversample=oversample,
        refine_tolerance=refine_tolerance,
        pool=predictions,
    )
    runner = TileRunner(service, int(workers), predictions)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        runner.close()

    app = FastAPI(title="earth4d-gis serve", lifespan=lifespan, docs_url="/docs", redoc_url=None)
    app.state.service = service
    app.state.runner = runner
    _install_error_handlers(app)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/api/info")
    async def info() -> dict[str, Any]:
        """The model's name, time span, training extent, metrics, styles and the tile cache's state."""
        return {**service.describe(), "cache": service.cache.stats()}

    @app.get("/tiles/{z}/{x}/{y}.png", response_class=Response)
    async def tile(z: int, x: int, y: int, date: OptionalText = None, style: str = "rgb") -> Response:
        """A 256 x 256 PNG of the model's RGB projection (``style=rgb``) or of A01/A16/A09 (``bands``)."""
        check_tile(z, x, y)
        when = service.parse_date(date)
        check_style(style)
        if style == "rgb" and model.rgb_projection is None:
            raise InputError("this model has no RGB projection; use style=bands")
        key = service.tile_key(style, z, x, y, when)
        return await runner.tile(key, lambda: service.render_tile(z, x, y, when, style))

    @app.get("/tiles/{z}/{x}/{y}/similarity.png", response_class=Response)
    async def similarity_tile(
        z: int, x: int, y: int, date: OptionalText = None, lat: OptionalText = None, lon: OptionalText = None
    ) -> Response:
        """Cosine similarity of each pixel to the embedding at ``lat``/``lon`` on ``date`` (viridis, 0..1)."""
        check_tile(z, x, y)
        when = service.parse_date(date)
        lat_v, lon_v = parse_coordinate(lat, "lat", 90.0), parse_coordinate(lon, "lon", 180.0)
        key = service.tile_key("similarity", z, x, y, when, lat_v, lon_v)
        return await runner.tile(key, lambda: service.render_similarity(z, x, y, when, lat_v, lon_v))

    @app.get("/tiles/{z}/{x}/{y}/change.png", response_class=Response)
    async def change_tile(
        z: int,
        x: int,
        y: int,
        before: Annotated[str | None, Query(alias="from")] = None,
        after: Annotated[str | None, Query(alias="to")] = None,
    ) -> Response:
        """How much each pixel's embedding changed from one date to another: 1 - cosine (inferno, 0..1)."""
        check_tile(z, x, y)
        start, end = service.parse_date(before, "from"), service.parse_date(after, "to")
        key = service.tile_key("change", z, x, y, start, end)
        return await runner.tile(key, lambda: service.render_change(z, x, y, start, end))

    @app.get("/point")
    async def point(lat: OptionalText = None, lon: OptionalText = None, date: OptionalText = None) -> Any:
        """The 64-D embedding at a point and date, as JSON."""
        lat_v, lon_v = parse_coordinate(lat, "lat", 90.0), parse_coordinate(lon, "lon", 180.0)
        when = service.parse_date(date)
        return await runner.run(lambda: service.point(lat_v, lon_v, when))

    def layer_query(
        style: str, date: str | None, lat: str | None, lon: str | None, before: str | None, after: str | None
    ) -> capabilities.Layer:
        """Validate a layer's parameters (as the tile endpoints would) and describe it."""
        if style == "change":
            start, end = service.parse_date(before, "from"), service.parse_date(after, "to")
            title = f"change {_day(start)} to {_day(end)}"
            return capabilities.Layer("change", {"from": _day(start), "to": _day(end)}, title)
        when = service.parse_date(date if date is not None else service.default_date())
        if style == "similarity":
            lat_v, lon_v = parse_coordinate(lat, "lat", 90.0), parse_coordinate(lon, "lon", 180.0)
            params = {"date": _day(when), "lat": repr(lat_v), "lon": repr(lon_v)}
            title = f"similarity to {lat_v:.5f}, {lon_v:.5f} on {_day(when)}"
            return capabilities.Layer("similarity", params, title)
        check_style(style)
        return capabilities.Layer(style, {"date": _day(when), "style": style}, f"{style} {_day(when)}")

    @app.get("/tilejson.json")
    async def tilejson(
        request: Request,
        style: str = "rgb",
        date: OptionalText = None,
        lat: OptionalText = None,
        lon: OptionalText = None,
        before: Annotated[str | None, Query(alias="from")] = None,
        after: Annotated[str | None, Query(alias="to")] = None,
    ) -> Any:
        """TileJSON 3.0 for one layer (``style`` rgb, bands, similarity or change, with its parameters)."""
        layer = layer_query(style, date, lat, lon, before, after)
        return capabilities.tilejson(service, layer, str(request.base_url))

    @app.get("/WMTSCapabilities.xml")
    async def wmts(
        request: Request,
        style: OptionalText = None,
        date: OptionalText = None,
        lat: OptionalText = None,
        lon: OptionalText = None,
        before: Annotated[str | None, Query(alias="from")] = None,
        after: Annotated[str | None, Query(alias="to")] = None,
    ) -> Response:
        """OGC WMTS 1.0 capabilities: the rgb and bands layers of a date, or the one layer asked for."""
        names = [style] if style else [s for s in ("rgb", "bands") if s != "rgb" or model.rgb_projection]
        layers = [layer_query(name, date, lat, lon, before, after) for name in names]
        xml = capabilities.wmts(service, layers, str(request.base_url), str(request.url))
        return Response(xml, media_type="application/xml")

    return app


def _day(when: Any) -> str:
    return str(when.astype("datetime64[D]"))
