"""``earth4d-gis serve``: the app in-process (TestClient) and as a real process on 127.0.0.1."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import morecantile
import numpy as np
import pytest
import rasterio
from encoder_specs import small_spec
from fastapi.testclient import TestClient
from rio_tiler.colormap import cmap
from serve_support import AREA, DATE, fetch, make_model, png_pixels, running_server

import earth4d_gis
from earth4d_gis.encoder import EncoderConfig
from earth4d_gis.geodesy import TimeSpan
from earth4d_gis.predictor import Earth4D
from earth4d_gis.raster import rasterize
from earth4d_gis.serve import create_app
from earth4d_gis.serve.tiles import TMS, TilePlan, oversample_levels

LAT, LON = 47.26, 11.40
WMTS_NS = {"w": "http://www.opengis.net/wmts/1.0", "ows": "http://www.opengis.net/ows/1.1"}


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model whose finest level (4 m) varies within a 10 m pixel, so averaging shows."""
    spec = small_spec((6, 14, 4e3, 4.0), (2, 10, 1e6, 5e5))
    return make_model(
        tmp_path_factory.mktemp("serve") / "alps.pt", EncoderConfig.from_spec("rough", spec, TimeSpan())
    )


@pytest.fixture(scope="module")
def model(model_file: Path) -> Earth4D:
    return earth4d_gis.load_model(model_file)


