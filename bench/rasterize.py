"""Pixels per second and peak memory of ``rasterize`` for embeddings and RGB outputs.

    .venv/bin/python bench/rasterize.py [--json] [--size 1024 --size 8192] [--output embeddings --output rgb]

Each (output, size) runs in a fresh Python process, so its peak RSS is its own: the figure includes the
model, torch, GDAL's block cache and everything else a real ``earth4d-gis rasterize`` holds. With
``--workers N`` the largest worker process's peak is reported too. The model is the ``default`` preset
with random weights (speed does not depend on the weights) unless ``--model`` names a trained one.
Pixels/s counts the whole job: computing windows, writing, overviews, COG assembly.
The area is a square of ``size`` x ``size`` 10 m pixels in the San Francisco Bay Area, in UTM.

Each output is drawn with ``rasterize``'s default sampling for it (rgb: refined, every other pixel predicted
and the rest where the map varies; embeddings and int8: every pixel) unless ``--refine-tolerance`` sets
one. ``--compare-exact`` then also draws the same raster with every pixel predicted (untimed) and reports
how the two differ: the share of pixels whose largest band difference exceeds 1, 4 and 16 colour steps
(rgb) or whose cosine to the exact embedding is below 0.999 (embeddings).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

CENTRE_LAT, CENTRE_LON = 37.75, -122.25
PIXEL_M = 10.0


def make_default_model(path: Path, bank_samples: int = 0, neighbours: int = 32) -> Path:
    """The ``default`` preset with random weights, an RGB projection and an elevation prior.

    With ``bank_samples`` the model keeps that many random samples within a degree of the centre (dates
    2017-2024) and blends each prediction with its ``neighbours`` nearest (``train``'s default: 32).
    """
    import torch

    from earth4d_gis.checkpoint import ModelBundle, save_model_file
    from earth4d_gis.elevation_prior import ElevationPrior
    from earth4d_gis.encoder import EncoderConfig
    from earth4d_gis.geodesy import normalized_coordinates
    from earth4d_gis.model import Earth4DModel
    from earth4d_gis.neighbours import SampleBank
    from earth4d_gis.projection import RGBProjection

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    n = max(2000, bank_samples)
    truth = rng.standard_normal((n, 64)).astype(np.float32)
    truth /= np.linalg.norm(truth, axis=1, keepdims=True)
    lat = CENTRE_LAT + rng.uniform(-1, 1, n)
    lon = CENTRE_LON + rng.uniform(-1, 1, n)
    elevation = rng.uniform(0, 500, n)
    config = EncoderConfig.preset("default")
    bank = None
    if bank_samples:
        dates = np.datetime64("2017-01-01") + rng.integers(0, 8 * 365, n).astype("timedelta64[D]")
        coords = normalized_coordinates(lat, lon, elevation, dates, config.time_span)
        bank = SampleBank.from_samples(coords, truth, neighbours, config.time_span)
    model = Earth4DModel(config, bank=bank)
    with torch.no_grad():  # tables of trained magnitude: the output varies (and compresses) like a real map
        for table in model.encoder.tables.values():
            table.uniform_(-0.5, 0.5)
    bundle = ModelBundle(
        model=model,
        rgb_projection=RGBProjection.fit(truth[:2000]),
        elevation_prior=ElevationPrior.fit(lat[:2000], lon[:2000], elevation[:2000]),
    )
    return save_model_file(bundle, path)


def bbox_for(size: int) -> list[float]:
    """A WGS84 bbox that the UTM grid at 10 m covers with about ``size`` x ``size`` pixels."""
    half = size * PIXEL_M / 2.0
    dlat = half / 111_320.0
    dlon = half / (111_320.0 * np.cos(np.radians(CENTRE_LAT)))
    return [CENTRE_LON - dlon, CENTRE_LAT - dlat, CENTRE_LON + dlon, CENTRE_LAT + dlat]


def difference_to_exact(output: str, drawn: Path, exact: Path) -> dict[str, float]:
    """How a refined raster differs from the one with every pixel predicted."""
    import rasterio

    with rasterio.open(drawn) as a, rasterio.open(exact) as b:
        got, want = a.read(), b.read()
    if output == "rgb":
        steps = np.abs(got.astype(np.int16) - want.astype(np.int16)).max(axis=0)
        return {f"share_over_{n}_steps": round(float((steps > n).mean()), 5) for n in (1, 4, 16)} | {
            "max_steps": int(steps.max())
        }
    cosine = np.einsum("bij,bij->ij", got.astype(np.float32), want.astype(np.float32))
    return {"share_cos_below_0.999": round(float((cosine < 0.999).mean()), 5), "min_cos": float(cosine.min())}


def run_child(
    model: str, output: str, size: int, workers: int, tolerance: float | None, compare: bool
) -> dict[str, Any]:
    """One measurement in this process: rasterize, then report time and this process's peak RSS."""
    from earth4d_gis.predictor import load_model
    from earth4d_gis.raster import rasterize

    loaded = load_model(model, device="cpu")
    request = {"bbox": bbox_for(size), "date": "2024-06-01", "width": size, "height": size, "output": output}
    with tempfile.TemporaryDirectory(prefix="bench-rasterize-") as folder:
        out = Path(folder) / f"{output}_{size}.tif"
        start = time.perf_counter()
        bar = sys.stderr.isatty()
        rasterize(loaded, out, **request, refine_tolerance=tolerance, workers=workers, progress_bar=bar)
        seconds = time.perf_counter() - start
        file_mb = out.stat().st_size / 1e6
        difference = {}
        if compare:
            exact_out = Path(folder) / "exact.tif"
            exact = rasterize(loaded, exact_out, **request, refine_tolerance=0.0, workers=workers)
            difference = difference_to_exact(output, out, exact)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    worker_peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss if workers > 1 else 0
    return {
        "output": output,
        "size": size,
        "pixels": size * size,
        "seconds": round(seconds, 2),
        "pixels_per_s": round(size * size / seconds),
        "peak_rss_mb": round(peak_kb / 1024),
        "worker_peak_rss_mb": round(worker_peak_kb / 1024),
        "file_mb": round(file_mb, 1),
        "workers": workers,
        "refine_tolerance": tolerance,
        "against_exact": difference,
    }


def measure(
    model: str, output: str, size: int, workers: int, tolerance: float | None, compare: bool
) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", "--model", model, "--workers", str(workers)]
    command += ["--output", output, "--size", str(size)]
    command += ["--refine-tolerance", str(tolerance)] if tolerance is not None else []
    command += ["--compare-exact"] if compare else []
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--json", action="store_true", help="Print one JSON object instead of a table.")
    parser.add_argument("--size", type=int, action="append", help="Width = height (default 1024, 8192).")
    parser.add_argument("--output", action="append", choices=["embeddings", "rgb", "int8"])
    parser.add_argument("--model", default=None, help="A model file (default: `default` preset, random).")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--refine-tolerance", type=float, default=None, help="Default: rasterize's own.")
    parser.add_argument("--compare-exact", action="store_true", help="Also report the difference to exact.")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sizes = args.size or [1024, 8192]
    outputs = args.output or ["embeddings", "rgb"]
    if args.child:
        child = run_child(
            args.model, outputs[0], sizes[0], args.workers, args.refine_tolerance, args.compare_exact
        )
        print(json.dumps(child))
        return
    with tempfile.TemporaryDirectory(prefix="bench-model-") as folder:
        model = args.model or str(make_default_model(Path(folder) / "default.pt"))
        results = [
            measure(model, output, size, args.workers, args.refine_tolerance, args.compare_exact)
            for size in sizes
            for output in outputs
        ]
    import torch

    report = {"torch_threads": torch.get_num_threads(), "preset": "default" if not args.model else args.model}
    report["runs"] = results
    if args.json:
        print(json.dumps(report))
        return
    header = f"{'output':<11} {'size':>6} {'seconds':>9} {'pixels/s':>10} {'peak RSS':>10} {'file':>9}"
    print(header + "  against exact")
    for r in results:
        print(
            f"{r['output']:<11} {r['size']:>6} {r['seconds']:>9.1f} {r['pixels_per_s']:>10,} "
            f"{r['peak_rss_mb']:>7} MB {r['file_mb']:>6.0f} MB  {r['against_exact'] or ''}"
        )


if __name__ == "__main__":
    main()
