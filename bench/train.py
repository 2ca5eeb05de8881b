"""Training benchmark: samples/s per preset and device, peak memory, model file size; and 5-minute accuracy.

    python bench/train.py                          # speed of `default` on every available device
    python bench/train.py --presets default,seed-162d --devices cuda --json
    python bench/train.py --accuracy --minutes 5   # demo world on CPU: test MAPE / cosine vs kNN

Speed runs the real pipeline (``earth4d_gis.train.train``) for a few epochs on demo samples and reports
the median training throughput of its epochs (evaluation excluded). The accuracy mode trains the
``default`` preset for a fixed wall-clock time and prints the test metrics next to the baselines.
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

import numpy as np
import torch
from scipy.spatial import cKDTree

from earth4d_gis.checkpoint import load_model_file
from earth4d_gis.data import DemoWorld, make_demo_dataset
from earth4d_gis.geodesy import geodetic_to_ecef, normalized_coordinates
from earth4d_gis.train import TrainConfig, train
from earth4d_gis.train.baselines import knn_predict
from earth4d_gis.train.metrics import cosine_per_sample
from earth4d_gis.train.splits import split_indices

log = logging.getLogger("bench.train")

ACCURACY_SETTINGS: dict[str, Any] = {
    "batch_size": 500,
    "learning_rate": 2e-3,
    "hidden": (256, 256),
    "cosine_weight": 1.0,
    "l1_weight": 3.0,
}
"""The settings the accuracy mode trains with (the recommended CPU settings for the demo world)."""


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


def measure_accuracy(minutes: float, n_samples: int, seed: int) -> dict[str, Any]:
    """Train ``default`` on the demo world on CPU for ``minutes``; test metrics and baselines."""
    world = DemoWorld()
    samples = make_demo_dataset(n_samples, seed=seed, world=world)
    with tempfile.TemporaryDirectory() as tmp:
        config = TrainConfig(
            output_dir=Path(tmp),
            preset="default",
            device="cpu",
            epochs=10_000,
            time_limit=minutes * 60.0,
            seed=seed,
            visualize_every=0,
            make_video=False,
            checkpoint_every=10_000,
            progress=False,
            **ACCURACY_SETTINGS,
        )
        result = train(config, samples)
        buckets = _distance_buckets(result.output_dir / "final_model.pt", samples, seed)
    m, b = result.metrics["model"], result.metrics["baselines"]
    best = b["best_knn"]
    return {
        "minutes": minutes,
        "samples": n_samples,
        "settings": ACCURACY_SETTINGS,
        "epochs_run": result.metrics["epochs_run"],
        "best_epoch": result.metrics["best_epoch"],
        "samples_per_s": result.metrics["samples_per_second"],
        "test": {"mape": m["mape"], "cosine": m["cosine"], "r2_mean": m["r2_mean"]},
        "baselines": {
            k: {"mape": v["mape"], "cosine": v["cosine"]} for k, v in b.items() if isinstance(v, dict)
        },
        "best_knn": best,
        "beats_best_knn": result.metrics["beats_best_knn"],
        "best_knn_mape": b.get("best_knn_mape"),
        "beats_best_knn_mape": result.metrics["beats_best_knn_mape"],
        "by_distance_to_nearest_training_sample": buckets,
        "verdict": result.metrics["verdict"],
    }


def _distance_buckets(model_path: Path, samples: Any, seed: int) -> list[dict[str, float]]:
    """Test cosine of the model and of kNN-16 per quintile of the distance to the nearest training sample."""
    split = split_indices(len(samples), 0.95, 0.05, seed)
    part, test = split.training_part, split.test
    train_xyz = geodetic_to_ecef(samples.latitude[part], samples.longitude[part], samples.elevation[part])
    test_xyz = geodetic_to_ecef(samples.latitude[test], samples.longitude[test], samples.elevation[test])
    nearest = cKDTree(train_xyz).query(test_xyz, k=1)[0]
    knn = knn_predict(train_xyz, samples.embeddings[part], test_xyz, 16)
    bundle = load_model_file(model_path)
    truth = samples.embeddings[test]
    coords = normalized_coordinates(
        samples.latitude[test],
        samples.longitude[test],
        samples.elevation[test],
        samples.time[test],
        bundle.time_span,
    )
    with torch.no_grad():
        pred = bundle.model(torch.from_numpy(coords)).numpy()
    model_cos, knn_cos = cosine_per_sample(pred, truth), cosine_per_sample(knn, truth)
    edges = np.quantile(nearest, np.linspace(0.0, 1.0, 6))
    rows = []
    for low, high in zip(edges[:-1], edges[1:], strict=True):
        inside = (nearest >= low) & (nearest <= high)
        rows.append(
            {
                "from_m": float(low),
                "to_m": float(high),
                "model_cosine": float(model_cos[inside].mean()),
                "knn16_cosine": float(knn_cos[inside].mean()),
            }
        )
    return rows


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


def _print_accuracy(acc: dict[str, Any]) -> None:
    print(
        f"demo world, {acc['samples']:,} samples, {acc['minutes']:g} min CPU training, "
        f"settings {acc['settings']}"
    )
    print(f"epochs {acc['epochs_run']} (best {acc['best_epoch']}), {acc['samples_per_s']:,.0f} samples/s")
    print(f"{'predictor':<10} {'MAPE %':>8} {'cosine':>8}")
    print(f"{'model':<10} {acc['test']['mape']:>8.3f} {acc['test']['cosine']:>8.4f}")
    for name, v in acc["baselines"].items():
        print(f"{name:<10} {v['mape']:>8.3f} {v['cosine']:>8.4f}")
    print(acc["verdict"])
    print("by distance from the test point to the nearest training sample (quintiles):")
    print(f"{'metres':>21} {'model':>8} {'kNN-16':>8}")
    for row in acc["by_distance_to_nearest_training_sample"]:
        span = f"{row['from_m']:,.0f} - {row['to_m']:,.0f}"
        print(f"{span:>21} {row['model_cosine']:>8.4f} {row['knn16_cosine']:>8.4f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default="default", help="comma-separated encoder presets")
    parser.add_argument(
        "--devices", default="auto", help="comma-separated: cpu, cuda, or auto (all available)"
    )
    parser.add_argument("--samples", type=int, default=200_000, help="demo samples")
    parser.add_argument("--batch-size", type=int, default=10_000)
    parser.add_argument("--epochs", type=int, default=3, help="epochs per speed measurement")
    parser.add_argument("--accuracy", action="store_true", help="run the timed accuracy benchmark instead")
    parser.add_argument("--minutes", type=float, default=5.0, help="training time of the accuracy benchmark")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.json else logging.INFO, format="%(message)s")
    if args.accuracy:
        acc = measure_accuracy(args.minutes, args.samples, args.seed)
        print(json.dumps({"accuracy": acc}, indent=2)) if args.json else _print_accuracy(acc)
        return 0
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
