"""Cold-tile latency and tiles per second of ``earth4d-gis serve``, and what each tile costs the model.

    .venv/bin/python bench/serve.py [--model final_model.pt] [--workers 2] [--tiles 8] [--repeats 3] [--json]

The app runs in this process and is called through httpx's ASGI transport (no sockets), so the figures are
the server's own work: validating, predicting (the model), interpolating or averaging, colouring, PNG
encoding and caching. Cold tiles are distinct tiles never requested before; cached ones are the same tiles
again. For each sampling (``oversample 0``, the default: a lattice of corner predictions refined where it
varies; ``oversample 1``: 2 x 2 predictions inside each zoomed-out pixel) it reports the median latency of
``--repeats`` distinct cold tiles at zooms 12, 14 and 16, requested one at a time, in wall seconds and in
CPU seconds of this process (all threads; on a loaded machine the CPU time is the steadier figure: on an
idle 2-core machine the wall time lies between half of it and all of it), with the model's predictions per
tile; then ``--tiles`` zoom-14 tiles with as many requests in flight as there are workers, cold and cached.

``--quality`` instead compares each sampling's tiles with a reference whose pixels are the unit means of
4 x 4 predictions inside them (one zoom-12 and one zoom-13 tile): 1 - cosine (mean and 99th percentile)
and the share of pixels whose RGB colour differs by more than 4 and 16 steps of 255.

Without ``--model`` the model is the ``default`` preset with random weights and a neighbour bank of 200,000
random samples (blending 32 neighbours, ``train``'s default): its random hash tables vary at every scale,
so it is the worst case for refinement; a trained model (``--model``) shows what a real map costs. The
tiles are in the San Francisco Bay Area (a zoom-12 pixel is ~30 m on the ground, zoom 14 ~7.6 m, zoom 16
~1.9 m).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rasterize import CENTRE_LAT, CENTRE_LON, make_default_model  # noqa: E402 - the bench folder's helper

DATE = "2024-06-01"
ZOOMS = (12, 14, 16)
BANK_SAMPLES = 200_000


def _tiles(zoom: int, count: int, offset: int = 0) -> list[tuple[int, int, int]]:
    """``count`` distinct tiles in a row at ``zoom`` near the centre, starting ``offset`` tiles east."""
    from earth4d_gis.serve.tiles import TMS

    centre = TMS.tile(CENTRE_LON, CENTRE_LAT, zoom)
    return [(zoom, centre.x + offset + i, centre.y) for i in range(count)]


async def _fetch_all(client: Any, tiles: list[tuple[int, int, int]], concurrency: int) -> float:
    """Seconds to fetch every tile with ``concurrency`` requests in flight; checks each is a PNG."""
    gate = asyncio.Semaphore(concurrency)

    async def one(tile: tuple[int, int, int]) -> None:
        z, x, y = tile
        async with gate:
            response = await client.get(f"/tiles/{z}/{x}/{y}.png", params={"date": DATE, "style": "rgb"})
        if response.status_code != 200 or response.content[:4] != b"\x89PNG":
            raise RuntimeError(f"tile {tile}: HTTP {response.status_code} {response.text[:200]}")

    start = time.perf_counter()
    await asyncio.gather(*(one(tile) for tile in tiles))
    return time.perf_counter() - start


async def _latency(client: Any, app: Any, zoom: int, repeats: int) -> dict[str, float]:
    """Median wall and CPU seconds and predictions of ``repeats`` cold tiles at ``zoom``, one at a time."""
    embeddings = app.state.service.embeddings
    wall, cpu, predictions = [], [], []
    for tile in _tiles(zoom, repeats, offset=1):
        cpu_start, before = time.process_time(), embeddings.predictions
        wall.append(await _fetch_all(client, [tile], 1))
        cpu.append(time.process_time() - cpu_start)
        predictions.append(embeddings.predictions - before)
    return {
        "seconds": round(statistics.median(wall), 3),
        "cpu_seconds": round(statistics.median(cpu), 3),
        "predictions": int(statistics.median(predictions)),
    }


async def _measure(model_path: str, workers: int, n_tiles: int, repeats: int) -> dict[str, Any]:
    import httpx

    from earth4d_gis.predictor import load_model
    from earth4d_gis.serve import create_app

    model = load_model(model_path, device="cpu")
    results: dict[str, Any] = {"workers": workers, "load_average": os.getloadavg()[0]}
    for oversample in (0, 1):
        app = create_app(model, workers=workers, oversample=oversample)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            await _fetch_all(client, _tiles(14, 1, offset=-5), 1)  # warm-up: threads, k-d tree, caches
            for zoom in ZOOMS:
                results[f"oversample{oversample}_z{zoom}"] = await _latency(client, app, zoom, repeats)
            if oversample == 0:
                tiles = _tiles(14, n_tiles, offset=repeats + 1)
                cold = await _fetch_all(client, tiles, workers)
                cached = await _fetch_all(client, tiles, workers)
                results["cold_tiles_per_s"] = round(n_tiles / cold, 2)
                results["cached_tiles_per_s"] = round(n_tiles / cached)
        app.state.runner.close()
    results["load_average_after"] = os.getloadavg()[0]
    return results


def _quality(model_path: str) -> dict[str, Any]:
    """Each sampling's error against the 4 x 4 supersampled reference (see the module docstring)."""
    import morecantile
    import numpy as np

    from earth4d_gis.predictor import load_model
    from earth4d_gis.serve import create_app
    from earth4d_gis.serve.tiles import TilePlan

    model = load_model(model_path, device="cpu")
    date = np.datetime64(DATE)
    samplings = {
        "refined_lattice": {"oversample": 0},
        "full_lattice": {"oversample": 0, "refine_tolerance": None},
        "supersample_2x2": {"oversample": 1},
    }
    apps = {name: create_app(model, **kwargs) for name, kwargs in samplings.items()}
    embeddings = {name: app.state.service.embeddings for name, app in apps.items()}
    reference_of = embeddings["supersample_2x2"]
    results: dict[str, Any] = {}
    for zoom in (12, 13):
        z, x, y = _tiles(zoom, 1, offset=1)[0]
        tile = morecantile.Tile(x, y, z)
        reference = reference_of.compute(tile, date, TilePlan(2, 1))
        ref_rgb = model.rgb_projection.to_rgb(reference.reshape(-1, 64)).astype(int)
        for name, source in embeddings.items():
            before = source.predictions
            values = source.compute(tile, date, TilePlan.for_tile(tile, source.max_oversample))
            distance = 1.0 - np.einsum("ijb,ijb->ij", values, reference).ravel()
            steps = np.abs(model.rgb_projection.to_rgb(values.reshape(-1, 64)).astype(int) - ref_rgb).max(1)
            results[f"z{zoom}_{name}"] = {
                "predictions": source.predictions - before,
                "one_minus_cos_mean": float(distance.mean()),
                "one_minus_cos_p99": float(np.quantile(distance, 0.99)),
                "rgb_over_4_steps": float((steps > 4).mean()),
                "rgb_over_16_steps": float((steps > 16).mean()),
            }
    for app in apps.values():
        app.state.runner.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", help="A model file (default: the default preset, random weights, bank).")
    parser.add_argument("--workers", type=int, default=2, help="Tile threads of the server (default 2).")
    parser.add_argument("--tiles", type=int, default=8, help="Zoom-14 tiles for the throughput figures.")
    parser.add_argument("--repeats", type=int, default=3, help="Cold tiles per zoom for the latency median.")
    parser.add_argument("--quality", action="store_true", help="Errors against 4 x 4 supersampling.")
    parser.add_argument("--json", action="store_true", help="Print one JSON object.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as folder:
        model = args.model or str(make_default_model(Path(folder) / "default.pt", BANK_SAMPLES))
        if args.quality:
            print(json.dumps(_quality(model), indent=1))
            return
        results = asyncio.run(_measure(model, args.workers, args.tiles, args.repeats))
    if args.json:
        print(json.dumps(results))
        return
    print(
        f"workers {results['workers']}, load average {results['load_average']:.1f} before, "
        f"{results['load_average_after']:.1f} after"
    )
    for oversample, label in ((0, "corner lattice, refined (default)"), (1, "2 x 2 inside each pixel")):
        for zoom in ZOOMS:
            r = results[f"oversample{oversample}_z{zoom}"]
            print(
                f"oversample {oversample} ({label}), one cold zoom-{zoom} tile: {r['seconds']:.3f} s "
                f"({r['cpu_seconds']:.3f} CPU s, {r['predictions']} predictions)"
            )
    print(f"cold tiles/s (zoom 14, {results['workers']} in flight): {results['cold_tiles_per_s']:.2f}")
    print(f"cached tiles/s: {results['cached_tiles_per_s']}")


if __name__ == "__main__":
    main()
