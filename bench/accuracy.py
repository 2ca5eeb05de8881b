"""Accuracy benchmark: `train` with its defaults for a fixed time on several worlds, against kNN.

    python bench/accuracy.py                       # demo world seeds 42 and 7, and worldb; 5 min each
    python bench/accuracy.py --minutes 2 --worlds demo:42,worldb --json results.json

Nothing is tuned here: the training configuration is ``TrainConfig()``'s defaults (what `earth4d-gis
train` runs without flags) plus the time limit. Per world and held-out set it prints the mean cosine and
MAPE of the model, IDW kNN-16, kNN-4 and the mean vector, overall and per quintile of the distance to the
nearest training sample, with training time, samples/s, the model file size, and the minutes of
training until the model first beat kNN-16 on the validation split.

Worlds: ``demo:SEED`` (the built-in demo world, 200,000 samples; the trainer's own 5 % test split is
the held-out set) and ``worldb`` (``../shared/worlds/worldb.py`` beside the checkout, an independently
written world: 200,000 training samples, a held-out set at least 25 m from every training sample, and a
region set in 1-degree cells that hold no training sample). The worldb files are generated once into
``--cache``.
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from earth4d_gis.checkpoint import load_model_file
from earth4d_gis.data import make_demo_dataset
from earth4d_gis.data.samples import SampleSet
from earth4d_gis.geodesy import geodetic_to_ecef, normalized_coordinates
from earth4d_gis.train import TrainConfig, train
from earth4d_gis.train.baselines import knn_predict
from earth4d_gis.train.distance_bands import band_table, nearest_distance, worst_band_gap
from earth4d_gis.train.metrics import mape, mean_cosine
from earth4d_gis.train.splits import split_indices

log = logging.getLogger("bench.accuracy")

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_WORLDB = ROOT.parent / "shared" / "worlds" / "worldb.py"
PREDICTORS = ("model", "knn_16", "knn_4", "mean")


def _worldb_set(folder: Path, prefix: str) -> SampleSet:
    meta = pd.read_csv(folder / f"{prefix}metadata.csv")
    emb = torch.load(folder / f"{prefix}embeddings.pt", weights_only=True).float().numpy()
    return SampleSet(
        meta.latitude.to_numpy(),
        meta.longitude.to_numpy(),
        meta.elevation_m.to_numpy(),
        pd.to_datetime(meta.event_date).to_numpy().astype("datetime64[s]"),
        emb,
        source="worldb",
    )


def load_world(name: str, worldb: Path, cache: Path) -> tuple[SampleSet, dict[str, SampleSet]]:
    """Training samples and the external held-out sets (none for the demo world: its test split is used)."""
    if name.startswith("demo:"):
        return make_demo_dataset(200_000, seed=int(name.split(":", 1)[1])), {}
    if name != "worldb":
        raise SystemExit(f"unknown world {name!r}: use demo:SEED or worldb")
    folder = cache / "worldb-seed7-200000"
    if not (folder / "region_embeddings.pt").is_file():
        log.info("generating worldb into %s", folder)
        subprocess.run(
            [sys.executable, str(worldb), "dataset", "--n", "200000", "--out", str(folder), "--seed", "7"],
            check=True,
        )
    return _worldb_set(folder, ""), {
        "heldout": _worldb_set(folder, "heldout_"),
        "region": _worldb_set(folder, "region_"),
    }


def _predict(model_path: Path, s: SampleSet) -> np.ndarray:
    bundle = load_model_file(model_path)
    coords = normalized_coordinates(s.latitude, s.longitude, s.elevation, s.time, bundle.time_span)
    model = bundle.model.eval()
    with torch.no_grad():
        return np.concatenate(
            [model(torch.from_numpy(coords[i : i + 65536])).numpy() for i in range(0, len(coords), 65536)]
        )


def score_set(model_pred: np.ndarray, train: SampleSet, test: SampleSet) -> dict[str, Any]:
    """Overall and per-quintile cosine / MAPE of the model and the baselines on one held-out set."""
    train_xyz = geodetic_to_ecef(train.latitude, train.longitude, train.elevation)
    test_xyz = geodetic_to_ecef(test.latitude, test.longitude, test.elevation)
    preds = {
        "model": model_pred,
        "knn_16": knn_predict(train_xyz, train.embeddings, test_xyz, 16),
        "knn_4": knn_predict(train_xyz, train.embeddings, test_xyz, 4),
        "mean": np.broadcast_to(train.embeddings.mean(0, dtype=np.float64), test.embeddings.shape),
    }
    truth = test.embeddings
    rows = band_table(nearest_distance(train_xyz, test_xyz), truth, preds)
    return {
        "n": len(test),
        "overall": {k: {"cosine": mean_cosine(p, truth), "mape": mape(p, truth)} for k, p in preds.items()},
        "bands": rows,
        "worst_band_gap_vs_knn16": worst_band_gap(rows),
    }


def _minutes_to_beat_knn(history: dict[str, list[float]], knn_val_cosine: float) -> float | None:
    elapsed = 0.0
    for cos, seconds in zip(history["val_cosine"], history["seconds"], strict=True):
        elapsed += seconds
        if cos > knn_val_cosine:
            return elapsed / 60.0
    return None


def run_world(name: str, minutes: float, worldb: Path, cache: Path) -> dict[str, Any]:
    samples, external = load_world(name, worldb, cache)
    config = TrainConfig(
        time_limit=minutes * 60.0, visualize_every=0, make_video=False, prediction_samples=0, progress=False
    )
    split = split_indices(len(samples), config.train_split, config.validation_fraction, config.seed)
    part = samples.subset(split.training_part)
    knn_val = knn_predict(
        geodetic_to_ecef(
            samples.latitude[split.train], samples.longitude[split.train], samples.elevation[split.train]
        ),
        samples.embeddings[split.train],
        geodetic_to_ecef(
            samples.latitude[split.validation],
            samples.longitude[split.validation],
            samples.elevation[split.validation],
        ),
        16,
    )
    knn_val_cosine = mean_cosine(knn_val, samples.embeddings[split.validation])
    with tempfile.TemporaryDirectory() as tmp:
        config.output_dir = Path(tmp)
        started = time.perf_counter()
        result = train(config, samples)
        wall = time.perf_counter() - started
        sets = {"test split": samples.subset(split.test), **external}
        scores = {label: score_set(_predict(result.model_path, s), part, s) for label, s in sets.items()}
    return {
        "world": name,
        "minutes": minutes,
        "train_seconds": result.metrics["train_seconds"],
        "wall_seconds": wall,
        "epochs_run": result.metrics["epochs_run"],
        "samples_per_s": result.metrics["samples_per_second"],
        "model_file_mb": result.metrics["model_file_bytes"] / 1e6,
        "validation_knn16_cosine": knn_val_cosine,
        "minutes_to_beat_knn16_on_validation": _minutes_to_beat_knn(result.history, knn_val_cosine),
        "sets": scores,
    }


def _print(r: dict[str, Any]) -> None:
    beat = r["minutes_to_beat_knn16_on_validation"]
    print(
        f"\n== {r['world']}: {r['minutes']:g} min budget, {r['epochs_run']} epochs, "
        f"{r['samples_per_s']:,.0f} samples/s, model file {r['model_file_mb']:.1f} MB, "
        f"beat kNN-16 on validation after {'never' if beat is None else f'{beat:.1f} min'}"
    )
    for label, s in r["sets"].items():
        print(f"-- {label} ({s['n']:,} points)")
        print(f"{'':>24}" + "".join(f"{p:>16}" for p in PREDICTORS))
        print(
            f"{'all (cosine / MAPE %)':>24}"
            + "".join(
                f"{s['overall'][p]['cosine']:>9.4f} /{s['overall'][p]['mape']:>5.2f}" for p in PREDICTORS
            )
        )
        for row in s["bands"]:
            span = f"{row['from_m']:,.0f}-{row['to_m']:,.0f} m"
            print(
                f"{span:>24}"
                + "".join(f"{row[f'{p}_cosine']:>9.4f} /{row[f'{p}_mape']:>5.2f}" for p in PREDICTORS)
            )
        print(f"{'worst band vs kNN-16':>24} {s['worst_band_gap_vs_knn16']:+.4f} (positive: kNN-16 ahead)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=5.0, help="training time per world")
    parser.add_argument("--worlds", default="demo:42,demo:7,worldb", help="comma-separated worlds")
    parser.add_argument("--worldb", type=Path, default=DEFAULT_WORLDB, help="path of worldb.py")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "earth4d-bench")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    results = []
    for name in args.worlds.split(","):
        results.append(run_world(name.strip(), args.minutes, args.worldb, args.cache))
        _print(results[-1])
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
