"""Tiles per second of ``earth4d-gis serve`` (cold and cached) and the latency of one cold zoom-12 tile.

    .venv/bin/python bench/serve.py [--model final_model.pt] [--workers 2] [--tiles 16] [--json]

The app runs in this process and is called through httpx's ASGI transport (no sockets), so the figures are
the server's own work: validating, computing the embeddings (the model), averaging, colouring, PNG encoding
and caching. Cold tiles are distinct tiles never requested before; cached ones are the same tiles again.
Throughput requests ``--tiles`` zoom-14 tiles (one prediction per pixel) with as many requests in flight as
there are workers. Latency is the median of ``--repeats`` distinct cold zoom-12 tiles, requested one at a
time, with the default averaging (each pixel the unit mean of 2 x 2 predictions) and without it, in wall
seconds and in CPU seconds of this process (all threads: on a loaded machine the CPU time is the steadier
figure; on an idle 2-core machine the wall time lies between half of it and all of it). The
model is the ``default`` preset with random weights (speed does not depend on the weights) unless
``--model`` names a trained one. The tiles are in the San Francisco Bay Area.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rasterize import CENTRE_LAT, CENTRE_LON, make_default_model  # noqa: E402 - the bench folder's helper

DATE = "2024-06-01"


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


async def _measure(model_path: str, workers: int, n_tiles: int, repeats: int) -> dict[str, Any]:
    import httpx
    import torch

    from earth4d_gis.predictor import load_model
    from earth4d_gis.serve import create_app

    model = load_model(model_path, device="cpu")
    results: dict[str, Any] = {"workers": workers, "torch_threads": torch.get_num_threads()}
    for oversample in (1, 0):
        app = create_app(model, workers=workers, oversample=oversample)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            await _fetch_all(client, _tiles(14, 1, offset=-5), 1)  # warm-up: threads, kernels, caches
            latencies, cpu = [], []
            for tile in _tiles(12, repeats, offset=1):
                cpu_start = time.process_time()
                latencies.append(await _fetch_all(client, [tile], 1))
                cpu.append(time.process_time() - cpu_start)
            results[f"cold_z12_seconds_oversample{oversample}"] = statistics.median(latencies)
            results[f"cold_z12_cpu_seconds_oversample{oversample}"] = statistics.median(cpu)
            if oversample == 1:
                tiles = _tiles(14, n_tiles, offset=1)
                cold = await _fetch_all(client, tiles, workers)
                cached = await _fetch_all(client, tiles, workers)
                results["cold_tiles_per_s"] = n_tiles / cold
                results["cached_tiles_per_s"] = n_tiles / cached
        app.state.runner.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", help="A model file (default: the default preset, random weights).")
    parser.add_argument("--workers", type=int, default=2, help="Tile threads of the server (default 2).")
    parser.add_argument("--tiles", type=int, default=16, help="Zoom-14 tiles for the throughput figures.")
    parser.add_argument("--repeats", type=int, default=5, help="Cold zoom-12 tiles for the latency median.")
    parser.add_argument("--json", action="store_true", help="Print one JSON object.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as folder:
        model = args.model or str(make_default_model(Path(folder) / "default.pt"))
        results = asyncio.run(_measure(model, args.workers, args.tiles, args.repeats))
    if args.json:
        print(json.dumps(results))
        return
    print(f"workers {results['workers']}, torch threads {results['torch_threads']}")
    print(f"cold tiles/s (zoom 14, 256 x 256 PNG): {results['cold_tiles_per_s']:.2f}")
    print(f"cached tiles/s: {results['cached_tiles_per_s']:.0f}")
    for level, label in ((1, "2 x 2 averaged"), (0, "one prediction per pixel")):
        wall = results[f"cold_z12_seconds_oversample{level}"]
        cpu = results[f"cold_z12_cpu_seconds_oversample{level}"]
        print(f"one cold zoom-12 tile, {label}: {wall:.3f} s ({cpu:.3f} CPU s, all threads)")


if __name__ == "__main__":
    main()
