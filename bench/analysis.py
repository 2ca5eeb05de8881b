"""Seconds and peak memory of the analyses on an official-format int8 tile of ``size`` x ``size`` pixels.

    .venv/bin/python bench/analysis.py [--json] [--size 1024 --size 4096] [--op classify --op change]

The tile is synthetic (eight class vectors in 300 m Voronoi parcels plus noise, int8 with nodata -128,
UTM at 10 m); a second one, with a quarter of the parcels changed, feeds ``change``. Each (operation, size)
runs in a fresh Python process, so the peak RSS is its own: the run includes reading the tile, the
operation (the classifier is a 100-tree random forest trained on 500 labelled points, with 5-fold
accuracy), and writing the COG(s) or GeoPackage.
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

OPERATIONS = ("classify", "cluster", "change", "zonal")
LEFT, TOP = 550_000.0, 4_200_000.0  # UTM 10N, the Bay Area
PIXEL_M = 10.0


def write_tile(path: Path, size: int, changed: bool) -> None:
    """A synthetic official tile, written 512 rows at a time (memory stays small at any size)."""
    import rasterio
    from scipy.spatial import cKDTree

    from earth4d_gis.quantization import quantize_int8

    rng = np.random.default_rng(0)
    classes = rng.standard_normal((8, 64))
    n_sites = max(8, int((size * PIXEL_M / 300.0) ** 2))
    sites = rng.uniform(0, size, (n_sites, 2))
    site_class = rng.integers(0, 8, n_sites)
    if changed:
        flip = rng.random(n_sites) < 0.25
        site_class[flip] = (site_class[flip] + 1) % 8
    tree = cKDTree(sites)
    profile = {
        "driver": "GTiff", "width": size, "height": size, "count": 64, "dtype": "int8", "nodata": -128,
        "crs": "EPSG:32610", "transform": rasterio.transform.from_origin(LEFT, TOP, PIXEL_M, PIXEL_M),
        "tiled": True, "blockxsize": 512, "blockysize": 512, "compress": "ZSTD",
    }  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        for row in range(0, size, 512):
            rows = min(512, size - row)
            cols, lines = np.meshgrid(np.arange(size) + 0.5, np.arange(row, row + rows) + 0.5)
            _, nearest = tree.query(np.column_stack([cols.ravel(), lines.ravel()]))
            vectors = classes[site_class[nearest]] + 0.3 * rng.standard_normal((nearest.size, 64))
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            codes = quantize_int8(vectors.T).reshape(64, rows, size)
            dst.write(codes, window=rasterio.windows.Window(0, row, size, rows))
    np.save(path.with_suffix(".sites.npy"), np.column_stack([sites, site_class]))


def labels(tile: Path, folder: Path) -> Path:
    import geopandas

    sites = np.load(tile.with_suffix(".sites.npy"))[:500]
    x = LEFT + sites[:, 0] * PIXEL_M
    y = TOP - sites[:, 1] * PIXEL_M
    frame = geopandas.GeoDataFrame(
        {"cls": [f"class {int(c)}" for c in sites[:, 2]]},
        geometry=geopandas.points_from_xy(x, y),
        crs="EPSG:32610",
    )
    path = folder / "labels.gpkg"
    frame.to_file(path)
    return path


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, not inherited across fork + exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_one(op: str, size: int, folder: Path) -> dict[str, Any]:
    """One operation in this process; returns seconds and peak RSS."""
    from earth4d_gis import analysis

    tile, second = folder / "tile.tif", folder / "tile_changed.tif"
    start = time.perf_counter()
    if op == "classify":
        fitted = analysis.fit_classifier(tile, labels(tile, folder), "cls")
        analysis.classify_to_files(tile, fitted, folder / "classes.tif")
        extra = {"accuracy": round(fitted.report["overall_accuracy"], 3)}
    elif op == "cluster":
        clustering = analysis.fit_clusters(tile, k_range=(4, 10))
        analysis.cluster_to_files(tile, folder / "clusters.tif", clustering=clustering)
        extra = {"k": clustering.k}
    elif op == "change":
        analysis.change_to_files([tile, second], folder / "change.tif")
        extra = {}
    else:
        cells = analysis.zonal_grid(tile, 1000.0)
        analysis.write_zonal(cells, folder / "cells.gpkg")
        extra = {"cells": len(cells)}
    seconds = time.perf_counter() - start
    peak_mb = peak_rss_mb()
    return {"op": op, "size": size, "seconds": round(seconds, 1),
            "pixels_per_s": round(size * size / seconds), "peak_rss_mb": round(peak_mb), **extra}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, action="append")
    parser.add_argument("--op", choices=OPERATIONS, action="append")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--one", nargs=3, metavar=("OP", "SIZE", "FOLDER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        op, size, folder = args.one
        print(json.dumps(run_one(op, int(size), Path(folder))))
        return
    rows = []
    for size in args.size or [1024, 2048]:
        with tempfile.TemporaryDirectory(prefix="earth4d-bench-") as name:
            folder = Path(name)
            write_tile(folder / "tile.tif", size, changed=False)
            write_tile(folder / "tile_changed.tif", size, changed=True)
            for op in args.op or OPERATIONS:
                out = subprocess.run(
                    [sys.executable, __file__, "--one", op, str(size), str(folder)],
                    check=True, capture_output=True, text=True,
                )  # fmt: skip
                rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
                if not args.json:
                    print(rows[-1], flush=True)
    if args.json:
        print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
