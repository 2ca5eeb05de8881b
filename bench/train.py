"""Training benchmark: samples/s per preset and device, peak memory, model file size.

    python bench/train.py                          # speed of `default` on every available device
    python bench/train.py --presets default,seed-162d --devices cuda --json

Speed runs the real pipeline (``earth4d_gis.train.train``) with its default settings for a few epochs on
demo samples and reports the median training throughput of its epochs (evaluation excluded). Accuracy
is ``bench/accuracy.py``'s job.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from earth4d_gis.data import make_demo_dataset
from earth4d_gis.train import TrainConfig, train

log = logging.getLogger("bench.train")

def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def measure_speed(preset: str, device: str, samples: Any, batch_size: int, epochs: int) -> dict[str, Any]:
    """Train ``epochs`` epochs and report throughput, peak memory and the model file size."""
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    with tempfile.TemporaryDirectory() as tmp:
        config = TrainConfig(
            output_dir=Path(tmp),
            preset=preset,
            device=device,
            epochs=epochs,
            batch_size=batch_size,
            patience=0,
            visualize_every=0,
            make_video=False,
            prediction_samples=0,
            skip_nan_test=True,
            checkpoint_every=10_000,
            progress=False,
        )
        started = time.perf_counter()
        result = train(config, samples)
        wall = time.perf_counter() - started
    speeds = result.history["samples_per_s"]
    row = {
        "preset": preset,
        "device": device,
        "backend": result.metrics["encoder_backend"],
        "batch_size": batch_size,
        "samples_per_s": float(sorted(speeds)[len(speeds) // 2]),
        "samples_per_s_per_epoch": [round(s) for s in speeds],
        "model_file_mb": result.metrics["model_file_bytes"] / 1e6,
        "encoder_parameters": result.metrics["parameters"]["encoder"],
        "decoder_parameters": result.metrics["parameters"]["decoder"],
        "peak_host_rss_mb": _peak_rss_mb(),
        "wall_s": wall,
    }
    if device == "cuda":
        row["peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 1e6
    return row


def _print_speed(rows: list[dict[str, Any]]) -> None:
    print(
        f"{'preset':<10} {'device':<6} {'backend':<9} {'batch':>6} {'samples/s':>11} "
        f"{'file MB':>8} {'peak MB':>8}"
    )
    for r in rows:
        peak = r.get("peak_gpu_mb", r["peak_host_rss_mb"])
        print(
            f"{r['preset']:<10} {r['device']:<6} {r['backend']:<9} {r['batch_size']:>6} "
            f"{r['samples_per_s']:>11,.0f} {r['model_file_mb']:>8.1f} {peak:>8.0f}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default="default", help="comma-separated encoder presets")
    parser.add_argument(
        "--devices", default="auto", help="comma-separated: cpu, cuda, or auto (all available)"
    )
    parser.add_argument("--samples", type=int, default=200_000, help="demo samples")
    parser.add_argument("--batch-size", type=int, default=TrainConfig.batch_size)
    parser.add_argument("--epochs", type=int, default=3, help="epochs per speed measurement")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.json else logging.INFO, format="%(message)s")
    devices = (
        ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
        if args.devices == "auto"
        else args.devices.split(",")
    )
    samples = make_demo_dataset(args.samples, seed=args.seed)
    rows = [
        measure_speed(preset, device, samples, args.batch_size, args.epochs)
        for preset in args.presets.split(",")
        for device in devices
    ]
    summary = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "samples": args.samples,
        "runs": rows,
    }
    print(json.dumps(summary, indent=2)) if args.json else _print_speed(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