@pytest.fixture(scope="module")
def client(model: Earth4D) -> TestClient:
    with TestClient(create_app(model, cache_mb=64)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def exact_client(model: Earth4D) -> TestClient:
    """The default sampling (corner lattice) without refinement: every lattice point predicted."""
    with TestClient(create_app(model, cache_mb=64, refine_tolerance=None)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def supersampled_client(model: Earth4D) -> TestClient:
    with TestClient(create_app(model, cache_mb=64, oversample=1)) as test_client:
        yield test_client


def tile_at(zoom: int) -> morecantile.Tile:
    return TMS.tile(LON, LAT, zoom)


def tile_url(tile: morecantile.Tile, suffix: str = ".png") -> str:
    return f"/tiles/{tile.z}/{tile.x}/{tile.y}{suffix}"


def rasterize_tile(
    model: Earth4D, tile: morecantile.Tile, out: Path, output: str, size: int, corners: bool = False, **kw
) -> Path:
    """``rasterize`` of exactly the tile's area in EPSG:3857 at ``size`` x ``size`` pixels.

    With ``corners`` the grid is ``size + 1`` pixels across, half a pixel larger on every side, so that
    its pixel centres are the tile's pixel corners.
    """
    bounds = TMS.xy_bounds(tile)
    half = (bounds.right - bounds.left) / size / 2 if corners else 0.0
    area = [bounds.left - half, bounds.bottom - half, bounds.right + half, bounds.top + half]
    return rasterize(
        model,
        out,
        bbox=area,
        bbox_crs="EPSG:3857",
        crs="EPSG:3857",
        width=size + corners,
        height=size + corners,
        date=DATE,
        output=output,
        progress_bar=False,
        **kw,
    )


def corner_means(model: Earth4D, tile: morecantile.Tile, folder: Path) -> np.ndarray:
    """Unit-length means ``[64, 256, 256]`` of each pixel's four corner predictions, from ``rasterize``."""
    with rasterio.open(rasterize_tile(model, tile, folder / "corners.tif", "embeddings", 256, True)) as src:
        c = src.read()
    summed = c[:, :-1, :-1] + c[:, :-1, 1:] + c[:, 1:, :-1] + c[:, 1:, 1:]
    return summed / np.linalg.norm(summed, axis=0)


def official_colours(embeddings: np.ndarray) -> np.ndarray:
    """``style=bands`` colours ``[h, w, 3]`` of embeddings ``[64, h, w]``: A01/A16/A09 over -0.3..0.3."""
    return np.round(np.clip((embeddings[[1, 16, 9]] + 0.3) / 0.6, 0, 1) * 255).transpose(1, 2, 0)


def test_tile_pixels_are_means_of_rasterize_at_their_corners_in_web_mercator(
    exact_client: TestClient, model: Earth4D, tmp_path: Path
) -> None:
    tile = tile_at(14)
    assert TilePlan.for_tile(tile, 0) == TilePlan(0, 1), "zoom 14 at 47 N: pixels under 10 m, lattice step 1"
    response = exact_client.get(tile_url(tile), params={"date": DATE, "style": "bands"})
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    pixels = png_pixels(response.content)
    assert pixels.shape == (256, 256, 4) and (pixels[..., 3] == 255).all()
    expected = official_colours(corner_means(model, tile, tmp_path))
    difference = np.abs(pixels[..., :3].astype(int) - expected)
    assert difference.max() <= 1, f"tile differs from rasterize by up to {difference.max()} colour steps"
    assert pixels[..., :3].std() > 5, "the tile is flat"
    rgb = png_pixels(exact_client.get(tile_url(tile), params={"date": DATE, "style": "rgb"}).content)
    with rasterio.open(rasterize_tile(model, tile, tmp_path / "rgb.tif", "rgb", 256)) as src:
        centres = src.read().transpose(1, 2, 0).astype(int)
    # The model varies within 4 m: a corner mean is not the centre's value, but close to it on the whole.
    assert np.median(np.abs(rgb[..., :3].astype(int) - centres)) <= 8


def test_refined_tile_stays_close_to_the_full_lattice(
    client: TestClient, exact_client: TestClient, model: Earth4D
) -> None:
    tile = tile_at(13)
    embeddings = client.app.state.service.embeddings
    before = embeddings.predictions
    refined = png_pixels(client.get(tile_url(tile), params={"date": DATE, "style": "bands"}).content)
    used = embeddings.predictions - before
    full = png_pixels(exact_client.get(tile_url(tile), params={"date": DATE, "style": "bands"}).content)
    assert 129 * 129 <= used <= 257 * 257
    difference = np.abs(refined[..., :3].astype(int) - full[..., :3].astype(int)).max(axis=-1)
    assert np.quantile(difference, 0.99) <= 8, "refinement changed the map visibly"


def test_supersampled_tile_is_the_unit_mean_of_finer_pixels_as_rasterize_overviews(
    supersampled_client: TestClient, model: Earth4D, tmp_path: Path
) -> None:
    tile = tile_at(13)
    assert oversample_levels(tile, 1) == 1
    response = supersampled_client.get(tile_url(tile), params={"date": DATE, "style": "bands"})
    pixels = png_pixels(response.content)[..., :3].astype(int)
    path = rasterize_tile(model, tile, tmp_path / "emb.tif", "embeddings", 512)
    with rasterio.open(path) as full:
        fine = full.read()
    summed = fine.reshape(64, 256, 2, 256, 2).sum(axis=(2, 4))
    expected = official_colours(summed / np.linalg.norm(summed, axis=0))
    assert np.abs(pixels - expected).max() <= 1
    one_point = official_colours(fine[:, ::2, ::2])  # one prediction per output pixel (a finer pixel)
    assert (np.abs(pixels - one_point) > 1).mean() > 0.05, "a zoomed-out pixel must be a mean, not one point"


def test_similarity_tile_equals_rasterize_similarity(
    exact_client: TestClient, model: Earth4D, tmp_path: Path
) -> None:
    tile = tile_at(14)
    response = exact_client.get(
        tile_url(tile, "/similarity.png"), params={"date": DATE, "lat": LAT, "lon": LON}
    )
    pixels = png_pixels(response.content)[..., :3].astype(int)
    reference = model.predict([LAT], [LON], None, DATE)[0]
    cosine = np.einsum("bij,b->ij", corner_means(model, tile, tmp_path), reference)
    viridis = np.array([cmap.get("viridis")[i][:3] for i in range(256)])
    expected = viridis[np.round(np.clip(cosine, 0, 1) * 255).astype(int)]
    assert np.abs(pixels - expected).max() <= 4  # neighbouring colour-map entries differ by a few steps
    assert cosine.max() > 0.9, "the clicked point's own pixel should look like itself"


def test_change_tile_is_zero_for_the_same_date_and_not_for_others(client: TestClient) -> None:
    tile = tile_at(14)
    same = png_pixels(client.get(tile_url(tile, "/change.png"), params={"from": DATE, "to": DATE}).content)
    black = np.array(cmap.get("inferno")[0][:3])
    assert (np.abs(same[..., :3].astype(int) - black) <= 1).all()
    other = client.get(tile_url(tile, "/change.png"), params={"from": "1950-06-01", "to": DATE})
    assert other.status_code == 200
    changed = np.abs(png_pixels(other.content)[..., :3].astype(int) - black).max(axis=-1) > 1
    assert changed.mean() > 0.5, "74 years apart and (almost) nothing changed"


def test_point_returns_the_models_embedding(client: TestClient, model: Earth4D) -> None:
    response = client.get("/point", params={"lat": LAT, "lon": LON, "date": DATE})
    assert response.status_code == 200
    body = response.json()
    embedding = np.array(body["embedding"])
    assert embedding.shape == (64,) and abs(np.linalg.norm(embedding) - 1) < 1e-4
    expected = model.predict([LAT], [LON], body["elevation_m"], DATE)[0]
    assert np.allclose(embedding, expected, atol=1e-5)
    assert body["bands"][0] == "A00" and len(body["rgb"]) == 3


def test_tiles_are_cached_by_model_date_and_style(client: TestClient) -> None:
    tile = tile_at(15)
    first = client.get(tile_url(tile), params={"date": "2021-03-01", "style": "rgb"})
    again = client.get(tile_url(tile), params={"date": "2021-03-01", "style": "rgb"})
    assert (first.headers["x-tile-cache"], again.headers["x-tile-cache"]) == ("miss", "hit")
    assert first.content == again.content
    other_date = client.get(tile_url(tile), params={"date": "2021-03-02", "style": "rgb"})
    other_style = client.get(tile_url(tile), params={"date": "2021-03-01", "style": "bands"})
    assert other_date.headers["x-tile-cache"] == other_style.headers["x-tile-cache"] == "miss"
    assert other_style.content != first.content
    stats = client.get("/api/info").json()["cache"]
    assert stats["hits"] >= 1 and 0 < stats["bytes"] <= stats["max_bytes"]


def test_the_cache_stays_within_its_size_bound(client: TestClient, model: Earth4D) -> None:
    tile = tile_at(16)
    size = len(client.get(tile_url(tile), params={"date": DATE}).content)
    limit_mb = 2.5 * size / (1 << 20)  # room for about two tiles
    with TestClient(create_app(model, cache_mb=limit_mb)) as small:
        for x in range(5):
            assert small.get(f"/tiles/16/{tile.x + x}/{tile.y}.png", params={"date": DATE}).status_code == 200
        stats = small.get("/api/info").json()["cache"]
        assert stats["bytes"] <= stats["max_bytes"] == int(limit_mb * (1 << 20))
        assert 1 <= stats["tiles"] <= 3
        last = small.get(f"/tiles/16/{tile.x + 4}/{tile.y}.png", params={"date": DATE})
        first = small.get(f"/tiles/16/{tile.x}/{tile.y}.png", params={"date": DATE})
    assert (last.headers["x-tile-cache"], first.headers["x-tile-cache"]) == ("hit", "miss")


def test_tilejson_and_wmts_describe_the_layer(client: TestClient) -> None:
    document = client.get("/tilejson.json", params={"date": DATE, "style": "bands"}).json()
    assert document["tilejson"] == "3.0.0" and document["scheme"] == "xyz"
    assert document["tiles"] == [f"http://testserver/tiles/{{z}}/{{x}}/{{y}}.png?date={DATE}&style=bands"]
    assert document["minzoom"] == 0 and document["maxzoom"] == 22 and "AlphaEarth" in document["attribution"]
    west, south, east, north = AREA
    assert west - 1 <= document["center"][0] <= east + 1 and south - 1 <= document["center"][1] <= north + 1
    similar = client.get("/tilejson.json", params={"style": "similarity", "lat": LAT, "lon": LON}).json()
    assert "/similarity.png?date=2024-06-01&lat=47.26&lon=11.4" in similar["tiles"][0]

    response = client.get("/WMTSCapabilities.xml", params={"date": DATE})
    assert response.status_code == 200 and "xml" in response.headers["content-type"]
    root = ET.fromstring(response.content)
    layers = root.findall("w:Contents/w:Layer", WMTS_NS)
    assert [layer.find("ows:Identifier", WMTS_NS).text for layer in layers] == [
        f"earth4d-rgb-{DATE}-rgb",
        f"earth4d-bands-{DATE}-bands",
    ]
    template = layers[0].find("w:ResourceURL", WMTS_NS).get("template")
    assert (
        template
        == f"http://testserver/tiles/{{TileMatrix}}/{{TileCol}}/{{TileRow}}.png?date={DATE}&style=rgb"
    )
    matrices = root.findall("w:Contents/w:TileMatrixSet/w:TileMatrix", WMTS_NS)
    assert len(matrices) == 23
    assert matrices[0].find("w:MatrixWidth", WMTS_NS).text == "1"


def test_tiles_are_computed_off_the_event_loop_and_shared(
    model: Earth4D, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio
    import threading

    import httpx

    app = create_app(model, workers=2)
    service = app.state.service
    gate, calls = threading.Event(), []
    original = service.render_tile

    def held(*args: object) -> bytes:
        calls.append(args)
        assert gate.wait(30), "the test never released the tile"
        return original(*args)

    monkeypatch.setattr(service, "render_tile", held)
    tile = tile_at(14)

    async def scenario() -> tuple[httpx.Response, httpx.Response, httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            first = asyncio.create_task(http.get(tile_url(tile), params={"date": DATE}))
            second = asyncio.create_task(http.get(tile_url(tile), params={"date": DATE}))
            await asyncio.sleep(0.2)
            info = await asyncio.wait_for(http.get("/api/info"), 10)  # answered while the tile is held
            assert not first.done() and not second.done()
            gate.set()
            return info, await first, await second

    try:
        info, first, second = asyncio.run(scenario())
    finally:
        gate.set()
        app.state.runner.close()
    assert info.status_code == 200
    assert first.status_code == second.status_code == 200 and first.content == second.content
    assert len(calls) == 1, "two requests for one tile computed it twice"


@pytest.mark.parametrize(
    ("url", "status", "words"),
    [
        ("/tiles/14/1/1.png?date=2024-13-01", 400, "date '2024-13-01' is not a date"),
        ("/tiles/14/1/1.png?date=2300-01-01", 400, "outside the model's time span"),
        ("/tiles/14/1/1.png", 400, "date is required"),
        ("/tiles/14/1/1.png?date=2024&style=false-colour", 400, "style 'false-colour' is not one of"),
        ("/tiles/1/2/0.png?date=2024", 404, "tile 1/2/0 does not exist"),
        ("/tiles/23/0/0.png?date=2024", 404, "zoom 23 is outside"),
        ("/tiles/-1/0/0.png?date=2024", 404, "zoom -1"),
        ("/tiles/a/0/0.png?date=2024", 400, "z:"),
        ("/tiles/3/1/1/similarity.png?date=2024&lat=47", 400, "lon is required"),
        ("/tiles/3/1/1/similarity.png?date=2024&lat=91&lon=0", 400, "lat '91' is outside"),
        ("/tiles/3/1/1/change.png?from=2020", 400, "to is required"),
        ("/point?lat=47&lon=nan&date=2024", 400, "lon 'nan'"),
        ("/tilejson.json?style=sepia", 400, "style 'sepia'"),
        ("/WMTSCapabilities.xml?date=yesterday", 400, "date 'yesterday'"),
        ("/no/such/page", 404, "Not Found"),
    ],
)
def test_bad_requests_get_a_4xx_json_message(client: TestClient, url: str, status: int, words: str) -> None:
    response = client.get(url)
    assert response.status_code == status
    assert words in response.json()["detail"]
    assert "Traceback" not in response.text


def test_the_page_ships_leaflet_and_no_cdn(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "static/vendor/leaflet/leaflet.js" in page.text and "//" not in page.text.replace("://", "")
    assert "https://unpkg" not in page.text and "cdn" not in page.text.lower()
    script = client.get("/static/vendor/leaflet/leaflet.js")
    assert script.status_code == 200 and "Leaflet" in script.text[:200]
    assert client.get("/static/vendor/leaflet/LICENSE").status_code == 200
    info = client.get("/api/info").json()
    assert info["name"] == "alps" and info["extent"] == [11.0, 47.0, 12.0, 48.0]
    assert info["metrics"]["test_cosine"] == pytest.approx(0.8123)


@pytest.mark.slow
def test_a_real_server_process_on_localhost(model_file: Path) -> None:
    with running_server(model_file) as (url, line):
        assert url.startswith("http://127.0.0.1:") and "only this machine can connect" in line
        status, headers, body = fetch(f"{url}tiles/12/{tile_at(12).x}/{tile_at(12).y}.png?date={DATE}")
        assert status == 200 and png_pixels(body).shape == (256, 256, 4)
        status, _, body = fetch(f"{url}tilejson.json?date={DATE}")
        assert status == 200 and json.loads(body)["tiles"][0].startswith(url + "tiles/")
        status, _, body = fetch(f"{url}tiles/12/0/0.png?date=3000-01-01")
        assert status == 400 and "time span" in json.loads(body)["detail"]
        status, _, body = fetch(url)
        assert status == 200 and b"leaflet.js" in body


def test_serve_cli_bad_input_is_one_line(model_file: Path, tmp_path: Path) -> None:
    import socket

    from click.testing import CliRunner

    from earth4d_gis_cli.main import cli

    def run(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(cli, ["serve", *args], catch_exceptions=False)
        return result.exit_code, result.output.strip()

    code, output = run("--model", str(tmp_path / "missing.pt"))
    assert code != 0 and output.startswith("Error:") and len(output.splitlines()) == 1
    code, output = run("--model", str(model_file), "--port", "70000")
    assert code == 2 and "70000" in output and len(output.splitlines()) == 1
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        code, output = run("--model", str(model_file), "--port", str(port))
    assert code == 2
    assert output == f"Error: port {port} on 127.0.0.1 is already in use; choose another with --port"
