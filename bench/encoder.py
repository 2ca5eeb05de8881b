"""Points per second of the Earth4D encoder, forward and forward+backward, per backend and preset.

    .venv/bin/python bench/encoder.py [--json] [--batch 65536] [--preset default --preset seed-162d]

Inputs are GBIF-like: random points on the globe (elevation -500..9000 m) in 2017..2024. Each figure
is the median of ``--repeats`` timed runs after a warm-up. Forward runs without autograd (inference);
forward+backward also computes the table gradients (their ``.grad`` is reset each run, as
``zero_grad(set_to_none=True)`` would). The seed-162d preset holds 3.2 GB of tables (x2 with gradients).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np
import torch
from tqdm import tqdm

from earth4d_gis.encoder import Earth4DEncoder, EncoderConfig, available_backends
from earth4d_gis.geodesy import normalized_coordinates


def globe_points(n: int, seed: int = 0) -> torch.Tensor:
    """``n`` encoder inputs at random places on the Earth and random instants in 2017..2024."""
    rng = np.random.default_rng(seed)
    lat = np.degrees(np.arcsin(rng.uniform(-1.0, 1.0, n)))
    lon = rng.uniform(-180.0, 180.0, n)
    elev = rng.uniform(-500.0, 9000.0, n)
    years = rng.uniform(2017.0, 2025.0, n)
    return torch.from_numpy(normalized_coordinates(lat, lon, elev, years))


def _median_seconds(run: Callable[[], None], repeats: int, sync: Callable[[], None]) -> float:
    run()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_one(preset: str, backend: str, batch: int, repeats: int) -> dict[str, object]:
    device = "cuda" if backend == "cuda" else "cpu"
    enc = Earth4DEncoder(EncoderConfig.preset(preset), backend=backend, device=device)
    coords = globe_points(batch).to(device)
    grad = torch.randn(batch, enc.output_dim, device=device)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def forward() -> None:
        with torch.no_grad():
            enc(coords)

    def forward_backward() -> None:
        for table in enc.tables.values():
            table.grad = None
        enc(coords).backward(grad)

    fwd = _median_seconds(forward, repeats, sync)
    fwdbwd = _median_seconds(forward_backward, repeats, sync)
    return {
        "backend": backend,
        "preset": preset,
        "batch": batch,
        "fwd_pts_per_s": batch / fwd,
        "fwdbwd_pts_per_s": batch / fwdbwd,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    parser.add_argument("--batch", type=int, default=65536)
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per figure (median)")
    parser.add_argument("--preset", action="append", help="preset(s) to measure (default: both)")
    parser.add_argument("--backend", action="append", help="backend(s) to measure (default: all available)")
    args = parser.parse_args(argv)

    status = available_backends()
    chosen = args.backend or [name for name, text in status.items() if text.startswith("ok")]
    presets = args.preset or ["default", "seed-162d"]
    jobs = [(p, b) for p in presets for b in chosen]
    results = [
        bench_one(p, b, args.batch, args.repeats)
        for p, b in tqdm(jobs, desc="encoder bench", file=sys.stderr)
    ]

    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch}")
    print(f"{'preset':<10} {'backend':<10} {'forward pts/s':>15} {'fwd+bwd pts/s':>15}")
    for r in results:
        fwd, fwdbwd = r["fwd_pts_per_s"], r["fwdbwd_pts_per_s"]
        print(f"{r['preset']:<10} {r['backend']:<10} {fwd:>15,.0f} {fwdbwd:>15,.0f}")
    by_key = {(r["preset"], r["backend"]): r for r in results}
    for preset in presets:
        ref, cpu = by_key.get((preset, "reference")), by_key.get((preset, "cpu"))
        if ref and cpu:
            print(
                f"{preset}: cpu / reference = {cpu['fwd_pts_per_s'] / ref['fwd_pts_per_s']:.1f}x forward, "
                f"{cpu['fwdbwd_pts_per_s'] / ref['fwdbwd_pts_per_s']:.1f}x forward+backward"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
